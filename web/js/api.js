// web/js/api.js — the only door to mgmtd: JSON over /api/v1 with the session
// cookie, the CSRF header on every write, and errors turned into ApiError
// (status, message, the field at fault) so forms can show them in place.

const BASE = '/api/v1';
const TIMEOUT_MS = 15000;

let csrf = null;
let onUnauthorized = () => {};

/** An answer other than 2xx: `status`, `message` (the server's sentence) and
 *  `field` (dotted name of the field at fault, or null). */
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

/** Called with no arguments whenever the server answers 401. */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function setCsrf(token) { csrf = token || null; }

function messageFor(status) {
  if (status === 413) return 'That is too much data for one request.';
  if (status === 503) return 'The database is unavailable; try again shortly.';
  if (status >= 500) return 'The server failed (' + status + ').';
  return 'Request refused (' + status + ').';
}

async function parse(res) {
  const type = res.headers.get('Content-Type') || '';
  if (res.status === 204 || !type.includes('json')) return null;
  try { return await res.json(); } catch { return null; }
}

/** Sends one request. `body` (an object) goes as JSON. Resolves with the
 *  decoded answer (null when empty); rejects with ApiError. */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  let res;
  try {
    res = await fetch(BASE + path, {
      method, headers, credentials: 'same-origin', signal: ctl.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, e.name === 'AbortError'
      ? 'The server did not answer in time.' : 'The server cannot be reached.');
  } finally {
    clearTimeout(timer);
  }
  const data = await parse(res);
  if (res.ok) return data;
  if (res.status === 401 && path !== '/session') onUnauthorized();
  const msg = data && typeof data.error === 'string' ? data.error : messageFor(res.status);
  throw new ApiError(res.status, msg, data && data.field);
}

/** A query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {}))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}

export const get = (path, params) => request('GET', path + query(params));
export const post = (path, body) => request('POST', path, body ?? {});
export const put = (path, body) => request('PUT', path, body ?? {});
export const patch = (path, body) => request('PATCH', path, body ?? {});
export const del = (path) => request('DELETE', path);

/** Logs in; resolves with the user and keeps the CSRF token. */
export async function login(username, password) {
  const r = await request('POST', '/session', { username, password });
  setCsrf(r.csrf);
  return r.user;
}

/** The current session's user, or null when not logged in. */
export async function currentUser() {
  try {
    const r = await request('GET', '/session');
    setCsrf(r.csrf);
    return r.user;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function logout() {
  try { await request('DELETE', '/session'); } finally { setCsrf(null); }
}
