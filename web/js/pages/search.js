// web/js/pages/search.js — the number search: what a number (dashes
// optional) belongs to. A flat or a handset opens its flat page straight
// away. A short number that is no whole number (say 1201) is looked for among
// the flats of the building last looked at; anything else is explained.

import * as api from '../api.js';
import { h, link, notice, table } from '../dom.js';
import { recent } from '../recent.js';
import { cleanNumber } from '../numbers.js';
import { shownNumber } from './building.js';

const idOf = (x) => (x && typeof x === 'object' ? x.id : x);

export async function render([raw], ctx) {
  let typed;
  try { typed = decodeURIComponent(raw); } catch { typed = raw; }
  const n = cleanNumber(typed);
  const head = [ctx.crumbs([['Complexes', '#/'], ['Find ' + typed]]), h('h1', { text: 'Find ' + typed })];
  if (!n) return h('section', { class: 'page' }, head,
    notice('error', 'A number has digits and optional dashes, e.g. 100-1101-1201 or 10011011201.'));
  let r;
  try {
    r = await api.get('/numbers/' + encodeURIComponent(n));
  } catch (e) {
    if (e.status !== 404 && e.status !== 422 && e.status !== 400) throw e;
    const near = /^\d{1,9}$/.test(n) && recent.building ? await inBuilding(n, ctx) : null;
    if (near && near.open) return near.open;
    return h('section', { class: 'page' }, head,
      near ? near.node : [notice('error', e.status === 404
        ? `No flat or handset has the number ${typed}.` : e.message),
      h('p', { class: 'muted', text: 'Type the whole number: complex, building, flat and, for a handset, its number; dashes are optional.' })]);
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

// Flats of the building last looked at whose number starts with digits n:
// {open} (a page-moving node) when one has exactly that number, else {node}.
async function inBuilding(n, ctx) {
  const b = recent.building;
  let list;
  try {
    list = await api.get('/buildings/' + b.id + '/flats', { q: n, per_page: 20 });
  } catch {
    return null;
  }
  const exact = list.items.find((f) => String(f.number) === String(Number(n)));
  if (exact) {
    ctx.go('#/flats/' + exact.id, true);
    return { open: h('p', { class: 'loading', text: 'Opening flat ' + shownNumber(exact) + '…' }) };
  }
  return { node: [
    notice(list.total ? 'info' : 'error', list.total
      ? `No whole number ${n}; flats of building ${b.number} starting with ${n}:`
      : `No flat or handset has the number ${n}, nor does a flat of building ${b.number} start with it.`),
    list.total > 0 && table([
      { label: 'Flat', cell: (f) => link('#/flats/' + f.id, shownNumber(f), 'strong') },
      { label: 'Number', cell: (f) => h('code', { text: f.full_number || '' }) },
    ], list.items, { caption: 'Matching flats' }),
    list.total > list.items.length && h('p', { class: 'muted', text: `${list.total} in all; type more digits.` }),
  ] };
}
