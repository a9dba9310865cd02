#!/usr/bin/env node
// tests/web/calls.mjs — the admin's call records and SIP registration in
// real headless Chromium against mgmtd and PostgreSQL (started by
// test_web_calls.py). The gatekeeper's rows (dpn.gk_bindings, dpn.calls)
// are written with psql as it writes them; the pages must show them: the
// flat page's registration card (registered or not, since, from where,
// user agent) and Recent calls; the Calls page of a complex, paged and
// filtered by number and outcome, with a bad filter refused in place.

import { execFileSync } from 'node:child_process';
import { check, checkEq, runPage, testCase } from './browser.mjs';

const URL = process.env.DPN_WEB_URL;
const ADMIN = process.env.DPN_ADMIN_USER;
const ADMIN_PW = process.env.DPN_ADMIN_PASSWORD;
const N = (f) => `100-1101-${String(f).padStart(4, '0')}`;

function psql(sql) {
  return execFileSync(process.env.DPN_PGCLUSTER, ['psql', process.env.DPN_PG_DIR, '-tAq', '-c', sql],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

async function heading(page, text) {
  await page.locator('main h1', { hasText: text }).first().waitFor();
}

// The table's rows as arrays of cell texts.
async function rows(page, sel) {
  return page.locator(sel + ' tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
}

// Waits (10 s at most) for the call table in sel (the page's, by
// default) to have n rows: the flat page fetches its calls on their own.
async function rowCount(page, n, sel = 'main') {
  const end = Date.now() + 10000;
  let got;
  while ((got = (await rows(page, sel)).length) !== n && Date.now() < end)
    await page.waitForTimeout(50);
  checkEq(got, n, 'rows of the call table in ' + sel);
}

testCase('stage_site_flats_binding_and_60_calls', async (ctx) => {
  await ctx.api.login(ADMIN, ADMIN_PW);
  const site = await ctx.api.must(201, 'POST', '/sites', { number: 100 });
  await ctx.api.must(201, 'POST', `/sites/${site.id}/pools`, { cidr: '127.23.0.0/24' });
  await ctx.api.must(201, 'POST', `/sites/${site.id}/buildings`, { number: 1101, floors: 1, units_per_floor: 2 });
  ctx.site = site;
  const f1 = (await ctx.api.must(200, 'GET', `/numbers/${N(101)}`)).flat;
  const f2 = (await ctx.api.must(200, 'GET', `/numbers/${N(102)}`)).flat;
  ctx.f1 = f1;
  ctx.f2 = f2;
  for (const f of [f1, f2]) await ctx.api.must(201, 'PUT', `/flats/${f.id}/gateway`);
  psql(`INSERT INTO dpn.gk_bindings (flat_id, contact, source_addr, source_port, transport, user_agent,
    call_id, cseq, registered_at, expires_at) VALUES (${f1.id}, 'sip:${N(101)}@127.23.0.1:5062',
    '127.23.0.1', 5062, 'udp', 'dpn-gatewayd/1.0', 'reg-1', 1, now() - interval '5 min', now() + interval '1 h')`);
  // 60 calls, one a minute: flat 101 answered (handset 2) or busy in turn,
  // the newest from flat 102 to flat 101.
  psql(`INSERT INTO dpn.calls (site_id, call_id, direction, caller, callee, callee_flat_id, answered_by,
    answered_handset, started_at, answered_at, ended_at, ended_by, status, reason)
    SELECT ${site.id}, 'web-' || i, 'in', '030555' || lpad(i::text, 4, '0'), '${N(101)}', ${f1.id},
      CASE WHEN i % 2 = 0 THEN '${N(101)}-2' END, CASE WHEN i % 2 = 0 THEN 2 END,
      now() - (i || ' min')::interval, CASE WHEN i % 2 = 0 THEN now() - (i || ' min')::interval
      + interval '3 s' END, now() - (i || ' min')::interval + interval '68 s',
      CASE WHEN i % 2 = 0 THEN 'caller' ELSE 'callee' END, CASE WHEN i % 2 = 0 THEN 200 ELSE 486 END,
      CASE WHEN i % 2 = 1 THEN 'Busy Here' END
    FROM generate_series(2, 60) i`);
  psql(`INSERT INTO dpn.calls (site_id, call_id, direction, caller, callee, caller_flat_id, callee_flat_id,
    started_at, ended_at, ended_by, status) VALUES (${site.id}, 'web-1', 'flat', '${N(102)}-1', '${N(101)}',
    ${f2.id}, ${f1.id}, now() - interval '30 s', now() - interval '20 s', 'caller', 487)`);
  checkEq(psql(`SELECT count(*) FROM dpn.calls`), '60', 'calls staged');
});

testCase('log_in', async (ctx) => {
  const { page } = ctx;
  await page.goto(URL + '/');
  await page.getByLabel('User name', { exact: true }).fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PW);
  await page.getByRole('button', { name: 'Log in' }).click();
  await heading(page, 'Complexes');
});

testCase('flat_page_shows_registration_and_recent_calls', async (ctx) => {
  const { page } = ctx;
  await page.goto(`${URL}/#/flats/${ctx.f1.id}`);
  await heading(page, 'Flat');
  const reg = page.locator('section.registration');
  await reg.locator('.badge', { hasText: 'registered' }).waitFor();
  const text = await reg.textContent();
  check(text.includes('127.23.0.1:5062 (udp)'), 'source address:port shown: ' + text);
  check(text.includes('dpn-gatewayd/1.0'), 'user agent shown: ' + text);
  check(/5 min ago/.test(text), 'registered since: ' + text);
  const recent = page.locator('section.recent-calls');
  await recent.locator('table.calls').waitFor();
  const r = await rows(page, 'section.recent-calls');
  checkEq(r.length, 10, 'ten recent calls');
  checkEq([r[0][1], r[0][2], r[0][3], r[0][4]], ['flat to flat', `${N(102)}-1`, N(101), '—'],
    'newest: flat to flat, not answered');
  check(r[0][5].startsWith('487') && r[0][5].includes('caller hung up'), 'outcome of a cancelled call: ' + r[0][5]);
  checkEq([r[1][4], r[1][5]], [`${N(101)}-2`, 'answered, 1 min 5 s · caller hung up'], 'an answered call');
  check(r[2][5].startsWith('486 Busy Here'), 'a busy call: ' + r[2][5]);
  await recent.getByRole('link', { name: 'Older calls of this flat' }).waitFor();
});

testCase('flat_without_registration_says_so', async (ctx) => {
  const { page } = ctx;
  await page.goto(`${URL}/#/flats/${ctx.f2.id}`);
  await heading(page, N(102).slice(-4));
  await page.locator('section.registration .badge', { hasText: 'not registered' }).waitFor();
  await rowCount(page, 1, 'section.recent-calls');   // flat 102 placed one call
});

testCase('calls_page_pages_and_filters', async (ctx) => {
  const { page } = ctx;
  await page.goto(`${URL}/#/sites/${ctx.site.id}`);
  await heading(page, 'Complex 100');
  await page.getByRole('link', { name: 'Calls', exact: true }).click();
  await heading(page, 'Calls of complex 100');
  await page.locator('table.calls').waitFor();
  checkEq((await rows(page, 'main')).length, 50, 'first page');
  await page.getByRole('link', { name: 'Older calls ›' }).click();
  await page.getByRole('link', { name: 'Newest calls' }).waitFor();
  const older = await rows(page, 'main');
  checkEq(older.length, 10, 'second page');
  checkEq(older[9][2], '0305550060', 'the oldest call last');
  check(await page.getByRole('link', { name: 'Older calls ›' }).count() === 0, 'no third page');
  await page.getByRole('link', { name: 'Newest calls' }).click();
  await page.getByRole('link', { name: 'Newest calls' }).waitFor({ state: 'detached' });
  await page.getByLabel('Number', { exact: true }).fill('030 555 0007');
  await page.getByRole('button', { name: 'Filter' }).click();
  await rowCount(page, 1);
  checkEq((await rows(page, 'main'))[0][2], '0305550007', 'number filter, spaces ignored');
  check(page.url().includes('number='), 'the filter is in the address');
  await page.getByLabel('Number', { exact: true }).fill('');
  await page.getByLabel('Outcome').selectOption('answered');
  await page.getByRole('button', { name: 'Filter' }).click();
  await rowCount(page, 30);
  const ans = await rows(page, 'main');
  check(ans.every((c) => c[5].startsWith('answered')), 'only answered calls');
  await page.getByLabel('Number', { exact: true }).fill('abc');
  await page.getByLabel('Outcome').selectOption('');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.locator('main .notice.error', { hasText: 'number must be digits' }).waitFor();
  check(await page.getByLabel('Number', { exact: true }).isVisible(), 'the filter stays to be corrected');
});

testCase('no_script_errors', async (ctx) => {
  checkEq(ctx.problems, [], 'console errors');
});

async function main() {
  if (!URL || !ADMIN || !ADMIN_PW) {
    console.error('calls.mjs: run test_web_calls.py');
    process.exit(2);
  }
  await runPage(URL, { width: 1280, height: 900 });
}

main();
