// web/js/pages/login.js — the log-in form. A refused password is shown on the
// form; what was typed stays (the password selected, so retyping replaces it).

import * as api from '../api.js';
import { h, field, form } from '../dom.js';

export async function render(_params, ctx) {
  if (ctx.user) { ctx.go('#/', true); return h('p'); }
  const f = form({ class: 'login-form', 'aria-labelledby': 'login-title' }, [
    field({ name: 'username', label: 'User name', required: true, autocomplete: 'username', autofocus: true }),
    field({ name: 'password', label: 'Password', type: 'password', required: true,
      autocomplete: 'current-password' }),
  ], async (v) => {
    if (!v.username) throw Object.assign(new Error('Enter your user name.'), { field: 'username' });
    if (!v.password) throw Object.assign(new Error('Enter your password.'), { field: 'password' });
    try {
      ctx.loggedIn(await api.login(v.username, v.password));
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        // Kept, selected: retyping replaces it, nothing typed is lost.
        setTimeout(() => f.elements.password.select(), 0);
        throw Object.assign(new Error('Wrong user name or password.'), { field: null });
      }
      throw e;
    }
  }, 'Log in');
  return h('section', { class: 'login' },
    h('div', { class: 'login-card' },
      h('p', { class: 'brand big' }, 'dpn ', h('span', { text: 'admin' })),
      h('h1', { id: 'login-title', text: 'Log in' }),
      f));
}
