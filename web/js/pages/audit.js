// web/js/pages/audit.js — the audit log: who changed what and when, newest
// first, paginated and filtered server-side (by user, kind of object, one
// object's history, or any text). Each row says which object (with a link
// to it while it exists), what happened in words, and which fields changed
// from what to what; the row's whole record stays one click away.

import * as api from '../api.js';
import { h, link, listHash, nextId, pager, table, timeAt } from '../dom.js';

const PER_PAGE = 50;

const KINDS = [['', 'Any object'], ['site', 'Complexes'], ['pool', 'Pools'], ['building', 'Buildings'],
  ['flat', 'Flats'], ['gateway', 'Gateways'], ['handset', 'Handsets'], ['user', 'Users'],
  ['session', 'Log-ins']];

const NOUN = { site: 'complex', pool: 'pool', building: 'building', flat: 'flat', gateway: 'gateway',
  handset: 'handset', user: 'user', session: 'session' };

// What an action did, in words (the action itself stays in the row's title).
const VERB = {
  create: 'created', update: 'changed', delete: 'deleted', credentials: 'new credentials',
  'broker.allocate': 'block allotted to its gateway', 'broker.enrol': 'enrolled by its first DHCP request',
  'broker.gateway_mac': 'gateway MAC learnt', 'broker.extend': 'block extended', 'broker.move': 'block moved',
  'broker.add_handset': 'handset given an address', 'broker.delete_handset': 'handset address freed',
  'broker.delete_gateway': 'gateway and block deleted', 'broker.report': 'gateway reported differences',
  login: 'logged in', logout: 'logged out',
};

// A handset request that enrolled its device writes one row for both
// (schema 105): the enrolment is said in the words.
function verb(a) {
  const d = a.detail || {};
  if (a.action === 'broker.add_handset' && d.enrolled === true) {
    return d.filled === true ? 'MAC learnt and given an address' : 'enrolled and given an address';
  }
  return VERB[a.action] || VERB[String(a.action).split('.').pop()] || String(a.action);
}

// A JSON value as an operator reads it.
function val(v) {
  if (v === null || v === undefined) return 'none';
  if (v === '') return '(empty)';
  if (typeof v === 'object') {
    if (v.first && v.last) return `${v.first} – ${v.last}`;
    return JSON.stringify(v);
  }
  return String(v);
}

const FIELD = { circuit_id: 'circuit id', full_number: 'full number', block_size: 'block size',
  max_block_size: 'largest block', mac: 'MAC', sip_username: 'SIP user name', has_credentials: 'credentials' };
const fieldName = (k) => FIELD[k] || k.replace(/_/g, ' ');

// The fields worth a line for a row without a comparison.
const SKIP = new Set(['id', 'site_id', 'building_id', 'flat_id', 'gateway_id', 'created_at', 'widths',
  'enrolled']);

/** What the row changed: "name: (empty) → North tower" lines for a
 *  change, the object's main facts otherwise. */
function changes(a) {
  if (Array.isArray(a.changed)) {
    if (!a.changed.length) return h('span', { class: 'muted', text: 'nothing changed' });
    return h('ul', { class: 'changes' }, a.changed.map((c) => h('li', null,
      h('span', { class: 'k', text: fieldName(c.field) + ': ' }),
      h('del', { text: val(c.from) }), ' → ', h('ins', { text: val(c.to) }))));
  }
  const d = a.detail && typeof a.detail === 'object' && !Array.isArray(a.detail) ? a.detail : {};
  const facts = Object.entries(d).filter(([k, v]) => !SKIP.has(k) && v !== null && v !== '')
    .slice(0, 5).map(([k, v]) => h('li', null, h('span', { class: 'k', text: fieldName(k) + ': ' }), val(v)));
  const pre = String(a.action).endsWith('.update') ? h('li', { class: 'muted', text: 'now (no earlier record to compare):' }) : null;
  return facts.length ? h('ul', { class: 'changes' }, pre, facts) : '';
}

/** The whole record, folded. */
function record(a) {
  return h('details', { class: 'record' }, h('summary', { text: 'Record' }),
    h('pre', { text: JSON.stringify({ action: a.action, object: a.object, detail: a.detail }, null, 1) }));
}

// A link to the object while the admin has a page for it.
function objectHref(a) {
  const d = a.detail || {};
  const flatOf = d.flat_id;
  if (a.action.endsWith('.delete') || a.action === 'broker.delete_gateway') return null;
  if (a.kind === 'flat' && a.object_id) return '#/flats/' + a.object_id;
  if ((a.kind === 'handset' || a.kind === 'gateway') && flatOf) return '#/flats/' + flatOf;
  if (a.kind === 'building' && a.object_id) return '#/buildings/' + a.object_id;
  if ((a.kind === 'site') && a.object_id) return '#/sites/' + a.object_id;
  if (a.kind === 'pool' && d.site_id) return '#/sites/' + d.site_id;
  return null;
}

