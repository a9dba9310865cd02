// web/js/pages/routes.js — a complex's outbound routes for the gatekeeper
// (operators only): the peer groups with their peers and the state OPTIONS
// probing last saw (up, down, unknown), the routes (number prefix -> group);
// add, edit and delete each, with the API's field errors shown in place.
// #/routes picks the complex (straight to it when there is one).

import * as api from '../api.js';
import { h, confirmDialog, field, form, intOr, link, notice, table } from '../dom.js';

export async function render(params, ctx) {
  if (!ctx.isOperator) return h('section', { class: 'page' }, h('h1', { text: 'Routes' }),
    notice('error', 'Only operators manage routes.'));
  if (!params[0]) return pickSite(ctx);
  const id = params[0];
  const [site, groups, routes] = await Promise.all([api.get('/sites/' + id),
    api.get('/sites/' + id + '/peer-groups'), api.get('/sites/' + id + '/routes')]);
  return h('section', { class: 'page' },
    ctx.crumbs([['Complexes', '#/'], ['Complex ' + site.number, '#/sites/' + id], ['Routes']]),
    h('h1', { text: 'Routes of complex ' + site.number }),
    h('p', { class: 'muted', text: 'A call from a flat to a number of another complex goes to '
      + 'the group of the longest matching prefix; the group tries its peers in turn.' }),
    h('h2', { text: 'Routes' }),
    routeTable(routes.items, groups.items, ctx),
    addRoute(id, groups.items, ctx),
    h('h2', { text: 'Peer groups' }),
    groups.items.map((g) => groupCard(g, ctx)),
    addGroup(id, ctx));
}

async function pickSite(ctx) {
  const sites = await api.get('/sites', { per_page: 50 });
  if (sites.items.length === 1) {
    ctx.go('#/sites/' + sites.items[0].id + '/routes', true);
    return h('section', { class: 'page' });
  }
  return h('section', { class: 'page' }, ctx.crumbs([['Routes']]), h('h1', { text: 'Routes' }),
    table([{ label: 'Complex', cell: (s) => link('#/sites/' + s.id + '/routes', String(s.number), 'strong') },
      { label: 'Name', cell: (s) => s.name || '' }], sites.items,
    { caption: 'Complexes', empty: 'No complex yet.' }));
}

function deleteButton(what, path, ctx) {
  const b = h('button', { type: 'button', class: 'small danger', text: 'Delete', 'aria-label': 'Delete ' + what });
  b.addEventListener('click', async () => {
    if (!await confirmDialog(`Delete ${what}?`, 'Delete')) return;
    try { await api.del(path); ctx.reload(); } catch (e) {
      b.after(h('span', { class: 'form-error', role: 'alert', text: ' ' + e.message }));
    }
  });
  return b;
}

const groupOptions = (groups) => groups.map((g) => [g.id, g.name]);

function routeTable(routes, groups, ctx) {
  return table([
    { label: 'Prefix', cell: (r) => h('strong', { text: r.prefix }) },
    { label: 'Peer group', cell: (r) => r.group },
    { label: 'Actions', class: 'row-actions', cell: (r) => h('div', { class: 'actions' },
      editDialog('route ' + r.prefix, routeFields(groups, r), (v) =>
        api.patch('/routes/' + r.id, { prefix: v.prefix, group_id: intOr(v.group_id) }), ctx),
      deleteButton('route ' + r.prefix, '/routes/' + r.id, ctx)) },
  ], routes, { caption: 'Routes', empty: 'No route: calls to other complexes are refused.' });
}

function routeFields(groups, r) {
  return [
    field({ name: 'prefix', label: 'Number prefix', required: true, inputmode: 'numeric',
      value: r?.prefix, hint: 'Digits the dialled number starts with, e.g. 200.' }),
    field({ name: 'group_id', label: 'Peer group', value: r?.group_id, options: groupOptions(groups) }),
  ];
}

function addRoute(siteId, groups, ctx) {
  if (!groups.length) return notice('info', 'Add a peer group first, then a route to it.');
  const f = form({ class: 'card grid-form', 'aria-labelledby': 'h-addroute' }, routeFields(groups, null),
    async (v) => {
      await api.post('/sites/' + siteId + '/routes', { prefix: v.prefix, group_id: intOr(v.group_id) });
      ctx.reload();
    }, 'Add route');
  return h('section', { class: 'sub' }, h('h3', { id: 'h-addroute', text: 'Add a route' }), f);
}

