// bench/web_admin.mjs — the browser half of bench/web_admin.sh (which starts
// PostgreSQL and mgmtd through tests/lib/web.py and passes DPN_WEB_URL,
// DPN_ADMIN_USER, DPN_ADMIN_PASSWORD, RUNS). Prints one line per figure: median and worst
// of RUNS, in milliseconds.

import { Api, launch } from '../tests/web/browser.mjs';

const URL = process.env.DPN_WEB_URL;
const RUNS = Math.min(20, Math.max(1, Number(process.env.RUNS) || 5));
const STEP_MS = 30000;

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

function report(what, times) {
  console.log(`${what.padEnd(58)} median ${median(times).toFixed(0).padStart(6)} ms   worst ${Math.max(...times).toFixed(0).padStart(6)} ms`);
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return ms(t0);
}

async function main() {
  const api = new Api(URL);
  await api.login(process.env.DPN_ADMIN_USER, process.env.DPN_ADMIN_PASSWORD);
  const site = await api.must(201, 'POST', '/sites',
    { number: 100, widths: { complex: 3, building: 4, flat: 6, handset: 1 } });
  await api.must(201, 'POST', `/sites/${site.id}/pools`, { cidr: '127.64.0.0/12' });
  const t0 = process.hrtime.bigint();
  const b = await api.must(201, 'POST', `/sites/${site.id}/buildings`,
    { number: 1101, floors: 100, units_per_floor: 100, pattern: '{floor}{unit:03}' });
  const provision = ms(t0);
  if (b.flats !== 10000) throw new Error('provisioned ' + b.flats + ' flats');
  console.log(`10,000 flats, 2 cores shared with other builds, ${RUNS} runs each`);
  report('provision 100 x 100 flats (POST, one request)', [provision]);

  const list = { first: [], last: [], filter: [], attention: [] };
  for (let i = 0; i < RUNS; i++) {
    list.first.push(await timed(() => api.must(200, 'GET', `/buildings/${b.id}/flats?page=1&per_page=100`)));
    list.last.push(await timed(() => api.must(200, 'GET', `/buildings/${b.id}/flats?page=100&per_page=100`)));
    list.filter.push(await timed(() => api.must(200, 'GET', `/buildings/${b.id}/flats?q=5050&per_page=100`)));
    list.attention.push(await timed(() => api.must(200, 'GET',
      `/buildings/${b.id}/flats?state=attention&page=100&per_page=100`)));
  }
  report('API flat list, page 1 of 100', list.first);
  report('API flat list, page 100 of 100', list.last);
  report('API flat list, q=5050', list.filter);
  report('API flat list, state=attention, page 100 of 100', list.attention);

  const browser = await launch({ width: 1280, height: 800 });
  try {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(STEP_MS);
    await page.goto(URL + '/');
    await page.getByLabel('User name', { exact: true }).fill(process.env.DPN_ADMIN_USER);
    await page.getByLabel('Password', { exact: true }).fill(process.env.DPN_ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('main h1', { hasText: 'Complexes' }).waitFor();
    const ui = { first: [], last: [], filter: [], attention: [], search: [] };
    for (let i = 0; i < RUNS; i++) {
      await page.goto(URL + '/#/');
      await page.locator('main h1', { hasText: 'Complexes' }).waitFor();
      ui.first.push(await timed(async () => {
        await page.goto(`${URL}/#/buildings/${b.id}`);
        await page.locator('.pager-info', { hasText: '1–100 of 10000' }).waitFor();
      }));
      ui.last.push(await timed(async () => {
        await page.goto(`${URL}/#/buildings/${b.id}?page=100`);
        await page.locator('.pager-info', { hasText: '9901–10000 of 10000' }).waitFor();
      }));
      ui.filter.push(await timed(async () => {
        await page.goto(`${URL}/#/buildings/${b.id}?q=5050`);
        await page.locator('table.flats tbody tr', { hasText: '5050' }).first().waitFor();
      }));
      ui.attention.push(await timed(async () => {
        await page.goto(`${URL}/#/buildings/${b.id}?state=attention`);
        await page.locator('.pager-info', { hasText: '1–100 of 10000' }).waitFor();
      }));
      ui.search.push(await timed(async () => {
        const box = page.getByLabel('Find a flat or handset by number');
        await box.fill('100-1101-' + String(7000 + i * 11 + 1).padStart(6, '0'));
        await box.press('Enter');
        await page.locator('main h1', { hasText: 'Flat ' + String(7000 + i * 11 + 1).padStart(6, '0') }).waitFor();
      }));
    }
    report('page: building, flats 1–100 shown', ui.first);
    report('page: building, flats 9901–10000 shown', ui.last);
    report('page: building filtered to 5050', ui.filter);
  report('page: building, only flats needing attention', ui.attention);
    report('page: number search (100-1101-0070xx) to its flat page', ui.search);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
