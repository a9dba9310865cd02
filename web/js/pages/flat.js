// web/js/pages/flat.js — one flat: its block, gateway (address in use or
// not per DHCP, since when, from where; credentials), handsets (address in
// use, last seen, address, SIP credentials or none yet; add, remove, new
// credentials), the gateway's SIP registration and recent calls
// (flat_calls.js), its audit history, and deletion. Secrets the API hands
// out once are shown once, with copy buttons. The address badges say "in
// use" (a DHCP lease); the SIP registration has its own card.

import * as api from '../api.js';
import { sawBuilding } from '../recent.js';
import { flatWords, shownNumber } from './building.js';
import { flatCalls } from './flat_calls.js';
import { flatSettings } from './flat_settings.js';
import { h, confirmDialog, copyButton, field, form, intOr, link, notice, plural, table, timeAgo } from '../dom.js';

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
  const title = 'Flat ' + shownNumber(flat);
  return h('section', { class: 'page flat' },
    ctx.crumbs([['Complexes', '#/'],
      site ? ['Complex ' + site.number, '#/sites/' + site.id] : ['Complex'],
      b ? ['Building ' + b.number, '#/buildings/' + b.id] : ['Building'], [title]]),
    h('div', { class: 'title-row' },
      h('h1', { dataset: { title: title + ' · ' + (flat.full_number || '') } }, title,
        h('code', { class: 'sub-title number', text: flat.full_number || '' })),
      ctx.isOperator && link(`#/audit?kind=flat&object_id=${flat.id}`, 'History of this flat', 'history')),
    shown,
    h('div', { class: 'cards' }, blockCard(flat), gatewayCard(flat, ctx)),
    handsets(flat, site, ctx),
    flatSettings(flat, ctx),
    flatCalls(flat),
    h('div', { class: 'split' }, editFlat(flat, site, ctx), danger(flat, b, ctx)));
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

