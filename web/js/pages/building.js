// web/js/pages/building.js — one building: its flats (paginated and filtered
// server-side, so 10,000 flats stay quick), adding a flat, and removing the
// building.

import * as api from '../api.js';
import { sawBuilding } from '../recent.js';
import { h, confirmDialog, field, filterForm, form, intOr, link, listHash, notice, pager, table } from '../dom.js';

const PER_PAGE = 100;

export async function render([id], ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const q = ctx.query.get('q') || '';
  const [b, list] = await Promise.all([
    api.get('/buildings/' + id),
    api.get('/buildings/' + id + '/flats', { page, per_page: PER_PAGE, q }),
  ]);
  const site = await api.get('/sites/' + b.site_id).catch(() => null);
  sawBuilding(b);
  const title = 'Building ' + b.number;
  const siteCrumb = site ? ['Complex ' + site.number, '#/sites/' + site.id] : ['Complex', '#/sites/' + b.site_id];
  return h('section', { class: 'page' },
    ctx.crumbs([['Complexes', '#/'], siteCrumb, [title]]),
    h('div', { class: 'title-row' },
      h('h1', null, title, b.name && h('span', { class: 'sub-title', text: ' · ' + b.name })),
      h('span', { class: 'badge', text: `${b.flats ?? list.total} flats` })),
    flats(b, list, q, ctx),
    h('div', { class: 'split' }, addFlat(b, ctx), danger(b, site, ctx)));
}

function flats(b, list, q, ctx) {
  const base = '#/buildings/' + b.id;
  const filter = filterForm('Filter flats', q, (t) => ctx.go(listHash(base, 1, t)), 'numeric');
  const t = table([
    { label: 'Flat', cell: (f) => link('#/flats/' + f.id, String(f.number), 'strong') },
    { label: 'Number', cell: (f) => h('code', { text: f.full_number || '' }) },
    { label: 'Circuit id', cell: (f) => h('code', { text: f.circuit_id || '' }) },
  ], list.items, { class: 'flats', caption: 'Flats', empty: q ? 'No flat matches.' : 'No flat yet.' });
  return h('section', { class: 'sub', 'aria-labelledby': 'h-flats' },
    h('div', { class: 'title-row' }, h('h2', { id: 'h-flats', text: 'Flats' }), filter),
    t,
    list.total > list.per_page && pager(list, (p) => ctx.go(listHash(base, p, q)), 'flats'));
}

function addFlat(b, ctx) {
  const f = form({ class: 'card grid-form', 'aria-labelledby': 'h-addflat' }, [
    field({ name: 'number', label: 'Flat number', required: true, inputmode: 'numeric' }),
    field({ name: 'circuit_id', label: 'Circuit id (optional)',
      hint: 'Option 82 circuit-id of the flat port; default building-flat.' }),
  ], async (v) => {
    const body = { number: intOr(v.number) };
    if (v.circuit_id) body.circuit_id = v.circuit_id;
    const flat = await api.post('/buildings/' + b.id + '/flats', body);
    ctx.go('#/flats/' + flat.id);
  }, 'Add flat');
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
