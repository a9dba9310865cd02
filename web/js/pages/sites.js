// web/js/pages/sites.js — the complexes (sites): a paginated list and, for
// operators, the form that adds one.

import * as api from '../api.js';
import * as poolbar from '../poolbar.js';
import { h, field, form, intOr, link, pager, table } from '../dom.js';

const PER_PAGE = 50;

export const widthsText = (w) => w ? [w.complex, w.building, w.flat, w.handset].join('-') : '';

export async function render(_params, ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const list = await api.get('/sites', { page, per_page: PER_PAGE });
  // One small request per listed complex (at most PER_PAGE): pool use at a glance.
  const use = await Promise.all(list.items.map((s) =>
    api.get('/sites/' + s.id + '/utilisation').then((u) => u.items || [], () => null)));
  const rows = table([
    { label: 'Complex', cell: (s) => link('#/sites/' + s.id, String(s.number), 'strong') },
    { label: 'Name', cell: (s) => s.name || '' },
    { label: 'Digit widths', cell: (s) => widthsText(s.widths), class: 'num' },
    { label: 'Block size', cell: (s) => `${s.block_size ?? ''} (max ${s.max_block_size ?? '—'})`, class: 'num' },
    { label: 'Addresses allotted', cell: (s) => {
      const pools = use[list.items.indexOf(s)];
      return pools ? poolbar.summary(pools, Number(s.block_size)) : h('span', { class: 'muted', text: '—' });
    } },
  ], list.items, { caption: 'Complexes', empty: ctx.isOperator
    ? 'No complex yet: add the first one below.' : 'No complex is assigned to you yet.' });
  return h('section', { class: 'page' },
    ctx.crumbs([['Complexes']]),
    h('h1', { text: 'Complexes' }),
    rows,
    list.total > list.per_page && pager(list, (p) => ctx.go('#/?page=' + p), 'complexes'),
    ctx.isOperator && addForm(ctx));
}

function addForm(ctx) {
  const f = form({ class: 'card grid-form', 'aria-labelledby': 'add-site' }, [
    field({ name: 'number', label: 'Complex number', required: true, inputmode: 'numeric' }),
    field({ name: 'name', label: 'Name', wide: true }),
    h('fieldset', { class: 'widths' },
      h('legend', { text: 'Digit widths (complex-building-flat-handset)' }),
      field({ name: 'widths.complex', label: 'Complex', type: 'number', value: 3, min: 1, max: 9 }),
      field({ name: 'widths.building', label: 'Building', type: 'number', value: 4, min: 1, max: 9 }),
      field({ name: 'widths.flat', label: 'Flat', type: 'number', value: 4, min: 1, max: 9 }),
      field({ name: 'widths.handset', label: 'Handset', type: 'number', value: 1, min: 1, max: 9 })),
    // The API's defaults (docs/api.md): a form that sends them as typed must
    // not quietly make another complex than one made without them.
    field({ name: 'block_size', label: 'Addresses per flat block', type: 'number', value: 8, min: 2,
      hint: 'The first goes to the gateway, the rest to handsets.' }),
    field({ name: 'max_block_size', label: 'Largest block a flat may grow to', type: 'number', value: 10, min: 2,
      hint: 'A flat whose handsets outgrow its block gets a bigger one, up to this.' }),
  ], async (v) => {
    const body = {
      number: intOr(v.number),
      widths: {
        complex: intOr(v['widths.complex']), building: intOr(v['widths.building']),
        flat: intOr(v['widths.flat']), handset: intOr(v['widths.handset']),
      },
      block_size: intOr(v.block_size),
      max_block_size: intOr(v.max_block_size),
    };
    if (v.name) body.name = v.name;
    const s = await api.post('/sites', body);
    ctx.go('#/sites/' + s.id);
  }, 'Add complex');
  return h('section', { class: 'sub' }, h('h2', { id: 'add-site', text: 'Add a complex' }), f);
}
