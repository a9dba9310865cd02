// web/js/pages/building.js — one building: its flats (paginated and filtered
// server-side, so 10,000 flats stay quick) with what each needs (block,
// gateway address in use, handsets without address or credentials; "only
// flats needing attention"), adding a flat, and removing the building.

import * as api from '../api.js';
import { sawBuilding } from '../recent.js';
import { h, confirmDialog, field, filterForm, form, intOr, link, listHash, notice, pager, plural, table } from '../dom.js';

const PER_PAGE = 100;

export async function render([id], ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const q = ctx.query.get('q') || '';
  const state = ctx.query.get('state') === 'attention' ? 'attention' : '';
  const [b, list] = await Promise.all([
    api.get('/buildings/' + id),
    api.get('/buildings/' + id + '/flats', { page, per_page: PER_PAGE, q, state }),
  ]);
  const site = await api.get('/sites/' + b.site_id).catch(() => null);
  sawBuilding(b);
  const title = 'Building ' + b.number;
  const siteCrumb = site ? ['Complex ' + site.number, '#/sites/' + site.id] : ['Complex', '#/sites/' + b.site_id];
  return h('section', { class: 'page' },
    ctx.crumbs([['Complexes', '#/'], siteCrumb, [title]]),
    h('div', { class: 'title-row' },
      h('h1', null, title, b.name && h('span', { class: 'sub-title', text: ' · ' + b.name })),
      h('span', { class: 'badge', text: plural(b.flats ?? list.total, 'flat') })),
    flats(b, list, q, state, ctx),
    h('div', { class: 'split' }, addFlat(b, site, ctx), danger(b, site, ctx)));
}

// The flat number as the complex shows it: zero-padded to its flat width.
export const shownNumber = (f) => (f.full_number ? f.full_number.split('-').pop() : String(f.number));

const warn = (text) => h('span', { class: 'badge warn', text });
const muted = (text) => h('span', { class: 'muted', text });

/** What is missing on flat f (its list status), in words; [] when nothing.
 *  The same test as the API's state=attention. */
export function needs(f) {
  const st = f.status || {};
  const gw = st.gateway;
  const hs = st.handsets || {};
  const out = [];
  if (!gw) out.push('no gateway credentials');
  else if (!gw.address) out.push('gateway has no address yet');
  else if (!gw.online) out.push('gateway address not in use');
  if (hs.without_credentials) out.push(plural(hs.without_credentials, 'handset') + ' without credentials');
  if (hs.without_address) out.push(plural(hs.without_address, 'handset') + ' without address');
  return out;
}

function blockCell(f) {
  const bl = f.status && f.status.block;
  return bl ? h('code', { text: `${bl.first} – ${bl.last.split('.').pop()}` }) : muted('none');
}

// Registration (SIP) is not known yet: "in use" is the DHCP lease.
function gatewayCell(f) {
  const gw = f.status && f.status.gateway;
  if (!gw) return warn('no credentials');
  if (!gw.address) return h('span', { class: 'muted', text: 'no address yet' });
  return h('span', { class: 'cell-line' }, h('code', { text: gw.address }),
    gw.online ? h('span', { class: 'badge ok', text: 'in use' }) : warn('not in use'));
}

function handsetsCell(f) {
  const hs = (f.status && f.status.handsets) || {};
  if (!hs.total) return muted('none');
  return h('span', { class: 'cell-line' }, h('span', { text: `${hs.total} (${hs.online} in use)` }),
    hs.without_credentials > 0 && warn(`${hs.without_credentials} without credentials`),
    hs.without_address > 0 && warn(`${hs.without_address} without address`));
}

// The flat's link; what it lacks, if anything, as its title and for
// screen readers (the row's amber edge says it to the eye).
function flatCell(f) {
  const missing = needs(f);
  const a = link('#/flats/' + f.id, shownNumber(f), 'strong');
  if (!missing.length) return a;
  a.title = 'Needs: ' + missing.join('; ');
  return [a, h('span', { class: 'sr-only', text: ' needs attention: ' + missing.join('; ') })];
}

