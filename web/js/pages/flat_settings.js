// web/js/pages/flat_settings.js — the part of the flat page about calls:
// each handset's reachability as the flat's gateway reports it (registered
// or not, since, the address it registered from, its user agent) with a
// do-not-disturb switch, and the flat's call settings (ring timeout,
// forward target and when) in a form that shows errors at their field.
// flat.js places the section; it loads its own data.

import * as api from '../api.js';
import { h, field, form, intOr, notice, table, timeAgo } from '../dom.js';

const WHEN = [['never', 'Never'], ['no_answer', 'When nobody answers in time'],
  ['unregistered', 'When no handset is registered'], ['both', 'Both']];

/** The section for flat (an object with id); fills itself when the
 *  settings and reachability have come. */
export function flatSettings(flat, ctx) {
  const box = h('section', { class: 'sub flat-settings', 'aria-labelledby': 'h-reach' },
    h('h2', { id: 'h-reach', text: 'Reachability and call settings' }),
    h('p', { class: 'muted', text: 'Loading…' }));
  Promise.all([api.get(`/flats/${flat.id}/reachability`), api.get(`/flats/${flat.id}/settings`)])
    .then(([reach, set]) => box.replaceChildren(box.firstChild, reachTable(reach),
      settingsForm(flat, set, ctx)))
    .catch((e) => box.replaceChildren(box.firstChild, notice('error', e.message)));
  return box;
}

function registeredBadge(x) {
  return h('span', { class: 'badge ' + (x.registered ? 'ok' : 'off'),
    text: x.registered ? 'registered' : 'not registered',
    title: x.reported_at ? 'As the gateway reported it.' : 'The gateway has not reported this handset yet.' });
}

function dndButton(x) {
  const b = h('button', { type: 'button', class: 'small', 'aria-pressed': String(!!x.dnd),
    text: x.dnd ? 'Do not disturb: on' : 'Do not disturb: off',
    'aria-label': 'Do not disturb for ' + x.number });
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const r = await api.put(`/handsets/${x.id}/settings`, { dnd: !x.dnd });
      x.dnd = r.dnd;
      b.textContent = x.dnd ? 'Do not disturb: on' : 'Do not disturb: off';
      b.setAttribute('aria-pressed', String(!!x.dnd));
      b.closest('tr').classList.toggle('dnd', !!x.dnd);
    } catch (e) {
      b.after(h('p', { class: 'form-error', role: 'alert', text: e.message }));
    } finally { b.disabled = false; }
  });
  return b;
}

const code = (v, none) => (v ? h('code', { text: v }) : h('span', { class: 'muted', text: none }));

function reachTable(reach) {
  return table([
    { label: 'Handset', cell: (x) => h('code', { text: x.number }) },
    { label: 'SIP', cell: registeredBadge },
    { label: 'Since', cell: (x) => (x.registered ? timeAgo(x.since) : h('span', { class: 'muted', text: '—' })) },
    { label: 'From', cell: (x) => code(x.registered && x.address, '—') },
    { label: 'User agent', cell: (x) => code(x.registered && x.user_agent, '—') },
    { label: 'Calls', cell: dndButton, class: 'row-actions' },
  ], reach.handsets, { class: 'reachability', caption: 'Handset reachability',
    empty: 'No handset yet.', rowClass: (x) => (x.dnd ? 'dnd' : null) });
}

function settingsForm(flat, set, ctx) {
  const f = form({ class: 'inline-form', 'aria-label': 'Call settings' }, [
    field({ name: 'ring_timeout', label: 'Ring for (seconds)', type: 'number', min: 5, max: 90,
      value: set.ring_timeout ?? '', hint: 'Empty: the gateway\'s own setting (60 s unless changed).' }),
    field({ name: 'forward_to', label: 'Forward to', value: set.forward_to ?? '',
      placeholder: '+491711234567 or sip:…', hint: 'A number or a SIP URI; the call shows this flat as caller.' }),
    field({ name: 'forward_when', label: 'Forward', options: WHEN, value: set.forward_when }),
  ], async (v) => {
    const body = { forward_when: v.forward_when };
    if (v.ring_timeout !== '') body.ring_timeout = intOr(v.ring_timeout);
    if (v.forward_to !== '') body.forward_to = v.forward_to;
    await api.put(`/flats/${flat.id}/settings`, body);
    ctx.reload();
  }, 'Save call settings');
  return h('div', null, h('h3', { text: 'Call settings' }), f);
}
