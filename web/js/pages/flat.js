// web/js/pages/flat.js — one flat: its block, gateway (registered or not,
// since when, from where; credentials), handsets (registered, last seen,
// address; add, remove, new credentials), recent calls, and deletion.
// Secrets the API hands out once are shown once, with copy buttons.

import * as api from '../api.js';
import { sawBuilding } from '../recent.js';
import { h, confirmDialog, copyButton, field, form, intOr, notice, table, timeAgo } from '../dom.js';

// A secret to show on the next render of one flat, then forget.
let flash = null;

const pick = (o, ...names) => {
  for (const n of names) if (o && o[n] !== undefined && o[n] !== null) return o[n];
  return undefined;
};

export async function render([id], ctx) {
  const flat = await api.get('/flats/' + id);
  const b = await api.get('/buildings/' + flat.building_id).catch(() => null);
  const site = b && await api.get('/sites/' + b.site_id).catch(() => null);
  sawBuilding(b);
  const shown = flash && flash.flatId === String(id) ? flash.node : null;
  flash = null;
  const title = 'Flat ' + flat.number;
  return h('section', { class: 'page flat' },
    ctx.crumbs([['Complexes', '#/'],
      site ? ['Complex ' + site.number, '#/sites/' + site.id] : ['Complex'],
      b ? ['Building ' + b.number, '#/buildings/' + b.id] : ['Building'], [title]]),
    h('div', { class: 'title-row' },
      h('h1', null, title, h('code', { class: 'sub-title number', text: flat.full_number || '' }))),
    shown,
    h('div', { class: 'cards' }, blockCard(flat), gatewayCard(flat, ctx)),
    handsets(flat, ctx),
    calls(flat),
    h('div', { class: 'split' }, editFlat(flat, ctx), danger(flat, b, ctx)));
}

function row(k, v) { return [h('dt', { text: k }), h('dd', null, v ?? h('span', { class: 'muted', text: '—' }))]; }

function blockCard(flat) {
  const bl = flat.block;
  return h('section', { class: 'card', 'aria-labelledby': 'h-block' },
    h('h2', { id: 'h-block', text: 'Address block' }),
    bl ? h('dl', { class: 'kv' },
      row('Addresses', h('code', { text: `${bl.first} – ${bl.last}` })),
      row('Size', String(bl.size ?? '')),
      row('Circuit id', h('code', { text: flat.circuit_id || '' })))
      : [h('p', { class: 'muted', text: 'No block yet: one is allotted when the gateway first asks for addresses.' }),
        h('dl', { class: 'kv' }, row('Circuit id', h('code', { text: flat.circuit_id || '' })))]);
}

function registeredBadge(on) {
  return h('span', { class: 'badge ' + (on ? 'ok' : 'off'), text: on ? 'registered' : 'not registered' });
}

// The assignment (address, online, last_seen) of the gateway or a handset.
function gatewayAssignment(flat) {
  return (flat.assignments || []).find((a) => a.device === 'gateway');
}

function handsetAssignment(flat, hs) {
  return (flat.assignments || []).find((a) => (a.handset_id !== undefined && a.handset_id === hs.id)
    || (hs.mac && a.mac && a.mac.toLowerCase() === hs.mac.toLowerCase()));
}

function gatewayCard(flat, ctx) {
  const g = flat.gateway;
  const ga = g && { ...gatewayAssignment(flat), ...g };
  const err = h('p', { class: 'form-error', role: 'alert' });
  const creds = h('button', { type: 'button', text: g ? 'New gateway credentials' : 'Create gateway credentials' });
  creds.addEventListener('click', async () => {
    if (g && !await confirmDialog('Replace the gateway\'s credentials? The box must be given the new ones.', 'Replace')) return;
    try {
      const c = await api.put('/flats/' + flat.id + '/gateway');
      flash = { flatId: String(flat.id), node: secretPanel('Gateway credentials',
        [['User name', c.username], ['Secret', c.secret]]) };
      ctx.reload();
    } catch (e) { err.textContent = e.message; }
  });
  const remove = g && h('button', { type: 'button', class: 'danger', text: 'Delete gateway and block' });
  if (remove) remove.addEventListener('click', async () => {
    if (!await confirmDialog('Delete the gateway? Its whole block returns to the pool and every handset loses its address.')) return;
    try { await api.del('/flats/' + flat.id + '/gateway'); ctx.reload(); } catch (e) { err.textContent = e.message; }
  });
  const on = !!pick(ga, 'registered', 'online');
  return h('section', { class: 'card', 'aria-labelledby': 'h-gw' },
    h('div', { class: 'title-row' }, h('h2', { id: 'h-gw', text: 'Gateway' }), g && registeredBadge(on)),
    g ? h('dl', { class: 'kv' },
      row(on ? 'Registered since' : 'Last seen',
        timeAgo(pick(ga, on ? 'registered_since' : 'last_seen', 'since', 'last_seen'))),
      row('From', pick(ga, 'source', 'contact', 'from', 'address') !== undefined
        ? h('code', { text: String(pick(ga, 'source', 'contact', 'from', 'address')) })
        : h('span', { class: 'muted', text: 'no address yet' })),
      row('MAC', g.mac ? h('code', { text: g.mac }) : undefined),
      row('User name', g.username ? h('code', { text: g.username }) : undefined))
      : h('p', { class: 'muted', text: 'No gateway yet. Create its credentials and give them to the installer.' }),
    h('div', { class: 'actions' }, creds, remove), err);
}

