// web/js/pages/search.js — the number search: what a number (dashes
// optional) belongs to. A flat or a handset opens its flat page straight
// away; anything else is explained.

import * as api from '../api.js';
import { h, link, notice } from '../dom.js';
import { cleanNumber } from '../numbers.js';

const idOf = (x) => (x && typeof x === 'object' ? x.id : x);

export async function render([raw], ctx) {
  const typed = decodeURIComponent(raw);
  const n = cleanNumber(typed);
  const head = [ctx.crumbs([['Complexes', '#/'], ['Find ' + typed]]), h('h1', { text: 'Find ' + typed })];
  if (!n) return h('section', { class: 'page' }, head,
    notice('error', 'A number has digits and optional dashes, e.g. 100-1101-1201 or 10011011201.'));
  let r;
  try {
    r = await api.get('/numbers/' + encodeURIComponent(n));
  } catch (e) {
    if (e.status !== 404 && e.status !== 422 && e.status !== 400) throw e;
    return h('section', { class: 'page' }, head, notice('error', e.status === 404
      ? `No flat or handset has the number ${typed}.` : e.message),
      h('p', { class: 'muted', text: 'Type the whole number: complex, building, flat and, for a handset, its number; dashes are optional.' }));
  }
  const flatId = idOf(r.flat);
  const hsId = idOf(r.handset);
  if (flatId) {
    ctx.go('#/flats/' + flatId + (hsId ? '?handset=' + hsId : ''), true);
    return h('p', { class: 'loading', text: 'Opening ' + (r.number || n) + '…' });
  }
  return h('section', { class: 'page' }, head,
    h('dl', { class: 'kv card' },
      h('dt', { text: 'Number' }), h('dd', null, h('code', { text: r.number || n })),
      idOf(r.building) && [h('dt', { text: 'Building' }), h('dd', null, link('#/buildings/' + idOf(r.building), 'open'))],
      idOf(r.site) && [h('dt', { text: 'Complex' }), h('dd', null, link('#/sites/' + idOf(r.site), 'open'))]));
}
