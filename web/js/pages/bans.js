// web/js/pages/bans.js — the gatekeepers' bans in force (operators only),
// per complex: which source (and, for a lockout, which gateway user name at
// that source), why, since and until when, how many requests were dropped
// under it; "Lift" removes one (mgmtd tells the gatekeeper, which lets the
// source in again at once).

import * as api from '../api.js';
import { h, confirmDialog, notice, table, timeAgo, timeAt } from '../dom.js';

const MAX_SITES = 50;
const PER_SITE = 200;

const REASON = { flood: 'too many requests', auth: 'many wrong passwords', scanner: 'SIP scanner',
  lockout: 'wrong passwords for this user' };

export async function render(_params, ctx) {
  if (!ctx.isOperator) return h('section', { class: 'page' }, h('h1', { text: 'Bans' }),
    notice('error', 'Only operators see bans.'));
  const sites = (await api.get('/sites', { per_page: MAX_SITES })).items;
  const lists = await Promise.all(sites.map((s) =>
    api.get(`/sites/${s.id}/bans`, { per_page: PER_SITE }).then((l) => [s, l])));
  return h('section', { class: 'page' },
    ctx.crumbs([['Bans']]),
    h('h1', { text: 'Bans' }),
    h('p', { class: 'muted', text: 'Sources the gatekeepers drop for a while: floods, password guessing, '
      + 'scanners. A lockout holds one gateway user name at one source only.' }),
    lists.map(([s, l]) => siteBans(s, l, ctx)));
}

function siteBans(s, list, ctx) {
  return h('section', { class: 'sub' },
    h('h2', { text: `Complex ${s.number}${s.name ? ' · ' + s.name : ''}` }),
    table([
      { label: 'Source', cell: (b) => h('code', { text: b.source }) },
      { label: 'User', cell: (b) => b.username || h('span', { class: 'muted', text: 'any' }) },
      { label: 'Why', cell: (b) => h('span', { title: b.reason, text: REASON[b.reason] || b.reason }) },
      { label: 'Since', cell: (b) => timeAgo(b.since) },
      { label: 'Until', cell: (b) => timeAt(b.until) },
      { label: 'Dropped', class: 'num', cell: (b) => String(b.hits) },
      { label: 'Actions', class: 'row-actions', cell: (b) => liftButton(s, b, ctx) },
    ], list.items, { class: 'bans', caption: `Bans of complex ${s.number}`, empty: 'No bans in force.' }),
    list.total > list.items.length && notice('info', `${list.items.length} of ${list.total} shown.`));
}

function liftButton(s, b, ctx) {
  const who = b.source + (b.username ? ' ' + b.username : '');
  const btn = h('button', { type: 'button', class: 'small', text: 'Lift', 'aria-label': 'Lift the ban of ' + who });
  btn.addEventListener('click', async () => {
    if (!await confirmDialog(`Lift the ban of ${who}? It may send requests again at once.`, 'Lift')) return;
    try { await api.del(`/sites/${s.id}/bans/${b.id}`); ctx.reload(); } catch (e) {
      btn.after(h('span', { class: 'form-error', role: 'alert', text: ' ' + e.message }));
    }
  });
  return btn;
}
