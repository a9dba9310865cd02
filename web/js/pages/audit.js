// web/js/pages/audit.js — the audit log: who changed what and when, newest
// first, paginated and filtered server-side.

import * as api from '../api.js';
import { h, filterForm, listHash, pager, table, timeAt } from '../dom.js';

const PER_PAGE = 50;

function detail(d) {
  if (d === null || d === undefined || d === '') return '';
  const s = typeof d === 'string' ? d : JSON.stringify(d);
  return h('code', { class: 'detail', title: s, text: s.length > 160 ? s.slice(0, 157) + '…' : s });
}

export async function render(_params, ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const q = ctx.query.get('q') || '';
  const list = await api.get('/audit', { page, per_page: PER_PAGE, q });
  const filter = filterForm('Filter', q, (t) => ctx.go(listHash('#/audit', 1, t)));
  return h('section', { class: 'page' },
    ctx.crumbs([['Audit log']]),
    h('div', { class: 'title-row' }, h('h1', { text: 'Audit log' }), filter),
    table([
      { label: 'When', cell: (a) => timeAt(a.at), class: 'nowrap' },
      { label: 'Who', cell: (a) => h('strong', { text: String(a.actor ?? '') }) },
      { label: 'Action', cell: (a) => h('span', { class: 'action', text: String(a.action ?? '') }) },
      { label: 'Object', cell: (a) => h('code', { text: String(a.object ?? '') }) },
      { label: 'Detail', cell: (a) => detail(a.detail) },
    ], list.items, { class: 'audit', caption: 'Audit log', empty: q ? 'No entry matches.' : 'Nothing changed yet.' }),
    list.total > list.per_page && pager(list, (p) => ctx.go(listHash('#/audit', p, q)), 'entries'));
}
