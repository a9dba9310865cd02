// web/js/poolmap.js — a pool's address map: one cell per address, 64 to a
// row, coloured by state (gateway, handset, allotted but unused, free; the
// network and broadcast addresses hatched), each flat's block drawn as one
// piece. Pools larger than WINDOW addresses are shown a window at a time,
// each window read from GET /pools/{id}/blocks?from=ADDRESS (at most
// WINDOW / 2 blocks, so at most two pages of 500). Hovering a cell or
// focusing a block says what it is in a tooltip beside it (a 16-row map
// is taller than what is left of an 800 px screen: text under it would be
// out of sight); a block is a link to its flat. The map is one tab stop:
// arrow keys move between blocks, Enter opens the flat.

import * as api from './api.js';
import { h, nextId, notice, plural } from './dom.js';

export const WINDOW = 1024;
const COLS = 64;
const PER_PAGE = 500;

/** Dotted quad <-> number. */
export const ipNum = (s) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
export const ipText = (n) => [24, 16, 8, 0].map((b) => Math.floor(n / 2 ** b) % 256).join('.');

/** Network, broadcast and number of windows of a CIDR "a.b.c.d/n". */
export function span(cidr) {
  const [net, bits] = cidr.split('/');
  const base = ipNum(net);
  const count = 2 ** (32 - Number(bits));
  return { base, end: base + count - 1, windows: Math.ceil(count / WINDOW) };
}

/** The blocks of pool poolId that hold an address in [lo, hi], in order. */
async function blocksIn(poolId, lo, hi) {
  const out = [];
  let from = lo;
  for (let i = 0; i < Math.ceil(WINDOW / 2 / PER_PAGE) + 1; i++) {
    const r = await api.get(`/pools/${poolId}/blocks`, { from: ipText(from), per_page: PER_PAGE });
    for (const b of r.blocks) {
      if (ipNum(b.first) > hi) return out;
      out.push(b);
    }
    if (r.blocks.length < PER_PAGE) return out;
    from = ipNum(r.blocks[r.blocks.length - 1].last) + 1;
  }
  return out;
}

/** State of each address of [lo, hi] (numbers) of the pool of span sp,
 *  given the blocks that hold some of them: [{a, cls, block (index into
 *  blocks or null), dev (the assignment or null)}]. */
export function states(blocks, lo, hi, sp) {
  const cells = [];
  for (let a = lo; a <= hi; a++)
    cells.push({ a, cls: a === sp.base || a === sp.end ? 'res' : 'free', block: null, dev: null });
  blocks.forEach((b, i) => {
    const first = ipNum(b.first);
    const last = ipNum(b.last);
    const devs = new Map(b.assignments.map((x) => [ipNum(x.address), x]));
    for (let a = Math.max(first, lo); a <= Math.min(last, hi); a++) {
      const c = cells[a - lo];
      const dev = devs.get(a) || null;
      c.block = i;
      c.dev = dev;
      c.cls = dev ? (dev.device === 'gateway' ? 'gw' : 'hs') : 'blk';
      if (a === first) c.cls += ' start';
      if (a === last) c.cls += ' end';
    }
  });
  return cells;
}

function deviceText(d) {
  const who = d.device === 'gateway' ? 'gateway' : `handset ${d.suffix ?? ''}`.trim();
  return `${who} · ${d.mac} · ${d.online ? 'online' : 'offline'}`;
}

function cellText(c, b, operator) {
  const addr = ipText(c.a);
  if (c.cls === 'res') return `${addr} · network or broadcast address, never given out`;
  if (!b) return `${addr} · ${operator ? 'free' : 'free or another building\'s'}`;
  const flat = `flat ${b.full_number} (building ${b.building_number})`;
  return `${addr} · ${flat} · ${c.dev ? deviceText(c.dev) : 'allotted, unused'}`;
}

function blockText(b) {
  const hs = b.assignments.filter((x) => x.device === 'handset').length;
  const gw = b.assignments.find((x) => x.device === 'gateway');
  return `Flat ${b.full_number}: block ${b.first}–${b.last} (${b.size} addresses), ` +
    `gateway ${gw ? gw.address : 'none'}, ${hs} handset${hs === 1 ? '' : 's'}`;
}

/** The elements of the cells: {nodes, links (per block, its first cell
 *  in the window: an <a> to its flat), byBlock (per block, its cells)}. */