function handsetAddress(flat, hs) {
  if (hs.address) return hs.address;
  const a = handsetAssignment(flat, hs);
  return a && a.address;
}

const handsetNumber = (x) => x.number || x.full_number || 'handset ' + x.suffix;

function handsets(flat, ctx) {
  const list = flat.handsets || [];
  const focus = ctx.query.get('handset');
  const t = table([
    { label: 'Handset', cell: (x) => h('strong', { text: String(x.suffix) }) },
    { label: 'Number', cell: (x) => h('code', { text: handsetNumber(x) }) },
    { label: 'State', cell: (x) => registeredBadge(!!pick(x, 'registered', 'online')) },
    { label: 'Last seen', cell: (x) => timeAgo(x.last_seen || handsetAssignment(flat, x)?.last_seen) },
    { label: 'Address', cell: (x) => { const a = handsetAddress(flat, x); return a ? h('code', { text: a }) : h('span', { class: 'muted', text: 'none' }); } },
    { label: 'MAC', cell: (x) => x.mac ? h('code', { text: x.mac }) : h('span', { class: 'muted', text: 'not learnt' }) },
    { label: 'Actions', cell: (x) => handsetActions(flat, x, ctx), class: 'row-actions' },
  ], list, { class: 'handsets', caption: 'Handsets', empty: 'No handset yet.',
    rowClass: (x) => (String(x.id) === focus ? 'highlight' : null) });
  return h('section', { class: 'sub', 'aria-labelledby': 'h-hs' },
    h('h2', { id: 'h-hs', text: `Handsets (${list.length})` }), t, addHandset(flat, ctx));
}

function handsetActions(flat, x, ctx) {
  const name = handsetNumber(x);
  const regen = h('button', { type: 'button', class: 'small', text: 'New credentials', 'aria-label': 'New credentials for ' + name });
  const del = h('button', { type: 'button', class: 'small danger', text: 'Remove', 'aria-label': 'Remove ' + name });
  regen.addEventListener('click', async () => {
    if (!await confirmDialog(`Replace the SIP credentials of ${name}? The handset must be given the new ones.`, 'Replace')) return;
    try {
      const c = await api.post('/handsets/' + x.id + '/credentials');
      flash = { flatId: String(flat.id), node: sipPanel(name, c) };
      ctx.reload();
    } catch (e) { alertIn(regen, e); }
  });
  del.addEventListener('click', async () => {
    if (!await confirmDialog(`Remove ${name}? Its address becomes free.`, 'Remove')) return;
    try { await api.del('/handsets/' + x.id); ctx.reload(); } catch (e) { alertIn(del, e); }
  });
  return h('div', { class: 'actions' }, regen, del);
}

// Shows e under the row's buttons, replacing an earlier message there.
function alertIn(el, e) {
  const box = el.parentElement;
  if (box.nextElementSibling?.classList.contains('form-error')) box.nextElementSibling.remove();
  box.after(h('p', { class: 'form-error', role: 'alert', text: e.message }));
}

function sipPanel(name, c) {
  return secretPanel('SIP credentials of ' + name, [
    ['SIP user name', pick(c, 'sip_username', 'username')],
    ['SIP password', pick(c, 'sip_password', 'password')]]);
}

