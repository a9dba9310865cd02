// web/js/pages/flat_calls.js — what the gatekeeper knows of one flat, for
// its page: the gateway's SIP registration (registered or not, since when,
// from which address and port, user agent; GET /flats/{id}/gateway) and
// its recent calls (GET /flats/{id}/calls), each loading on its own so a
// slow or failing answer leaves the rest of the page alone. The call
// table's cells are shared with the Calls page (pages/calls.js).

import * as api from '../api.js';
import { h, link, notice, table, timeAgo, timeAt } from '../dom.js';

const RECENT = 10;

/** The flat page's parts: [registration card, recent calls section]. */
export function flatCalls(flat) {
  return [registration(flat), recentCalls(flat)];
}

function row(k, v) { return [h('dt', { text: k }), h('dd', null, v ?? h('span', { class: 'muted', text: '—' }))]; }

// Fills `box` with what fill(answer) makes once `load` resolves (its
// heading included); an error becomes a notice under the heading.
function later(box, load, fill) {
  box.append(h('p', { class: 'muted loading', text: 'Loading…' }));
  load.then((x) => box.replaceChildren(...[].concat(fill(x)).filter(Boolean)))
    .catch((e) => box.replaceChildren(box.firstChild, notice('error', e.message)));
  return box;
}

function registration(flat) {
  const head = h('h2', { id: 'h-reg', text: 'SIP registration' });
  const box = h('section', { class: 'card registration', 'aria-labelledby': 'h-reg' }, head);
  if (!flat.gateway) {
    box.append(h('p', { class: 'muted', text: 'No gateway yet: nothing can register.' }));
    return box;
  }
  return later(box, api.get('/flats/' + flat.id + '/gateway'), (g) => {
    const r = g && g.registration;
    const badge = h('span', { class: 'badge ' + (r ? 'ok' : 'off'), text: r ? 'registered' : 'not registered',
      title: r ? 'The gateway is registered with the gatekeeper.' : 'No live registration at the gatekeeper.' });
    if (!r) {
      return [head, badge, h('p', { class: 'muted', text: g.has_sip_credentials ? 'The gateway has not registered, '
        + 'or its registration expired.' : 'The gateway cannot register yet: give it new credentials once.' })];
    }
    return [head, badge, h('dl', { class: 'kv' },
      row('Since', timeAgo(r.since)),
      row('From', h('code', { text: r.source + ' (' + r.transport + ')' })),
      row('User agent', r.user_agent ? h('code', { text: r.user_agent }) : undefined),
      row('Expires', timeAt(r.expires_at)))];
  });
}

const OUTCOME = { caller: 'caller hung up', callee: 'callee hung up', timeout: 'timed out', media: 'media stopped' };

/** What became of call c, in words: "answered, 1 min 5 s · caller hung up",
 *  "486 · callee", "487 · caller hung up". */
export function outcome(c) {
  const by = OUTCOME[c.ended_by] || (c.ended_by ? c.ended_by : 'refused by the gatekeeper');
  if (c.answered_at) return `answered, ${duration(c.duration_s)} · ${by}`;
  return `${c.status}${c.reason ? ' ' + c.reason : ''} · ${by}`;
}

function duration(s) {
  const n = Math.round(Number(s) || 0);
  return n < 60 ? n + ' s' : Math.floor(n / 60) + ' min ' + (n % 60) + ' s';
}

const DIRECTION = { in: 'in', out: 'out', flat: 'flat to flat' };

/** The columns of a call table (the flat page and the Calls page). */
export function callColumns() {
  return [
    { label: 'Started', cell: (c) => timeAt(c.started_at) },
    { label: 'Direction', cell: (c) => DIRECTION[c.direction] || c.direction },
    { label: 'From', cell: (c) => h('code', { text: c.caller || '—' }) },
    { label: 'To', cell: (c) => h('code', { text: c.callee || '—' }) },
    { label: 'Answered by', cell: (c) => c.answered_by ? h('code', { text: c.answered_by })
      : h('span', { class: 'muted', text: '—' }) },
    { label: 'Outcome', cell: (c) => h('span', { class: 'badge ' + (c.answered_at ? 'ok' : 'off'), text: outcome(c) }) },
  ];
}

function recentCalls(flat) {
  const head = h('h2', { id: 'h-calls', text: 'Recent calls' });
  const box = h('section', { class: 'sub recent-calls', 'aria-labelledby': 'h-calls' }, head);
  return later(box, api.get('/flats/' + flat.id + '/calls', { limit: RECENT }), (list) => [head,
    table(callColumns(), list.items, { class: 'calls', caption: 'Recent calls', empty: 'No calls yet.' }),
    list.next_cursor && h('p', null, link(`#/flats/${flat.id}/calls`, 'Older calls of this flat'))]);
}
