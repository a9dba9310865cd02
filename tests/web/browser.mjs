// tests/web/browser.mjs — what the browser tests share: Debian's chromium
// through playwright-core (never a downloaded browser), a tiny case runner
// printing one line per case and "N passed, N failed", and an API client
// (session cookie + CSRF, or Basic for gateways) for setting the stage and
// checking what the server holds.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Starts chromium with a fresh profile folder; returns {context, close}. */
export async function launch(viewport) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dpn-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport,
    timeout: 30000, permissions: ['clipboard-read', 'clipboard-write'],
  });
  context.setDefaultTimeout(10000);
  return {
    context,
    close: async () => {
      try { await context.close(); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
    },
  };
}

export class Failed extends Error {}

export function check(cond, msg) { if (!cond) throw new Failed(msg); }

export function checkEq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Failed(`${what}: got ${g}, want ${w}`);
}

const cases = [];

/** Registers a case; cases run in order and share state through ctx. */
export function testCase(name, fn) { cases.push({ name, fn }); }

/** Runs the cases (those whose name contains $CASE, if set); onFail(name)
 *  may save a screenshot. Resolves with the number of failures. */
export async function runCases(ctx, onFail) {
  const only = process.env.CASE || '';
  let passed = 0;
  let failed = 0;
  for (const c of cases) {
    if (!c.name.includes(only)) continue;
    const t0 = Date.now();
    try {
      await c.fn(ctx);
      passed++;
      console.log(`ok     ${c.name.padEnd(55)} ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    } catch (e) {
      failed++;
      console.log(`not ok ${c.name.padEnd(55)} ${((Date.now() - t0) / 1000).toFixed(2)}s`);
      console.log(e && e.stack ? e.stack : String(e));
      if (onFail) await onFail(c.name).catch(() => {});
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return passed > 0 ? failed : 1;
}

/** Runs the registered cases in one page of a fresh Chromium against URL
 *  ({context, api, page, problems} as ctx: problems collects the page's
 *  console errors, other than 4xx answers, and uncaught errors) and exits
 *  0 when all passed, 1 otherwise. */
export async function runPage(url, viewport) {
  const browser = await launch(viewport);
  let failures = 1;
  try {
    const ctx = { context: browser.context, api: new Api(url), problems: [],
                  page: await browser.context.newPage() };
    browser.context.on('console', (m) => {
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) ctx.problems.push(m.text());
    });
    browser.context.on('weberror', (e) => ctx.problems.push(String(e.error())));
    failures = await runCases(ctx);
  } finally {
    await browser.close();
  }
  process.exit(failures ? 1 : 0);
}

/** An API client for one identity. `login` keeps the session cookie and
 *  CSRF token; `basic` sends gateway credentials instead. Every call resolves
 *  with {status, body}; nothing throws on 4xx. */
export class Api {
  constructor(base) {
    this.base = base.replace(/\/$/, '') + '/api/v1';
    this.cookie = null;
    this.csrf = null;
    this.auth = null;
  }

  static basic(base, username, secret) {
    const a = new Api(base);
    a.auth = 'Basic ' + Buffer.from(username + ':' + secret).toString('base64');
    return a;
  }

  async call(method, p, body, extraHeaders) {
    const headers = { Accept: 'application/json', ...(extraHeaders || {}) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.cookie) headers.Cookie = this.cookie;
    if (this.csrf && method !== 'GET') headers['X-CSRF-Token'] = this.csrf;
    if (this.auth) headers.Authorization = this.auth;
    const res = await fetch(this.base + p, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15000),
    });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    return { status: res.status, body: data, headers: res.headers };
  }

  async login(username, password) {
    const r = await this.call('POST', '/session', { username, password });
    if (r.status !== 200) throw new Failed(`API login as ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    const set = r.headers.get('set-cookie') || '';
    const m = /dpn_session=([^;]+)/.exec(set);
    if (!m) throw new Failed('API login: no dpn_session cookie');
    this.cookie = 'dpn_session=' + m[1];
    this.csrf = r.body.csrf;
    return r.body.user;
  }

  /** Like call, but the status must be `want`; resolves with the body. */
  async must(want, method, p, body) {
    const r = await this.call(method, p, body);
    if (r.status !== want)
      throw new Failed(`${method} ${p}: got ${r.status} ${JSON.stringify(r.body)}, want ${want}`);
    return r.body;
  }
}