function addHandset(flat, ctx) {
  const f = form({ class: 'inline-form', 'aria-label': 'Add a handset' }, [
    field({ name: 'suffix', label: 'Handset number (optional)', type: 'number', min: 1,
      hint: 'Empty: the next free one.' }),
    field({ name: 'mac', label: 'MAC (optional)', placeholder: 'aa:bb:cc:dd:ee:ff',
      hint: 'Empty: learnt when the handset first asks for an address.' }),
  ], async (v) => {
    const body = {};
    if (v.suffix) body.suffix = /^\d+$/.test(v.suffix) ? Number(v.suffix) : v.suffix;
    if (v.mac) body.mac = v.mac;
    const x = await api.post('/flats/' + flat.id + '/handsets', body);
    flash = { flatId: String(flat.id), node: sipPanel(handsetNumber(x), x) };
    ctx.reload();
  }, 'Add handset');
  return f;
}

/** A panel with secrets shown once: read-only fields with copy buttons, and
 *  a button to dismiss it. */
function secretPanel(title, pairs) {
  const panel = h('section', { class: 'card secret', role: 'status', 'aria-labelledby': 'h-secret' },
    h('h2', { id: 'h-secret', text: title }),
    notice('warn', 'Shown once: copy them now. They cannot be shown again, only replaced.'),
    h('dl', { class: 'kv' }, pairs.map(([k, v]) => {
      const id = 'secret-' + k.toLowerCase().replace(/\W+/g, '-');
      const input = h('input', { id, readonly: true, value: v ?? '', class: 'mono', spellcheck: 'false',
        dataset: k === pairs[0][0] ? { autofocus: '' } : undefined });
      return [h('dt', null, h('label', { for: id, text: k })),
        h('dd', null, input, copyButton(() => input.value, 'Copy ' + k.replace(/^SIP /, '').toLowerCase()))];
    })));
  const done = h('button', { type: 'button', class: 'primary', text: 'I have copied them' });
  done.addEventListener('click', () => panel.remove());
  panel.append(h('div', { class: 'actions' }, done));
  return panel;
}

function calls(flat) {
  const list = Array.isArray(flat.calls) ? flat.calls : [];
  return h('section', { class: 'sub', 'aria-labelledby': 'h-calls' },
    h('h2', { id: 'h-calls', text: 'Recent calls' }),
    table([
      { label: 'When', cell: (c) => timeAgo(pick(c, 'start', 'started_at', 'at')) },
      { label: 'From', cell: (c) => h('code', { text: String(pick(c, 'from', 'caller') ?? '') }) },
      { label: 'To', cell: (c) => h('code', { text: String(pick(c, 'to', 'callee') ?? '') }) },
      { label: 'Result', cell: (c) => String(pick(c, 'result', 'status') ?? '') },
      { label: 'Duration', cell: (c) => pick(c, 'duration') !== undefined ? c.duration + ' s' : '', class: 'num' },
    ], list, { caption: 'Recent calls', empty: 'No calls yet.' }));
}

function editFlat(flat, ctx) {
  const f = form({ class: 'inline-form', 'aria-label': 'Change the flat' }, [
    field({ name: 'number', label: 'Flat number', value: flat.number, inputmode: 'numeric', required: true }),
    field({ name: 'circuit_id', label: 'Circuit id', value: flat.circuit_id || '', required: true }),
  ], async (v) => {
    await api.patch('/flats/' + flat.id, { number: intOr(v.number), circuit_id: v.circuit_id });
    ctx.reload();
  }, 'Save changes');
  return h('section', { class: 'sub', 'aria-labelledby': 'h-edit-flat' },
    h('h2', { id: 'h-edit-flat', text: 'Change' }), f);
}

function danger(flat, b, ctx) {
  const out = h('p', { class: 'form-error', role: 'alert' });
  const btn = h('button', { type: 'button', class: 'danger', text: 'Delete flat' });
  btn.addEventListener('click', async () => {
    const blk = flat.block ? ` Its block ${flat.block.first} – ${flat.block.last} returns to the pool.` : '';
    if (!await confirmDialog(`Delete flat ${flat.number} with its gateway and handsets?${blk}`)) return;
    try {
      await api.del('/flats/' + flat.id);
      ctx.go(b ? '#/sites/' + b.site_id : '#/');
    } catch (e) { out.textContent = e.message; }
  });
  return h('section', { class: 'sub danger-zone', 'aria-labelledby': 'h-danger' },
    h('h2', { id: 'h-danger', text: 'Remove' }), btn, out);
}