const STATE_CLASS = { up: 'ok', down: 'warn', unknown: 'off' };
const stateBadge = (s) => h('span', { class: 'badge ' + (STATE_CLASS[s] || 'off'), text: s });

function peerFields(p) {
  return [
    field({ name: 'address', label: 'Address', required: true, value: p?.address,
      hint: 'IPv4 address of the peer (another gatekeeper, a trunk).' }),
    field({ name: 'port', label: 'Port', type: 'number', value: p?.port ?? 5060, min: 1, max: 65535 }),
    field({ name: 'transport', label: 'Transport', value: p?.transport || 'udp',
      options: [['udp', 'UDP'], ['tcp', 'TCP']] }),
    field({ name: 'trusted', label: 'Caller ID', value: p?.trusted ? 'yes' : 'no',
      options: [['no', 'Removed (untrusted)'], ['yes', 'Kept (trusted)']] }),
    field({ name: 'weight', label: 'Weight', type: 'number', value: p?.weight ?? 1, min: 1, max: 1000,
      hint: 'Its share of the group\'s new calls.' }),
  ];
}

const peerBody = (v) => ({ address: v.address, port: intOr(v.port), transport: v.transport,
  trusted: v.trusted === 'yes', weight: intOr(v.weight) });

function groupCard(g, ctx) {
  const peers = table([
    { label: 'Peer', cell: (p) => `${p.address}:${p.port}` },
    { label: 'Transport', cell: (p) => p.transport },
    { label: 'Caller ID', cell: (p) => p.trusted ? 'kept' : 'removed' },
    { label: 'Weight', cell: (p) => String(p.weight), class: 'num' },
    { label: 'State', cell: (p) => stateBadge(p.state) },
    { label: 'Actions', class: 'row-actions', cell: (p) => h('div', { class: 'actions' },
      editDialog(`peer ${p.address}:${p.port}`, peerFields(p), (v) =>
        api.patch('/peers/' + p.id, peerBody(v)), ctx),
      deleteButton(`peer ${p.address}:${p.port}`, '/peers/' + p.id, ctx)) },
  ], g.peers, { caption: 'Peers of ' + g.name, empty: 'No peer yet.' });
  const add = form({ class: 'grid-form', 'aria-label': 'Add a peer to ' + g.name }, peerFields(null),
    async (v) => { await api.post('/peer-groups/' + g.id + '/peers', peerBody(v)); ctx.reload(); },
    'Add peer');
  return h('section', { class: 'card group', dataset: { group: g.name } },
    h('div', { class: 'title-row' }, h('h3', { text: g.name }),
      h('div', { class: 'actions' },
        editDialog('group ' + g.name, [field({ name: 'name', label: 'Name', required: true, value: g.name })],
          (v) => api.patch('/peer-groups/' + g.id, { name: v.name }), ctx),
        deleteButton('group ' + g.name, '/peer-groups/' + g.id, ctx))),
    peers, h('h4', { text: 'Add a peer to ' + g.name }), add);
}

function addGroup(siteId, ctx) {
  const f = form({ class: 'card grid-form', 'aria-labelledby': 'h-addgroup' },
    [field({ name: 'name', label: 'Name', required: true, hint: 'e.g. complex-200, trunk.' })],
    async (v) => { await api.post('/sites/' + siteId + '/peer-groups', { name: v.name }); ctx.reload(); },
    'Add group');
  return h('section', { class: 'sub' }, h('h3', { id: 'h-addgroup', text: 'Add a peer group' }), f);
}

// An Edit button opening a dialog with `fields`; save(values) resolves or
// rejects with the API's error, shown at its field.
function editDialog(what, fields, save, ctx) {
  const b = h('button', { type: 'button', class: 'small', text: 'Edit', 'aria-label': 'Edit ' + what });
  b.addEventListener('click', () => {
    const dlg = h('dialog', { class: 'edit', 'aria-labelledby': 'h-edit' });
    const close = () => { dlg.close(); dlg.remove(); };
    const f = form({ class: 'grid-form' }, fields, async (v) => {
      await save(v);
      close();
      ctx.reload();
    }, 'Save');
    f.querySelector('.actions').append(h('button', { type: 'button', text: 'Cancel', onclick: close }));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
    dlg.append(h('h2', { id: 'h-edit', text: 'Edit ' + what }), f);
    document.body.append(dlg);
    dlg.showModal();
  });
  return b;
}
