#!/usr/bin/env node
// tests/web/flat_settings.mjs — the flat page's reachability and call
// settings (web/js/pages/flat_settings.js) in headless Chromium against
// mgmtd and PostgreSQL (started by test_flat_settings.py): a gateway
// reports one handset registered through the broker as dpn-gatewayd does,
// the page shows it (and the other as not registered); the settings form
// puts refused values at their field and saves good ones; the DND switch
// changes the handset. A picture of the section goes to
// tests/web/artifacts/ (and docs/screenshots/ with UPDATE_SCREENSHOTS=1).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api, check, checkEq, runPage, testCase } from './browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const URL = process.env.DPN_WEB_URL;
const ADMIN = process.env.DPN_ADMIN_USER;
const ADMIN_PW = process.env.DPN_ADMIN_PASSWORD;

testCase('a_flat_with_a_gateway_that_reports_its_handsets', async (ctx) => {
  const a = ctx.api;
  await a.login(ADMIN, ADMIN_PW);
  const site = await a.must(201, 'POST', '/sites', { number: 300 });
  await a.must(201, 'POST', `/sites/${site.id}/pools`, { cidr: '127.21.0.0/24' });
  const b = await a.must(201, 'POST', `/sites/${site.id}/buildings`, { number: 1101 });
  const flat = await a.must(201, 'POST', `/buildings/${b.id}/flats`, { number: 1201 });
  const gw = await a.must(201, 'PUT', `/flats/${flat.id}/gateway`);
  ctx.hs = [];
  for (const n of [1, 2]) ctx.hs.push(await a.must(201, 'POST', `/flats/${flat.id}/handsets`, {}));
  const box = Api.basic(URL, gw.username, gw.secret);
  await box.must(200, 'POST', '/broker/allocate', { gateway_mac: '02:00:21:00:00:00', handset_macs: [] });
  const w = await box.must(200, 'PUT', '/broker/registrations', { handsets: [
    { suffix: 1, registered: true, since_s: 120, contact: 'sip:300-1101-1201-1@127.21.0.2:5062',
      user_agent: 'Yealink W73H', address: '127.21.0.2:5062' },
    { suffix: 2, registered: false }] });
  checkEq(w.written, 2, 'registrations written');
  ctx.flat = flat;
});

testCase('flat_page_shows_reachability', async (ctx) => {
  const { page } = ctx;
  await page.goto(URL + '/');
  await page.getByLabel('User name', { exact: true }).fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PW);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('main h1', { hasText: 'Complexes' }).first().waitFor();
  await page.goto(`${URL}/#/flats/${ctx.flat.id}`);
  const table = page.locator('table.reachability');
  await table.waitFor();
  const rows = await table.locator('tbody tr').allInnerTexts();
  checkEq(rows.length, 2, 'one row per handset');
  check(/300-1101-1201-1/.test(rows[0]) && /\bregistered\b/.test(rows[0]) && !/not registered/.test(rows[0]),
    'handset 1 registered: ' + rows[0]);
  check(/127\.21\.0\.2:5062/.test(rows[0]) && /Yealink W73H/.test(rows[0]) && /min ago/.test(rows[0]),
    'from, user agent, since: ' + rows[0]);
  check(/not registered/.test(rows[1]), 'handset 2 not registered: ' + rows[1]);
});

testCase('settings_form_shows_errors_at_their_field_and_saves', async (ctx) => {
  const { page } = ctx;
  const f = page.getByRole('form', { name: 'Call settings' });
  const save = f.getByRole('button', { name: 'Save call settings' });
  await f.getByLabel('Ring for (seconds)').fill('3');
  await save.click();
  await f.locator('[data-error-for="ring_timeout"]', { hasText: /between 5 and 90/ }).waitFor();
  checkEq(await f.getByLabel('Ring for (seconds)').getAttribute('aria-invalid'), 'true', 'ring field marked');
  await f.getByLabel('Ring for (seconds)').fill('20');
  await f.getByLabel('Forward', { exact: true }).selectOption('no_answer');
  await save.click();
  await f.locator('[data-error-for="forward_to"]', { hasText: /required/ }).waitFor();
  await f.getByLabel('Forward to').fill('call my mobile');
  await save.click();
  await f.locator('[data-error-for="forward_to"]', { hasText: /number|SIP/ }).waitFor();
  const before = await ctx.api.must(200, 'GET', `/flats/${ctx.flat.id}/settings`);
  checkEq(before.forward_when, 'never', 'nothing saved from refused forms');
  await f.getByLabel('Forward to').fill('+491711234567');
  await save.click();
  await page.waitForFunction(async (id) => {
    const r = await fetch(`/api/v1/flats/${id}/settings`);
    return (await r.json()).forward_when === 'no_answer';
  }, ctx.flat.id);
  const s = await ctx.api.must(200, 'GET', `/flats/${ctx.flat.id}/settings`);
  checkEq([s.ring_timeout, s.forward_to, s.forward_when], [20, '+491711234567', 'no_answer'], 'saved');
  const g = page.getByRole('form', { name: 'Call settings' });
  await g.waitFor();
  checkEq(await g.getByLabel('Forward to').inputValue(), '+491711234567', 'form shows the saved target');
});

testCase('dnd_switch_changes_the_handset', async (ctx) => {
  const { page } = ctx;
  const b = page.getByRole('button', { name: 'Do not disturb for 300-1101-1201-2' });
  checkEq(await b.getAttribute('aria-pressed'), 'false', 'off at first');
  await b.click();
  await page.locator('button[aria-pressed="true"]', { hasText: 'Do not disturb: on' }).waitFor();
  const s = await ctx.api.must(200, 'GET', `/flats/${ctx.flat.id}/settings`);
  checkEq(s.handsets.map((x) => x.dnd), [false, true], 'handset 2 on DND');
  checkEq(ctx.problems, [], 'browser console errors');
  const file = path.join(HERE, 'artifacts', 'flat-settings.png');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.locator('section.flat-settings').screenshot({ path: file });
  if (process.env.UPDATE_SCREENSHOTS === '1')
    fs.copyFileSync(file, path.join(HERE, '..', '..', 'docs', 'screenshots', 'flat-settings.png'));
});

async function main() {
  if (!URL || !ADMIN || !ADMIN_PW) {
    console.error('flat_settings.mjs: needs DPN_WEB_URL, DPN_ADMIN_USER, DPN_ADMIN_PASSWORD');
    process.exit(2);
  }
  await runPage(URL, { width: 1280, height: 900 });
}

main();
