// web/js/pages/calls.js — the call records of a complex (#/sites/3/calls)
// or of one flat (#/flats/12/calls), newest first, a page at a time
// (cursor paging: "Older calls" walks back, "Newest" returns), filtered by
// a number (caller, callee or the answering handset; dashes optional) and
// by outcome. The filters live in the hash, so a filtered page can be
// bookmarked and Back returns to the newer page.

import * as api from '../api.js';
import { h, link, nextId, notice, table } from '../dom.js';
import { cleanNumber } from '../numbers.js';
import { callColumns } from './flat_calls.js';

const PER_PAGE = 50;

export const siteCalls = { render: (params, ctx) => render(params, ctx, 'sites') };
export const flatCalls = { render: (params, ctx) => render(params, ctx, 'flats') };

async function render([id], ctx, kind) {
  const q = { number: ctx.query.get('number') || '', status: ctx.query.get('status') || '',
    cursor: ctx.query.get('cursor') || '' };
  const base = `#/${kind}/${id}/calls`;
  const [owner, list] = await Promise.all([
    api.get(`/${kind}/${id}`),
    api.get(`/${kind}/${id}/calls`, { limit: PER_PAGE, number: cleanNumber(q.number) || q.number,
      status: q.status, cursor: q.cursor }).catch((e) => e),
  ]);
  const title = kind === 'sites' ? `Calls of complex ${owner.number}`
    : `Calls of flat ${owner.full_number || owner.number}`;
  const back = kind === 'sites' ? ['Complex ' + owner.number, '#/sites/' + id]
    : ['Flat ' + (owner.full_number || owner.number), '#/flats/' + id];
  return h('section', { class: 'page calls' },
    ctx.crumbs([['Complexes', '#/'], back, ['Calls']]),
    h('div', { class: 'title-row' }, h('h1', { text: title })),
    filters(q, (v) => ctx.go(hashOf(base, v))),
    list instanceof Error ? notice('error', list.message) : page(list, q, base, title));
}

function page(list, q, base, title) {
  return [
    table(callColumns(), list.items, { class: 'calls', caption: title,
      empty: q.number || q.status ? 'No call matches.' : 'No calls yet.' }),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      q.cursor && link(hashOf(base, { ...q, cursor: '' }), 'Newest calls', 'button'),
      list.next_cursor && link(hashOf(base, { ...q, cursor: list.next_cursor }), 'Older calls ›', 'button'))];
}

function hashOf(base, v) {
  const p = new URLSearchParams();
  for (const k of ['number', 'status', 'cursor']) if (v[k]) p.set(k, v[k]);
  const s = p.toString();
  return s ? base + '?' + s : base;
}

function filters(q, go) {
  const nid = nextId('calls-number'), sid = nextId('calls-status');
  const f = h('form', { class: 'filter', role: 'search', 'aria-label': 'Filter calls' },
    h('label', { for: nid, text: 'Number' }),
    h('input', { id: nid, name: 'number', type: 'search', value: q.number, inputmode: 'numeric',
      autocomplete: 'off', placeholder: '100-1101-1201' }),
    h('label', { for: sid, text: 'Outcome' }),
    h('select', { id: sid, name: 'status' },
      [['', 'all'], ['answered', 'answered'], ['unanswered', 'not answered']].map(([v, t]) =>
        h('option', { value: v, text: t, selected: v === q.status }))),
    h('button', { type: 'submit', text: 'Filter' }));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go({ number: f.elements.number.value.trim(), status: f.elements.status.value });
  });
  return f;
}
