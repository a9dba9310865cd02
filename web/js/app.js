// web/js/app.js — the admin's shell: session check, hash routes
// (#/sites/3, #/flats/12?handset=2), the always-visible number search, the
// header's navigation and log-out. Each page module exports
// render(params, ctx) and resolves with the node to show.

import * as api from './api.js';
import { h, notice } from './dom.js';
import { cleanNumber } from './numbers.js';
import { recent } from './recent.js';
import * as login from './pages/login.js';
import * as sites from './pages/sites.js';
import * as site from './pages/site.js';
import * as provision from './pages/provision.js';
import * as building from './pages/building.js';
import * as flat from './pages/flat.js';
import * as search from './pages/search.js';
import * as audit from './pages/audit.js';
import * as users from './pages/users.js';
import * as routes from './pages/routes.js';
import { siteCalls, flatCalls } from './pages/calls.js';
import * as bans from './pages/bans.js';

const ROUTES = [
  [/^\/login$/, login, null],
  [/^\/$/, sites, 'sites'],
  [/^\/sites\/(\d+)$/, site, 'sites'],
  [/^\/sites\/(\d+)\/provision$/, provision, 'sites'],
  [/^\/buildings\/(\d+)$/, building, 'sites'],
  [/^\/flats\/(\d+)$/, flat, 'sites'],
  [/^\/sites\/(\d+)\/calls$/, siteCalls, 'sites'],
  [/^\/flats\/(\d+)\/calls$/, flatCalls, 'sites'],
  [/^\/search\/([^/]+)$/, search, null],
  [/^\/audit$/, audit, 'audit'],
  [/^\/users$/, users, 'users'],
  [/^\/routes$/, routes, 'routes'],
  [/^\/sites\/(\d+)\/routes$/, routes, 'routes'],
  [/^\/bans$/, bans, 'bans'],
];

const state = { user: null, seq: 0, afterLogin: '#/', flash: null };
const main = document.getElementById('main');
const header = document.querySelector('header.top');

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(qs || '') };
}

/** Moves to a route; `replace` keeps the history entry. */
export function go(hash, replace) {
  if (location.hash === hash) { route(); return; }
  if (replace) { history.replaceState(null, '', hash); route(); }
  else location.hash = hash;
}

function crumbs(items) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('ol', null,
    items.map(([label, href], i) => h('li', null, href && i < items.length - 1
      ? h('a', { href, text: label }) : h('span', { 'aria-current': 'page', text: label })))));
}

function showHeader() {
  const u = state.user;
  header.hidden = !u;
  if (!u) return;
  header.querySelector('.who-name').textContent = u.username + ' · ' + u.role;
  for (const a of header.querySelectorAll('[data-operator]')) a.hidden = u.role !== 'operator';
}

function markNav(section) {
  for (const a of header.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  const seq = ++state.seq;
  const focusedBefore = document.activeElement;
  const { path, query } = parseHash();
  if (!state.user && path !== '/login') {
    state.afterLogin = '#' + path + (query.toString() ? '?' + query : '');
    go('#/login', true);
    return;
  }
  const hit = ROUTES.find(([re]) => re.test(path));
  const ctx = {
    user: state.user, query, go, crumbs, reload: () => { if (seq === state.seq) route(); },
    isOperator: state.user && state.user.role === 'operator',
    loggedIn: (u) => { state.user = u; showHeader(); go(state.afterLogin || '#/', true); },
    stale: () => seq !== state.seq,
    // A success message for the next page shown (after a create that moves on).
    flash: (text) => { state.flash = text; },
  };
  markNav(hit ? hit[2] : null);
  main.setAttribute('aria-busy', 'true');
  let node;
  try {
    node = hit ? await hit[1].render(path.match(hit[0]).slice(1), ctx)
      : h('section', null, h('h1', { text: 'Not found' }), notice('error', 'No page at ' + path + '.'));
  } catch (e) {
    node = errorPage(e);
  }
  if (seq !== state.seq) return;
  main.removeAttribute('aria-busy');
  if (state.flash) {
    showFlash(node, state.flash);
    state.flash = null;
  }
  main.replaceChildren(node);
  const title = main.querySelector('h1');
  // A heading may say how it reads as a tab title (data-title): "Flat 1201 ·
  // 100-1101-1201", where its text would run the numbers together.
  document.title = (title ? (title.dataset.title || title.textContent) + ' · ' : '') + 'dpn admin';
  (title || main).setAttribute('tabindex', '-1');
  const first = main.querySelector('[data-autofocus]');
  // The new page takes the focus, unless the user has since gone to the
  // header (typing a search while the page loaded): their keys stay there.
  const active = document.activeElement;
  const typing = active !== focusedBefore && header.contains(active);
  if (!typing) (first || title || main).focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// The success message under the page's title row (or its heading).
function showFlash(node, text) {
  const anchor = node.querySelector('.title-row') || node.querySelector('h1');
  const n = notice('ok', text);
  n.classList.add('flash');
  if (anchor) anchor.after(n); else node.prepend(n);
}

function errorPage(e) {
  const what = e.status === 404 ? 'Not found' : e.status === 403 ? 'Not allowed' : 'Something went wrong';
  return h('section', null, h('h1', { text: what }), notice('error', e.message || String(e)),
    h('p', null, h('a', { href: '#/', text: 'Back to the complexes' })));
}

function wireHeader() {
  const form = header.querySelector('form.search');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = form.elements.q;
    const n = cleanNumber(input.value);
    go('#/search/' + encodeURIComponent(n || input.value.trim() || '-'));
  });
  header.querySelector('.logout').addEventListener('click', async () => {
    try { await api.logout(); } catch { /* the session is gone either way */ }
    state.user = null;
    state.afterLogin = '#/';
    recent.building = null;
    showHeader();
    go('#/login');
  });
  // "/" jumps to the search box from anywhere but a text field.
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t.closest && t.closest('input, textarea, select, [contenteditable]')) return;
    ev.preventDefault();
    form.elements.q.focus();
    form.elements.q.select();
  });
}

async function boot() {
  api.setUnauthorizedHandler(() => {
    if (!state.user) return;
    state.user = null;
    recent.building = null;
    showHeader();
    const { path } = parseHash();
    state.afterLogin = '#' + path;
    go('#/login', true);
  });
  wireHeader();
  try {
    state.user = await api.currentUser();
  } catch (e) {
    main.replaceChildren(errorPage(e));
    return;
  }
  showHeader();
  window.addEventListener('hashchange', () => {
    // Moving on by hand clears the search box; a search's own jump to the
    // flat it found replaces history instead, so the number stays there.
    if (!location.hash.startsWith('#/search/')) header.querySelector('#search-q').value = '';
    route();
  });
  route();
}

boot();