function cellNodes(blocks, cells) {
  const links = [];
  const byBlock = blocks.map(() => []);
  const nodes = cells.map((c) => {
    const b = c.block === null ? null : blocks[c.block];
    // A block's first cell in the window is its link (its tab stop).
    const isLink = b && !links[c.block];
    const data = b ? { a: ipText(c.a), b: String(c.block) } : { a: ipText(c.a) };
    const el = isLink
      ? h('a', { class: 'cell ' + c.cls, href: '#/flats/' + b.flat_id, tabindex: -1,
        'aria-label': blockText(b), dataset: data })
      : h('span', { class: 'cell ' + c.cls, dataset: data });
    if (isLink) links[c.block] = el;
    if (b) byBlock[c.block].push(el);
    return el;
  });
  return { nodes, links, byBlock };
}

/** The grid of one window: cells, the blocks' links and keyboard moves. */
function grid(blocks, cells, detail, ctx) {
  const { nodes, links, byBlock } = cellNodes(blocks, cells);
  const g = h('div', { class: 'map-grid', role: 'group' }, rows(cells, nodes));
  const byAddr = new Map(cells.map((c) => [ipText(c.a), c]));
  const say = (el) => {
    const c = el && el.dataset.a && byAddr.get(el.dataset.a);
    if (c) tip(detail, el, cellText(c, c.block === null ? null : blocks[c.block], ctx.isOperator));
    else if (focused < 0) tip(detail, null);
  };
  let focused = -1;
  const mark = (i, on) => { for (const el of byBlock[i] || []) el.classList.toggle('sel', on); };
  const order = links.filter(Boolean);
  if (order.length) order[0].tabIndex = 0;
  const move = (i) => {
    if (i < 0 || i >= blocks.length || !links[i]) return;
    for (const l of order) l.tabIndex = -1;
    links[i].tabIndex = 0;
    links[i].focus();
  };
  g.addEventListener('mouseover', (ev) => say(ev.target.closest('.cell')));
  const sayBlock = (i) => tip(detail, links[i], blockText(blocks[i]) + ' · Enter opens the flat');
  g.addEventListener('mouseleave', () => {
    if (focused >= 0) sayBlock(focused);
    else tip(detail, null);
  });
  g.addEventListener('focusin', (ev) => {
    const i = Number(ev.target.dataset.b);
    if (focused >= 0) mark(focused, false);
    focused = i;
    mark(i, true);
    sayBlock(i);
  });
  g.addEventListener('focusout', () => {
    if (focused >= 0) mark(focused, false);
    focused = -1;
    tip(detail, null);
  });
  g.addEventListener('click', (ev) => {
    const el = ev.target.closest('.cell[data-b]');
    if (!el || el.tagName === 'A') return;
    ctx.go('#/flats/' + blocks[Number(el.dataset.b)].flat_id);
  });
  g.addEventListener('keydown', (ev) => {
    if (focused < 0) return;
    const at = (a) => { const c = byAddr.get(ipText(a)); return c && c.block !== null ? c.block : -1; };
    const first = ipNum(blocks[focused].first);
    const step = {
      ArrowRight: () => focused + 1, ArrowLeft: () => focused - 1, Home: () => 0,
      End: () => blocks.length - 1,
      ArrowDown: () => nearest(at, first + COLS, 1, focused + 1),
      ArrowUp: () => nearest(at, first - COLS, -1, focused - 1),
    }[ev.key];
    if (!step) return;
    ev.preventDefault();
    move(step());
  });
  return g;
}

/** Shows text in the tooltip `box` next to cell `el` (below its row, or
 *  above it in the lower half of the map, kept inside the map's width);
 *  hides it when el is null. */
function tip(box, el, text) {
  if (!el) { box.hidden = true; return; }
  box.textContent = text;
  box.hidden = false;
  // Width first (at the left edge it may take its natural width), then the
  // height it has where it lands.
  box.style.left = '0px';
  const host = box.parentElement.getBoundingClientRect();
  const r = el.getBoundingClientRect();
  const w = Math.ceil(box.getBoundingClientRect().width) + 1;
  box.style.left = Math.floor(Math.max(0, Math.min(r.left - host.left - 12, host.width - w))) + 'px';
  const below = r.top - host.top < host.height / 2;
  const top = below ? r.bottom - host.top + 6 : r.top - host.top - box.offsetHeight - 6;
  box.style.top = Math.round(top) + 'px';
  box.classList.toggle('above', !below);
}

/** The cells with a label before each row: the row's first address, its
 *  last octet only when the whole window shares the first three. */
function rows(cells, nodes) {
  const lo = cells[0].a;
  const short = Math.floor(lo / 256) === Math.floor(cells[cells.length - 1].a / 256);
  const out = [];
  nodes.forEach((el, i) => {
    if (i % COLS === 0) {
      const t = ipText(cells[i].a);
      out.push(h('span', { class: 'row-label', 'aria-hidden': 'true',
        text: short ? '.' + t.split('.')[3] : t.split('.').slice(2).join('.') }));
    }
    out.push(el);
  });
  return out;
}