function objectCell(a, only) {
  const noun = NOUN[a.kind] || a.kind || '';
  const label = a.label || (a.object_id ? '#' + a.object_id : '');
  const href = objectHref(a);
  const hist = a.object_id && !only && h('a', {
    class: 'small-link', href: listHash('#/audit', 1, '', { kind: a.kind, object_id: a.object_id }),
    text: 'history', 'aria-label': `History of ${noun} ${label}` });
  return h('span', { class: 'object' }, h('span', { class: 'muted', text: noun + ' ' }),
    href ? link(href, label, 'strong') : h('strong', { text: label }), hist && ' ', hist);
}

function whoText(actor) {
  const [kind, name] = String(actor ?? '').split(/:(.*)/s);
  if (name === undefined) return h('strong', { text: kind });
  return h('span', null, h('strong', { text: name }),
    kind !== 'user' && h('span', { class: 'muted', text: ' (' + kind + ')' }));
}

// The filter form: user, kind of object, text; an object's history shows
// as a removable condition.
function filters(f, users, ctx) {
  const go = (next) => ctx.go(listHash('#/audit', 1, next.q, { actor: next.actor, kind: next.kind,
    object_id: next.object_id }));
  const sel = (name, label, options, value) => {
    const id = nextId('af');
    const s = h('select', { id, name }, options.map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
    s.addEventListener('change', () => go({ ...f, [name]: s.value, object_id: name === 'kind' ? '' : f.object_id }));
    return h('span', { class: 'filter' }, h('label', { for: id, text: label }), s);
  };
  const who = [['', 'Anyone'], ...users.map((u) => ['user:' + u, u]), ['gateway:', 'Gateways'],
    ['cli', 'Command line']];
  if (f.actor && !who.some(([v]) => v === f.actor)) who.push([f.actor, f.actor]);
  const qid = nextId('aq');
  const text = h('form', { class: 'filter', role: 'search' },
    h('label', { for: qid, text: 'Filter' }),
    h('input', { id: qid, name: 'q', type: 'search', value: f.q, autocomplete: 'off' }),
    h('button', { type: 'submit', text: 'Filter' }));
  text.addEventListener('submit', (ev) => { ev.preventDefault(); go({ ...f, q: text.elements.q.value.trim() }); });
  return h('div', { class: 'audit-filters' }, sel('actor', 'Who', who, f.actor),
    sel('kind', 'Object', KINDS, f.kind), text);
}

export async function render(_params, ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const f = { q: ctx.query.get('q') || '', actor: ctx.query.get('actor') || '',
    kind: ctx.query.get('kind') || '', object_id: ctx.query.get('object_id') || '' };
  const [list, users] = await Promise.all([
    api.get('/audit', { page, per_page: PER_PAGE, ...f }),
    api.get('/users', { per_page: 500 }).then((u) => u.items.map((x) => x.username), () => []),
  ]);
  const only = f.object_id && list.items[0];
  return h('section', { class: 'page' },
    ctx.crumbs([['Audit log']]),
    h('div', { class: 'title-row' }, h('h1', { text: 'Audit log' }), filters(f, users, ctx)),
    f.object_id && h('p', { class: 'notice info' },
      `History of ${NOUN[f.kind] || f.kind} ${only ? only.label || '#' + f.object_id : '#' + f.object_id}. `,
      link(listHash('#/audit', 1, f.q, { actor: f.actor, kind: f.kind }), 'Show every ' + (NOUN[f.kind] || 'object'))),
    table([
      { label: 'When', cell: (a) => timeAt(a.at), class: 'nowrap' },
      { label: 'Who', cell: (a) => whoText(a.actor) },
      { label: 'What', cell: (a) => h('span', { class: 'action', title: a.action, text: verb(a) }) },
      { label: 'Object', cell: (a) => objectCell(a, f.object_id) },
      { label: 'Changes', cell: (a) => h('div', null, changes(a), record(a)), class: 'changes-cell' },
    ], list.items, { class: 'audit', caption: 'Audit log',
      empty: f.q || f.actor || f.kind ? 'No entry matches.' : 'Nothing changed yet.' }),
    list.total > list.per_page && pager(list, (p) => ctx.go(listHash('#/audit', p, f.q,
      { actor: f.actor, kind: f.kind, object_id: f.object_id })), 'entries'));
}
