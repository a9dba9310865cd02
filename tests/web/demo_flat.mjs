#!/usr/bin/env node
// tests/web/demo_flat.mjs — what a newcomer sees in the admin after `make
// demo` and `scripts/call` (run by tests/integration/test_demo.sh against the
// running demo, in headless Chromium): the flat page of DPN_DEMO_FLAT shows
// the gateway registered, both simulated handsets registered from their own
// addresses, and the call just made answered by DPN_DEMO_ANSWERED. A picture
// of the page goes to tests/web/artifacts/demo-flat.png.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, runPage, testCase } from './browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const URL = process.env.DPN_WEB_URL;
const ADMIN = process.env.DPN_ADMIN_USER;
const ADMIN_PW = process.env.DPN_ADMIN_PASSWORD;
const FLAT = process.env.DPN_DEMO_FLAT;
const ANSWERED = process.env.DPN_DEMO_ANSWERED;

const cells = (page, sel) => page.locator(sel + ' tbody tr').evaluateAll((trs) =>
  trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim()).join(' | ')));

testCase('demo_flat_page_shows_registrations_and_the_call', async (ctx) => {
  const { page } = ctx;
  await ctx.api.login(ADMIN, ADMIN_PW);
  const flat = (await ctx.api.must(200, 'GET', '/numbers/' + FLAT)).flat;
  await page.goto(URL + '/');
  await page.getByLabel('User name', { exact: true }).fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PW);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('main h1', { hasText: 'Complexes' }).first().waitFor();
  await page.goto(`${URL}/#/flats/${flat.id}`);
  await page.locator('section.registration .badge', { hasText: /^registered$/ }).waitFor();
  await page.locator('table.reachability').waitFor();
  const hs = await cells(page, 'table.reachability');
  check(hs.length === 2, 'two handsets: ' + hs.join(' / '));
  for (const [i, row] of hs.entries()) {
    check(row.includes(`${FLAT}-${i + 1}`) && /\bregistered\b/.test(row) && !/not registered/.test(row),
      `handset ${i + 1} registered: ${row}`);
    check(/127\.16\.\d+\.\d+:\d+/.test(row) && row.includes('dpn-demo-handset'),
      `handset ${i + 1} from its address, user agent: ${row}`);
  }
  await page.locator('section.recent-calls table.calls').waitFor();
  const calls = await cells(page, 'section.recent-calls');
  check(calls.length >= 1 && calls[0].includes(ANSWERED) && calls[0].includes('answered'),
    `the call, answered by ${ANSWERED}: ${calls[0]}`);
  const file = path.join(HERE, 'artifacts', 'demo-flat.png');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
});

if (!URL || !ADMIN || !ADMIN_PW || !FLAT || !ANSWERED) {
  console.error('demo_flat.mjs: needs DPN_WEB_URL, DPN_ADMIN_USER, DPN_ADMIN_PASSWORD, DPN_DEMO_FLAT, DPN_DEMO_ANSWERED');
  process.exit(2);
}
runPage(URL, { width: 1280, height: 1000 });