function flats(b, list, q, state, ctx) {
  const base = '#/buildings/' + b.id;
  const to = (page, text, st) => listHash(base, page, text, st ? { state: st } : null);
  const filter = filterForm('Filter flats', q, (t) => ctx.go(to(1, t, state)), 'numeric');
  const only = h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'attention', checked: !!state,
      onchange: (ev) => ctx.go(to(1, q, ev.target.checked ? 'attention' : '')) }),
    'Only flats needing attention');
  const t = table([
    { label: 'Flat', cell: flatCell },
    { label: 'Number', cell: (f) => h('code', { text: f.full_number || '' }) },
    { label: 'Circuit id', cell: (f) => h('code', { text: f.circuit_id || '' }) },
    { label: 'Block', cell: blockCell },
    { label: 'Gateway', cell: gatewayCell },
    { label: 'Handsets', cell: handsetsCell },
  ], list.items, { class: 'flats', caption: 'Flats',
    empty: state ? 'No flat needs attention.' : q ? 'No flat matches.' : 'No flat yet.',
    rowClass: (f) => (needs(f).length ? 'attention' : null) });
  return h('section', { class: 'sub', 'aria-labelledby': 'h-flats' },
    h('div', { class: 'title-row' }, h('h2', { id: 'h-flats', text: 'Flats' }),
      h('div', { class: 'list-tools' }, only, filter)),
    state && h('p', { class: 'muted', text: 'Flats without gateway credentials, whose gateway\'s address is not in use '
      + '(no DHCP lease), or with a handset lacking an address or SIP credentials.' }),
    t,
    list.total > list.per_page && pager(list, (p) => ctx.go(to(p, q, state)), 'flats'));
}

/** A flat form's errors in its words (site: for the flat width, may be null). */
export function flatWords(site) {
  const w = site && site.widths ? Number(site.widths.flat) : null;
  return (err) => {
    if (err.field === 'number' && /more digits/.test(err.message) && w)
      return `Flat numbers in this complex have at most ${plural(w, 'digit')}.`;
    if (err.field === 'number' && /exists/.test(err.message))
      return 'This building already has a flat with this number.';
    if (err.field === 'circuit_id' && /has this circuit_id/.test(err.message))
      return 'Another flat of this complex has this circuit id.';
    if (err.field === 'circuit_id' && /must be/.test(err.message))
      return 'A circuit id is 1 to 64 letters, digits or signs, without spaces.';
    return null;
  };
}

function addFlat(b, site, ctx) {
  const f = form({ class: 'card grid-form', 'aria-labelledby': 'h-addflat' }, [
    field({ name: 'number', label: 'Flat number', required: true, inputmode: 'numeric' }),
    field({ name: 'circuit_id', label: 'Circuit id (optional)', disabled: !ctx.isOperator,
      hint: ctx.isOperator ? 'Option 82 circuit-id of the flat port; default building-flat.'
        : 'The default, building-flat (only operators set another).' }),
  ], async (v) => {
    const body = { number: intOr(v.number) };
    if (v.circuit_id && ctx.isOperator) body.circuit_id = v.circuit_id;
    const flat = await api.post('/buildings/' + b.id + '/flats', body);
    ctx.go('#/flats/' + flat.id);
  }, 'Add flat', flatWords(site));
  return h('section', { class: 'sub' }, h('h2', { id: 'h-addflat', text: 'Add a flat' }), f);
}

function rename(b, ctx) {
  const f = form({ class: 'inline-form', 'aria-label': 'Rename the building' }, [
    field({ name: 'name', label: 'Building name', value: b.name || '' }),
  ], async (v) => {
    await api.patch('/buildings/' + b.id, { name: v.name });
    ctx.reload();
  }, 'Rename');
  return f;
}

function danger(b, site, ctx) {
  const out = h('p', { class: 'form-error', role: 'alert' });
  const btn = h('button', { type: 'button', class: 'danger', text: 'Delete building' });
  btn.addEventListener('click', async () => {
    if (!await confirmDialog(`Delete building ${b.number} and all its flats? Their address blocks return to the pool.`)) return;
    try {
      await api.del('/buildings/' + b.id);
      ctx.go('#/sites/' + b.site_id);
    } catch (e) { out.textContent = e.message; }
  });
  return h('section', { class: 'sub danger-zone', 'aria-labelledby': 'h-manage' },
    h('h2', { id: 'h-manage', text: 'Manage' }), rename(b, ctx),
    notice('info', 'Deleting a building removes its flats, gateways and handsets.'), btn, out,
    site === null && notice('warn', 'The complex of this building could not be read.'));
}
