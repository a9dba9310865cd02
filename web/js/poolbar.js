// web/js/poolbar.js — a pool's utilisation bar, split by address state
// (gateway, handset, in a block but unused, free), with its figures and the
// near-exhaustion warning. Built from GET /sites/{id}/utilisation counts,
// so the states are shown by share; poolmap.js places them address by
// address.

import { h, plural } from './dom.js';

const WARN_AT = 0.9;
const LABEL = { gw: 'gateway', hs: 'handset', blk: 'allotted, unused', free: 'free' };

/** Share of a pool in use and whether to warn: {pct, free, room, warn,
 *  known}. It warns from 90 % allotted, or when fewer than two more blocks
 *  of blockSize fit (small pools run out long before 90 %). `room` counts
 *  whole blocks the free addresses could hold (an upper bound: free space
 *  may be split). A manager's figures count only their buildings and
 *  their `free` is null (known: false): then `free` is what is not theirs
 *  and nothing warns, since how full the pool is cannot be told. */
export function usage(pool, blockSize) {
  const size = Number(pool.size) || 0;
  const allotted = Number(pool.allotted) || 0;
  const pct = size ? allotted / size : 0;
  const known = pool.free !== null;
  const free = pool.free !== undefined && known ? Number(pool.free) : size - allotted;
  const room = blockSize > 0 ? Math.floor(free / blockSize) : Infinity;
  return { pct, free, room, known, warn: known && size > 0 && (pct >= WARN_AT || room < 2) };
}

/** Addresses of a pool by state, from the utilisation counts: every block
 *  has its gateway at its first address (a schema invariant), the other
 *  assignments are handsets. {gw, hs, blk, free}. */
export function counts(pool) {
  const size = Number(pool.size) || 0;
  const allotted = Number(pool.allotted) || 0;
  const blocks = Number(pool.blocks) || 0;
  const assigned = pool.assigned !== undefined ? Number(pool.assigned) : blocks;
  const gw = Math.min(blocks, assigned);
  return { gw, hs: Math.max(0, assigned - gw), blk: Math.max(0, allotted - assigned),
    free: Math.max(0, size - allotted) };
}

/** The utilisation bar, split by state, with its figures and a warning
 *  near exhaustion (blockSize: the site's block size, for that warning).
 *  `mine` (a building manager's view): the counts are of their buildings
 *  only, so what is not theirs reads "free or another building's", as on
 *  the address map. */
export function bar(pool, blockSize, mine) {
  const u = usage(pool, blockSize);
  const c = counts(pool);
  const label = (k) => (k === 'free' && mine ? 'free or another building\'s' : LABEL[k]);
  const size = Number(pool.size) || 1;
  const segs = ['gw', 'hs', 'blk'].filter((k) => c[k] > 0).map((k) => {
    const seg = h('span', { class: 'bar-seg ' + k, title: `${label(k)}: ${c[k]}` });
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
      ` allotted${mine ? ' to your buildings' : ''} · ${pool.allotted} of ${pool.size} addresses · `
        + (u.known ? `${u.free} ${label('free')} · ` : ''),
      plural(pool.blocks ?? 0, 'block')),
    h('p', { class: 'legend' }, ['gw', 'hs', 'blk', 'free'].map((k) => h('span', { class: 'key' },
      h('span', { class: 'cell ' + k }), `${label(k)} ${c[k]}`))),
    u.warn && h('p', { class: 'notice warn', role: 'status',
      text: `Nearly exhausted: ${u.free} addresses left in ${pool.cidr}` +
        (!Number.isFinite(u.room) ? '' : u.room === 0 ? `, no room for another block of ${blockSize}`
          : `, room for at most ${u.room} more block${u.room === 1 ? '' : 's'} of ${blockSize}`) +
        '. Add a pool to this complex.' }));
}

/** A complex's pools in one table cell: a small bar and "34.6 % of 254",
 *  flagged when the complex as a whole nears exhaustion. */
export function summary(pools, blockSize) {
  if (!pools.length) return h('span', { class: 'badge off', text: 'no pool' });
  const total = pools.reduce((t, p) => ({ size: t.size + Number(p.size || 0),
    allotted: t.allotted + Number(p.allotted || 0) }), { size: 0, allotted: 0 });
  const u = usage(total, blockSize);
  const fill = h('span', { class: 'bar-seg hs' });
  fill.style.width = Math.min(100, u.pct * 100).toFixed(1) + '%';
  return h('div', { class: 'mini' + (u.warn ? ' warn' : '') },
    h('span', { class: 'bar', 'aria-hidden': 'true' }, fill),
    h('span', { class: 'mini-text', text: `${(u.pct * 100).toFixed(1)}% of ${total.size}` }),
    u.warn && h('span', { class: 'badge warn', text: 'nearly full' }));
}