// In use: the device holds its address (a DHCP lease). SIP registration
// gets its own badge once mgmtd knows it.
function inUseBadge(on) {
  return h('span', { class: 'badge ' + (on ? 'ok' : 'off'), text: on ? 'in use' : 'not in use',
    title: on ? 'The address is leased (DHCP).' : 'No DHCP lease on the address.' });
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
    h('div', { class: 'title-row' }, h('h2', { id: 'h-gw', text: 'Gateway' }), g && inUseBadge(on)),
    g ? h('dl', { class: 'kv' },
      row(on ? 'Lease seen' : 'Last seen',
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

function credentialsCell(x) {
  return x.has_credentials ? h('span', { text: 'yes' })
    : h('span', { class: 'badge warn', text: 'none yet', title: 'Enrolled by its first DHCP request: '
      + 'give it credentials with New credentials.' });
}

function handsets(flat, site, ctx) {
  const list = flat.handsets || [];
  const focus = ctx.query.get('handset');
  const missing = list.filter((x) => !x.has_credentials).length;
  const t = table([
    { label: 'Handset', cell: (x) => h('span', { class: 'stack' }, h('strong', { text: String(x.suffix) }),
      h('code', { text: handsetNumber(x) })) },
    { label: 'State', cell: (x) => h('span', { class: 'stack' }, inUseBadge(!!pick(x, 'registered', 'online')),
      timeAgo(x.last_seen || handsetAssignment(flat, x)?.last_seen)) },
    { label: 'Address', cell: (x) => { const a = handsetAddress(flat, x); return a ? h('code', { text: a }) : h('span', { class: 'muted', text: 'none' }); } },
    { label: 'MAC', cell: (x) => x.mac ? h('code', { text: x.mac }) : h('span', { class: 'muted', text: 'not learnt' }) },
    { label: 'Credentials', cell: credentialsCell },
    { label: 'Actions', cell: (x) => handsetActions(flat, x, ctx), class: 'row-actions' },
  ], list, { class: 'handsets', caption: 'Handsets', empty: 'No handset yet.',
    rowClass: (x) => (String(x.id) === focus ? 'highlight' : null) });
  return h('section', { class: 'sub', 'aria-labelledby': 'h-hs' },
    h('h2', { id: 'h-hs', text: `Handsets (${list.length})` }),
    missing > 0 && notice('warn', `${plural(missing, 'handset')} without SIP credentials: `
      + 'press New credentials and give them to the resident.'),
    t, addHandset(flat, site, ctx));
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

// The handset form's errors in its own words (the API speaks of suffixes
// and the site's handset width).
function handsetWords(site) {
  const w = site && site.widths ? Number(site.widths.handset) : null;
  return (err) => {
    if (err.field === 'suffix' && /more digits/.test(err.message) && w)
      return `Handset numbers in this complex have ${plural(w, 'digit')}: 1 to ${10 ** w - 1}.`;
    if (err.field === 'suffix' && /has a handset with this suffix/.test(err.message))
      return 'This flat already has a handset with this number.';
    if (err.field === 'suffix' && /full/.test(err.message))
      return 'Every handset number of this flat is taken.';
    if (err.field === 'mac' && /has this MAC/.test(err.message))
      return 'Another device of this complex has this MAC.';
    return null;
  };
}

function addHandset(flat, site, ctx) {
  const f = form({ class: 'inline-form', 'aria-label': 'Add a handset' }, [
    field({ name: 'suffix', label: 'Handset number (optional)', type: 'number', min: 1,
      hint: 'Empty: the next free one.' }),
    field({ name: 'mac', label: 'MAC (optional)', placeholder: 'aa:bb:cc:dd:ee:ff',
      disabled: !ctx.isOperator, hint: ctx.isOperator
        ? 'Empty: learnt when the handset first asks for an address.'
        : 'Learnt when the handset first asks for an address (only operators enter MACs).' }),
  ], async (v) => {
    const body = {};
    if (v.suffix) body.suffix = /^\d+$/.test(v.suffix) ? Number(v.suffix) : v.suffix;
    if (v.mac && ctx.isOperator) body.mac = v.mac;
    const x = await api.post('/flats/' + flat.id + '/handsets', body);
    flash = { flatId: String(flat.id), node: sipPanel(handsetNumber(x), x) };
    ctx.reload();
  }, 'Add handset', handsetWords(site));
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

function editFlat(flat, site, ctx) {
  const f = form({ class: 'inline-form', 'aria-label': 'Change the flat' }, [
    field({ name: 'number', label: 'Flat number', value: shownNumber(flat), inputmode: 'numeric', required: true }),
    field({ name: 'circuit_id', label: 'Circuit id', value: flat.circuit_id || '', required: true,
      disabled: !ctx.isOperator, hint: ctx.isOperator ? undefined
        : 'Only operators change circuit ids: each is unique across the complex.' }),
  ], async (v) => {
    const body = { number: intOr(v.number) };
    if (ctx.isOperator) body.circuit_id = v.circuit_id;
    await api.patch('/flats/' + flat.id, body);
    ctx.reload();
  }, 'Save changes', flatWords(site));
  return h('section', { class: 'sub', 'aria-labelledby': 'h-edit-flat' },
    h('h2', { id: 'h-edit-flat', text: 'Change' }), f);
}

function danger(flat, b, ctx) {
  const out = h('p', { class: 'form-error', role: 'alert' });
  const btn = h('button', { type: 'button', class: 'danger', text: 'Delete flat' });
  btn.addEventListener('click', async () => {
    const blk = flat.block ? ` Its block ${flat.block.first} – ${flat.block.last} returns to the pool.` : '';
    if (!await confirmDialog(`Delete flat ${shownNumber(flat)} with its gateway and handsets?${blk}`)) return;
    try {
      await api.del('/flats/' + flat.id);
      ctx.go(b ? '#/sites/' + b.site_id : '#/');
    } catch (e) { out.textContent = e.message; }
  });
  return h('section', { class: 'sub danger-zone', 'aria-labelledby': 'h-danger' },
    h('h2', { id: 'h-danger', text: 'Remove' }), btn, out);
}
