// web/js/pages/provision.js — provision a whole building in one form:
// number, floors, units per floor, first floor and numbering pattern, with a
// live preview of the flat numbers; one POST creates building and flats in
// one transaction (mgmtd), so a refusal leaves nothing half made.

import * as api from '../api.js';
import { h, field, form, intOr, plural } from '../dom.js';
import { plan, planProblems, patternError, shownFlat } from '../numbers.js';

const PREVIEW_FLOORS = 40;
const PREVIEW_UNITS = 26;
const DEFAULT_PATTERN = '{floor}{unit:02}';

export async function render([siteId], ctx) {
  const site = await api.get('/sites/' + siteId);
  const title = 'Provision a building';
  const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
  const f = form({ class: 'card grid-form provision', 'aria-label': title }, [
    field({ name: 'number', label: 'Building number', required: true, inputmode: 'numeric',
      hint: `Up to ${site.widths?.building ?? 4} digits.` }),
    field({ name: 'name', label: 'Name', placeholder: 'e.g. North tower' }),
    field({ name: 'floors', label: 'Floors', type: 'number', value: 10, min: 1, required: true }),
    field({ name: 'units_per_floor', label: 'Units per floor', type: 'number', value: 4, min: 1, required: true }),
    field({ name: 'first_floor', label: 'First floor', type: 'number', value: 1, min: 0 }),
    field({ name: 'pattern', label: 'Numbering pattern', value: DEFAULT_PATTERN, wide: true,
      hint: '{floor} and {unit}; {unit:02} pads to two digits. Floor 12, unit 1 → 1201.' }),
  ], async (v) => {
    const body = {
      number: intOr(v.number), floors: intOr(v.floors),
      units_per_floor: intOr(v.units_per_floor), first_floor: intOr(v.first_floor || '1'),
      pattern: v.pattern,
    };
    if (v.name) body.name = v.name;
    const b = await api.post('/sites/' + siteId + '/buildings', body);
    const n = b.flats ?? body.floors * body.units_per_floor;
    ctx.flash(`Building ${b.number} created with ${plural(n, 'flat')}. ` +
      'Next: create each flat\'s gateway credentials and give them to the installer.');
    ctx.go('#/buildings/' + b.id);
  }, 'Create building and flats');
  const update = () => preview.replaceChildren(...previewOf(f, site).filter(Boolean));
  f.addEventListener('input', update);
  update();
  return h('section', { class: 'page' },
    ctx.crumbs([['Complexes', '#/'], ['Complex ' + site.number, '#/sites/' + siteId], [title]]),
    h('h1', { text: title }),
    h('div', { class: 'split' }, f,
      h('section', { class: 'card', 'aria-labelledby': 'h-preview' },
        h('h2', { id: 'h-preview', text: 'Flats it will create' }), preview)));
}

function num(f, name, dflt) {
  const s = f.elements[name].value.trim();
  if (s === '') return dflt;
  return /^\d+$/.test(s) ? Number(s) : NaN;
}

function previewOf(f, site) {
  const floors = num(f, 'floors', NaN);
  const units = num(f, 'units_per_floor', NaN);
  const first = num(f, 'first_floor', 1);
  const pattern = f.elements.pattern.value.trim();
  const bad = patternError(pattern);
  if (bad) return [h('p', { class: 'notice warn', text: bad })];
  if (!(floors >= 1 && units >= 1 && first >= 0))
    return [h('p', { class: 'muted', text: 'Enter floors and units per floor to see the flat numbers.' })];
  const rows = plan(pattern, Math.min(floors, PREVIEW_FLOORS), Math.min(units, PREVIEW_UNITS), first);
  const width = site.widths?.flat ?? 4;
  const problems = planProblems(plan(pattern, floors, units, first), width);
  const total = floors * units;
  // As the flat list will show them (zero-padded to the flat width).
  const show = (n) => shownFlat(n, width);
  return [
    h('p', { class: 'preview-total' }, h('strong', { text: String(total) }),
      ` flats on ${floors} floors, ${show(rows[0].numbers[0])} to `,
      h('strong', { text: show(plan(pattern, 1, units, first + floors - 1)[0].numbers[units - 1]) })),
    ...problems.map((p) => h('p', { class: 'notice warn', text: p.text })),
    h('div', { class: 'table-wrap' }, h('table', { class: 'floors' },
      h('caption', { class: 'sr-only', text: 'Flat numbers by floor' }),
      h('tbody', null, rows.slice().reverse().map((r) => h('tr', null,
        h('th', { scope: 'row', text: 'Floor ' + r.floor }),
        r.numbers.map((n) => h('td', { text: show(n) }))))))),
    (floors > PREVIEW_FLOORS || units > PREVIEW_UNITS) &&
      h('p', { class: 'muted', text: 'Preview shortened; all flats are created.' }),
  ];
}
