// web/js/pages/users.js — admin accounts (operators only): the list, adding
// an operator or a building manager with the buildings they may manage,
// editing role, buildings and password, and removing an account.

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
      { label: 'Actions', class: 'row-actions', cell: (u) => h('div', { class: 'actions' },
        editButton(u, groups, ctx), removeButton(u, ctx)) },
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

// The role and buildings fields, filled from user u when editing.
function roleFields(groups, u) {
  const buildings = field({ name: 'buildings', label: 'Buildings (managers)', multiple: true, size: 6,
    options: [], hint: 'Ctrl or Shift to pick several.' });
  const select = buildings.querySelector('select');
  const mine = new Set((u?.buildings || []).map(String));
  for (const [s, bs] of groups) select.append(h('optgroup', { label: 'Complex ' + s.number },
    bs.map((b) => h('option', { value: b.id, selected: mine.has(String(b.id)),
      text: `Building ${b.number}${b.name ? ' · ' + b.name : ''}` }))));
  const role = field({ name: 'role', label: 'Role', value: u?.role,
    options: [['manager', 'Building manager'], ['operator', 'Operator']] });
  return [role, buildings];
}

const roleBody = (v) => ({ role: v.role, buildings: v.role === 'manager' ? v.buildings.map(Number) : [] });

function addUser(groups, ctx) {
  const f = form({ class: 'card grid-form', 'aria-labelledby': 'h-adduser' }, [
    field({ name: 'username', label: 'User name', required: true }),
    field({ name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password',
      hint: 'At least 8 characters.' }),
    roleFields(groups, null),
  ], async (v) => {
    await api.post('/users', { username: v.username, password: v.password, ...roleBody(v) });
    ctx.reload();
  }, 'Add user');
  return h('section', { class: 'sub' }, h('h2', { id: 'h-adduser', text: 'Add a user' }), f);
}

// Edit role, buildings and (optionally) the password of u in a dialog.
function editButton(u, groups, ctx) {
  const b = h('button', { type: 'button', class: 'small', text: 'Edit', 'aria-label': 'Edit ' + u.username });
  b.addEventListener('click', () => {
    const dlg = h('dialog', { class: 'edit', 'aria-labelledby': 'h-edit' });
    const close = () => { dlg.close(); dlg.remove(); };
    const f = form({ class: 'grid-form' }, [
      roleFields(groups, u),
      field({ name: 'password', label: 'New password (optional)', type: 'password',
        autocomplete: 'new-password', wide: true, hint: 'Empty: unchanged.' }),
    ], async (v) => {
      const body = roleBody(v);
      if (v.password) body.password = v.password;
      await api.patch('/users/' + u.id, body);
      close();
      ctx.reload();
    }, 'Save');
    const cancel = h('button', { type: 'button', text: 'Cancel', onclick: close });
    f.querySelector('.actions').append(cancel);
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
    dlg.append(h('h2', { id: 'h-edit', text: 'Edit ' + u.username }), f);
    document.body.append(dlg);
    dlg.showModal();
  });
  return b;
}
