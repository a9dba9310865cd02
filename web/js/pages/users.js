// web/js/pages/users.js — admin accounts (operators only): the list, adding
// an operator or a building manager with the buildings they may manage, and
// removing an account.

import * as api from '../api.js';
import { h, confirmDialog, field, form, notice, table } from '../dom.js';

const MAX_SITES = 50;

async function allBuildings() {
  const sites = await api.get('/sites', { per_page: MAX_SITES });
  const lists = await Promise.all(sites.items.map((s) =>
    api.get('/sites/' + s.id + '/buildings', { per_page: 500 }).then((l) => [s, l.items])));
  return lists;
}

export async function render(_params, ctx) {
  if (!ctx.isOperator) return h('section', { class: 'page' }, h('h1', { text: 'Users' }),
    notice('error', 'Only operators manage accounts.'));
  const [list, groups] = await Promise.all([api.get('/users', { per_page: 500 }), allBuildings()]);
  const names = new Map();
  for (const [s, bs] of groups) for (const b of bs) names.set(String(b.id), `${s.number}-${b.number}`);
  return h('section', { class: 'page' },
    ctx.crumbs([['Users']]),
    h('h1', { text: 'Users' }),
    table([
      { label: 'User', cell: (u) => h('strong', { text: u.username }) },
      { label: 'Role', cell: (u) => h('span', { class: 'badge ' + u.role, text: u.role }) },
      { label: 'Buildings', cell: (u) => u.role === 'operator' ? h('span', { class: 'muted', text: 'all' })
        : (u.buildings || []).map((id) => names.get(String(id)) || '#' + id).join(', ') || h('span', { class: 'muted', text: 'none' }) },
      { label: 'Actions', class: 'row-actions', cell: (u) => removeButton(u, ctx) },
    ], (list.items || list), { caption: 'Users' }),
    addUser(groups, ctx));
}

function removeButton(u, ctx) {
  if (u.username === ctx.user.username) return h('span', { class: 'muted', text: 'you' });
  const b = h('button', { type: 'button', class: 'small danger', text: 'Remove', 'aria-label': 'Remove ' + u.username });
  b.addEventListener('click', async () => {
    if (!await confirmDialog(`Remove the account ${u.username}?`, 'Remove')) return;
    try { await api.del('/users/' + u.id); ctx.reload(); } catch (e) {
      b.after(h('span', { class: 'form-error', role: 'alert', text: ' ' + e.message }));
    }
  });
  return b;
}

function addUser(groups, ctx) {
  const buildings = field({ name: 'buildings', label: 'Buildings (managers)', multiple: true, size: 6,
    options: [], hint: 'Ctrl or Shift to pick several.' });
  const select = buildings.querySelector('select');
  for (const [s, bs] of groups) select.append(h('optgroup', { label: 'Complex ' + s.number },
    bs.map((b) => h('option', { value: b.id, text: `Building ${b.number}${b.name ? ' · ' + b.name : ''}` }))));
  const f = form({ class: 'card grid-form', 'aria-labelledby': 'h-adduser' }, [
    field({ name: 'username', label: 'User name', required: true }),
    field({ name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password',
      hint: 'At least 8 characters.' }),
    field({ name: 'role', label: 'Role', options: [['manager', 'Building manager'], ['operator', 'Operator']] }),
    buildings,
  ], async (v) => {
    const body = { username: v.username, password: v.password, role: v.role };
    if (v.role === 'manager') body.buildings = v.buildings.map(Number);
    await api.post('/users', body);
    ctx.reload();
  }, 'Add user');
  return h('section', { class: 'sub' }, h('h2', { id: 'h-adduser', text: 'Add a user' }), f);
}