/** The block at address a, else the first block met walking from a in
 *  direction dir within one row, else fallback. */
function nearest(at, a, dir, fallback) {
  for (let k = 0; k < COLS; k++) {
    const i = at(a + dir * k);
    if (i >= 0) return i;
  }
  return fallback;
}

function legend(operator) {
  const keys = [['gw', 'gateway'], ['hs', 'handset'], ['blk', 'allotted, unused'],
    ['free', operator ? 'free' : 'free or another building\'s'], ['res', 'network / broadcast']];
  return h('p', { class: 'legend map-legend' }, keys.map(([k, label]) => h('span', { class: 'key' },
    h('span', { class: 'cell ' + k }), label)));
}

/** "Go to address" for a pool of several windows: calls show(address
 *  number) for an address of the pool, else says what is wrong. */
function gotoForm(cidr, sp, show) {
  const id = nextId('goto');
  const err = h('span', { class: 'field-error', id: id + '-err', 'aria-live': 'polite' });
  const input = h('input', { id, name: 'address', type: 'text', inputmode: 'decimal', autocomplete: 'off',
    spellcheck: 'false', placeholder: sp.base === 0 ? '' : ipText(sp.base + 1), 'aria-describedby': id + '-err' });
  const f = h('form', { class: 'map-goto', role: 'search' },
    h('label', { for: id, text: 'Go to address' }), input, h('button', { type: 'submit', class: 'small', text: 'Show' }),
    err);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    const ok = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
    const a = ok && ok.slice(1).every((o) => Number(o) <= 255) ? ipNum(t) : -1;
    err.textContent = a < 0 ? 'Type an address like ' + ipText(sp.base + 1)
      : a < sp.base || a > sp.end ? `${t} is not in ${cidr}` : '';
    input.toggleAttribute('aria-invalid', !!err.textContent);
    if (!err.textContent) show(a);
  });
  return f;
}

/** The map of pool {pool_id|id, cidr}: a node that fills itself in (reads
 *  the blocks of its first window at once). ctx: the page context (go,
 *  isOperator). */
export function map(pool, ctx) {
  const id = pool.pool_id ?? pool.id;
  const sp = span(pool.cidr);
  const body = h('div', { class: 'map-body' }, h('p', { class: 'loading', text: 'Loading the address map…' }));
  const nav = h('div', { class: 'map-nav' });
  const sec = h('div', { class: 'poolmap' },
    h('div', { class: 'map-head' }, h('h4', { text: 'Address map' }), nav), legend(ctx.isOperator), body);
  let seq = 0;
  const goto = sp.windows > 1 && gotoForm(pool.cidr, sp, (a) => show(Math.floor((a - sp.base) / WINDOW), a));
  const show = async (w, found) => {
    const mine = ++seq;
    const lo = sp.base + w * WINDOW;
    const hi = Math.min(sp.end, lo + WINDOW - 1);
    nav.replaceChildren(...(sp.windows > 1 ? [...pager(w, lo, hi, show), goto] : []));
    let blocks;
    try {
      blocks = await blocksIn(id, lo, hi);
    } catch (e) {
      if (mine === seq) body.replaceChildren(notice('error', 'Address map unavailable: ' + e.message));
      return;
    }
    if (mine !== seq) return;
    const hint = h('p', { class: 'map-hint',
      text: blocks.length ? 'Point at a cell or Tab to a block to see what it holds; click a block to open its flat.'
        : 'No block in these addresses.' });
    const detail = h('p', { class: 'map-detail', role: 'status', hidden: true });
    const g = grid(blocks, states(blocks, lo, hi, sp), detail, ctx);
    g.setAttribute('aria-label', `Addresses ${ipText(lo)} to ${ipText(hi)}: ${plural(blocks.length, 'block')}`);
    body.replaceChildren(hint, h('div', { class: 'map-area' }, g, detail));
    const el = found !== undefined && g.querySelector(`[data-a="${ipText(found)}"]`);
    if (el) {
      el.classList.add('found');
      el.dispatchEvent(new Event('mouseover', { bubbles: true }));
    }
  };
  const pager = (w, lo, hi, go) => [
    h('button', { type: 'button', class: 'small', disabled: w === 0, onclick: () => go(w - 1), text: '‹ Lower' }),
    h('span', { class: 'map-range', text: `${ipText(lo)} – ${ipText(hi)} · ${w + 1} of ${sp.windows}` }),
    h('button', { type: 'button', class: 'small', disabled: w >= sp.windows - 1, onclick: () => go(w + 1),
      text: 'Higher ›' })];
  show(0);
  return sec;
}
