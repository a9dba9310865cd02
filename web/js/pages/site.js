// web/js/pages/site.js — one complex: its pools (utilisation bar by address
// state, near-exhaustion warning, address map, add/remove) and its buildings (paginated,
// filtered server-side), with the way to provision a new building.

import * as api from '../api.js';
import * as poolbar from '../poolbar.js';
import * as poolmap from '../poolmap.js';
import { h, confirmDialog, field, filterForm, form, intOr, link, listHash, nextId, notice, pager, plural, table } from '../dom.js';
import { widthsText } from './sites.js';

const PER_PAGE = 50;

export async function render([id], ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const q = ctx.query.get('q') || '';
  const [site, util, list] = await Promise.all([
    api.get('/sites/' + id),
    api.get('/sites/' + id + '/utilisation').catch((e) => e),
    api.get('/sites/' + id + '/buildings', { page, per_page: PER_PAGE, q }).catch((e) => e),
  ]);
  const title = 'Complex ' + site.number;
  return h('section', { class: 'page' },
    ctx.crumbs([['Complexes', '#/'], [title]]),
    h('div', { class: 'title-row' },
      h('h1', null, title, site.name && h('span', { class: 'sub-title', text: ' · ' + site.name })),
      link('#/sites/' + id + '/calls', 'Calls', 'button'),
      ctx.isOperator && h('a', { class: 'button primary', href: '#/sites/' + id + '/provision', text: 'Provision a building' })),
    h('p', { class: 'facts' },
      fact('Digit widths', widthsText(site.widths)), fact('Block size', site.block_size),
      fact('Largest block', site.max_block_size)),
    buildings(site, list, q, ctx),
    pools(site, util, ctx),
    ctx.isOperator && manage(site, ctx));
}

// Name and block size of the complex, and its deletion (mgmtd refuses while
// it has buildings, and the page says so).
function manage(site, ctx) {
  const f = form({ class: 'grid-form', 'aria-label': 'Change the complex' }, [
    field({ name: 'name', label: 'Complex name', value: site.name || '' }),
    field({ name: 'block_size', label: 'Addresses per new flat block', type: 'number', min: 2,
      value: site.block_size, hint: 'Blocks already allotted keep their size.' }),
    field({ name: 'max_block_size', label: 'Largest block a flat may grow to', type: 'number', min: 2,
      value: site.max_block_size }),
  ], async (v) => {
    await api.patch('/sites/' + site.id, { name: v.name, block_size: intOr(v.block_size),
      max_block_size: intOr(v.max_block_size) });
    ctx.reload();
  }, 'Save changes');
  const out = h('p', { class: 'form-error', role: 'alert' });
  const del = h('button', { type: 'button', class: 'danger', text: 'Delete complex' });
  del.addEventListener('click', async () => {
    if (!await confirmDialog(`Delete complex ${site.number}? Only a complex without buildings can go.`)) return;
    try { await api.del('/sites/' + site.id); ctx.go('#/'); } catch (e) { out.textContent = e.message; }
  });
  return h('section', { class: 'sub', 'aria-labelledby': 'h-manage-site' },
    h('h2', { id: 'h-manage-site', text: 'Manage' }),
    h('div', { class: 'split' }, h('div', { class: 'card' }, f),
      h('div', { class: 'danger-zone' }, del, out)));
}

const fact = (k, v) => h('span', { class: 'fact' }, h('span', { class: 'k', text: k }), ' ', String(v ?? '—'));

function buildings(site, list, q, ctx) {
  const base = '#/sites/' + site.id;
  const filter = filterForm('Filter buildings', q, (t) => ctx.go(listHash(base, 1, t)), 'numeric');
  if (list instanceof Error)
    return h('section', { class: 'sub' }, h('h2', { text: 'Buildings' }),
      notice('error', 'Buildings unavailable: ' + list.message));
  const t = table([
    { label: 'Building', cell: (b) => link('#/buildings/' + b.id, String(b.number), 'strong') },
    { label: 'Name', cell: (b) => b.name || '' },
    { label: 'Flats', cell: (b) => String(b.flats ?? ''), class: 'num' },
  ], list.items, { caption: 'Buildings', empty: q ? 'No building matches.' : 'No building yet.' });
  return h('section', { class: 'sub', 'aria-labelledby': 'h-buildings' },
    h('div', { class: 'title-row' }, h('h2', { id: 'h-buildings', text: 'Buildings' }), filter),
    t,
    list.total > list.per_page && pager(list, (p) => ctx.go(listHash(base, p, q)), 'buildings'));
}

function pools(site, util, ctx) {
  const sec = h('section', { class: 'sub', 'aria-labelledby': 'h-pools' }, h('h2', { id: 'h-pools', text: 'Address pools' }));
  if (util instanceof Error) {
    sec.append(notice('error', 'Utilisation unavailable: ' + util.message));
  } else {
    const items = Array.isArray(util) ? util : (util.items || util.pools || []);
    if (!items.length) sec.append(notice('warn', 'This complex has no pool yet: no flat can get addresses.'));
    for (const p of items) sec.append(poolCard(p, site, ctx));
  }
  if (ctx.isOperator) sec.append(addPool(site, ctx));
  return sec;
}

// Removing a pool: offered only while it holds no block (mgmtd refuses
// otherwise); else the button is disabled and says why, beside it.
function poolCard(p, site, ctx) {
  const blocks = Number(p.blocks) || 0;
  const err = h('p', { class: 'form-error', role: 'alert' });
  const why = ctx.isOperator && blocks > 0 && h('span', { class: 'why muted', id: nextId('why'),
    text: `Holds ${plural(blocks, 'block')}: it can go once no flat has a block in it.` });
  const del = ctx.isOperator && h('button', { type: 'button', class: 'danger small', text: 'Remove pool',
    disabled: blocks > 0, 'aria-describedby': why ? why.id : null });
  if (del) del.addEventListener('click', async () => {
    if (!await confirmDialog(`Remove pool ${p.cidr}? Only a pool without blocks can go.`, 'Remove')) return;
    try { await api.del('/pools/' + (p.pool_id ?? p.id)); ctx.reload(); } catch (e) { err.textContent = e.message; }
  });
  return h('article', { class: 'card pool' },
    h('div', { class: 'title-row' }, h('h3', { text: p.cidr }),
      del && h('div', { class: 'pool-remove' }, why, del)),
    err,
    poolbar.bar(p, Number(site.block_size), !ctx.isOperator), poolmap.map(p, ctx));
}

function addPool(site, ctx) {
  const f = form({ class: 'inline-form', 'aria-label': 'Add a pool' }, [
    field({ name: 'cidr', label: 'New pool (CIDR)', placeholder: '10.0.0.0/24', required: true }),
  ], async (v) => {
    await api.post('/sites/' + site.id + '/pools', { cidr: v.cidr });
    ctx.reload();
  }, 'Add pool');
  return f;
}
