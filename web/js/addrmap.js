// web/js/addrmap.js — a pool's utilisation bar, split by address state
// (gateway, handset, in a block but unused, free), and its address map: every
// address (or, in big pools, every run of addresses) as a square coloured by
// state. The bar needs the utilisation counts only; the map needs the pool's
// blocks as a list ({first, last, assignments}), which mgmtd does not give
// yet, so the map is drawn only when it does.

import { h } from './dom.js';

const MAX_CELLS = 1024;
const WARN_AT = 0.9;
const RANK = { free: 0, blk: 1, hs: 2, gw: 3 };
const LABEL = { gw: 'gateway', hs: 'handset', blk: 'allotted, unused', free: 'free' };

export function ipToInt(s) {
  const p = String(s).split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return NaN;
  return ((p[0] * 256 + p[1]) * 256 + p[2]) * 256 + p[3];
}

export function intToIp(n) {
  return [n >>> 24 & 255, n >>> 16 & 255, n >>> 8 & 255, n & 255].join('.');
}

/** First address and size of a CIDR, or null. */
export function cidrRange(cidr) {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(String(cidr));
  if (!m) return null;
  const bits = Number(m[2]);
  const base = ipToInt(m[1]);
  if (Number.isNaN(base) || bits > 32) return null;
  const size = 2 ** (32 - bits);
  return { first: base - (base % size), size };
}

/** Share of a pool in use and whether to warn: {pct, warn, free}. */
export function usage(pool) {
  const size = Number(pool.size) || 0;
  const allotted = Number(pool.allotted) || 0;
  const pct = size ? allotted / size : 0;
  const free = pool.free !== undefined ? Number(pool.free) : size - allotted;
  return { pct, free, warn: size > 0 && pct >= WARN_AT };
}

/** Addresses of a pool by state, from the utilisation counts: every block
 *  has its gateway at its first address (a schema invariant), the other
 *  assignments are handsets. {gw, hs, blk, free}. */
export function counts(pool) {
  const size = Number(pool.size) || 0;
  const allotted = Number(pool.allotted) || 0;
  const blocks = Array.isArray(pool.blocks) ? pool.blocks.length : Number(pool.blocks) || 0;
  const assigned = pool.assigned !== undefined ? Number(pool.assigned) : blocks;
  const gw = Math.min(blocks, assigned);
  return { gw, hs: Math.max(0, assigned - gw), blk: Math.max(0, allotted - assigned),
    free: Math.max(0, size - allotted) };
}

/** The utilisation bar, split by state, with its figures and a warning
 *  near exhaustion. */
export function bar(pool) {
  const u = usage(pool);
  const c = counts(pool);
  const size = Number(pool.size) || 1;
  const segs = ['gw', 'hs', 'blk'].filter((k) => c[k] > 0).map((k) => {
    const seg = h('span', { class: 'bar-seg ' + k, title: `${LABEL[k]}: ${c[k]}` });
    seg.style.width = (c[k] / size * 100).toFixed(2) + '%';
    return seg;
  });
  return h('div', { class: 'usage' + (u.warn ? ' warn' : '') },
    h('div', {
      class: 'bar', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': pool.size,
      'aria-valuenow': pool.allotted, 'aria-label': 'Addresses allotted in ' + pool.cidr,
      'aria-valuetext': `${pool.allotted} of ${pool.size} allotted`,
    }, segs),
    h('p', { class: 'usage-text' },
      h('strong', { text: `${(u.pct * 100).toFixed(1)}%` }),
      ` allotted · ${pool.allotted} of ${pool.size} addresses · ${u.free} free · `,
      `${Array.isArray(pool.blocks) ? pool.blocks.length : (pool.blocks ?? 0)} blocks`),
    h('p', { class: 'legend' }, ['gw', 'hs', 'blk', 'free'].map((k) => h('span', { class: 'key' },
      h('span', { class: 'cell ' + k }), `${LABEL[k]} ${c[k]}`))),
    u.warn && h('p', { class: 'notice warn', role: 'status',
      text: `Nearly exhausted: only ${u.free} addresses left in ${pool.cidr}. Add a pool to this complex.` }));
}

/** Address state per offset in the pool, from the blocks list. */
function states(range, blocks) {
  const st = new Uint8Array(range.size);
  for (const b of blocks) {
    const first = ipToInt(b.first) - range.first;
    const last = ipToInt(b.last) - range.first;
    if (!(first >= 0 && last < range.size && first <= last)) continue;
    for (let i = first; i <= last; i++) st[i] = RANK.blk;
    for (const a of usedAddresses(b)) {
      const i = ipToInt(a.address) - range.first;
      if (i >= first && i <= last) st[i] = a.gateway ? RANK.gw : RANK.hs;
    }
  }
  return st;
}

// A block's used addresses as [{address, gateway}], from whichever the API
// gives: `assignments` [{address, device|kind}], or `gateway` + `handsets`.
function usedAddresses(b) {
  if (Array.isArray(b.assignments))
    return b.assignments.map((a) => ({ address: a.address,
      gateway: a.kind === 'gateway' || a.device === 'gateway' || a.address === b.first && !!a.gateway }));
  const out = [];
  if (b.gateway) out.push({ address: typeof b.gateway === 'string' ? b.gateway : b.first, gateway: true });
  if (Array.isArray(b.handsets))
    for (const x of b.handsets) out.push({ address: typeof x === 'string' ? x : x.address, gateway: false });
  return out;
}

/** The address map of a pool (each address placed where it is), or null
 *  when the answer does not list the pool's blocks. */
export function map(pool) {
  const range = cidrRange(pool.cidr);
  if (!range || !Array.isArray(pool.blocks)) return null;
  const st = states(range, pool.blocks);
  const per = Math.max(1, 2 ** Math.ceil(Math.log2(range.size / MAX_CELLS)));
  const cells = [];
  const count = { gw: 0, hs: 0, blk: 0, free: 0 };
  const names = Object.keys(RANK);
  for (let i = 0; i < range.size; i += per) {
    let r = 0;
    for (let j = i; j < i + per && j < range.size; j++) r = Math.max(r, st[j]);
    const name = names[r];
    const where = per === 1 ? intToIp(range.first + i)
      : intToIp(range.first + i) + '–' + intToIp(range.first + i + per - 1);
    cells.push(h('span', { class: 'cell ' + name, title: where + ': ' + LABEL[name] }));
  }
  for (const v of st) count[names[v]]++;
  return h('figure', { class: 'addrmap' },
    h('div', { class: 'cells', role: 'img', 'aria-label':
      `Address map of ${pool.cidr}: ${count.gw} gateways, ${count.hs} handsets, ` +
      `${count.blk} allotted but unused, ${count.free} free` }, cells),
    h('figcaption', null,
      names.slice().reverse().map((n) => h('span', { class: 'key' },
        h('span', { class: 'cell ' + n }), `${LABEL[n]} ${count[n]}`)),
      per > 1 && h('span', { class: 'muted', text: ` · one square = ${per} addresses` })));
}
