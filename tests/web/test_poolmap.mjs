#!/usr/bin/env node
// tests/web/test_poolmap.mjs — the address map's pure parts (web/js/poolmap.js):
// address arithmetic at the ends of the IPv4 space, windows of pools from
// /8 to /30, and the state of each cell when blocks straddle a window's
// edges; and the utilisation bar's figures (web/js/poolbar.js), for an
// operator and for a building manager. No browser or server needed (the
// map itself is tested in admin.mjs).

import { checkEq, runCases, testCase } from './browser.mjs';
import { WINDOW, ipNum, ipText, span, states } from '../../web/js/poolmap.js';
import { counts, usage } from '../../web/js/poolbar.js';

testCase('addresses_convert_both_ways_at_the_ends', () => {
  for (const a of ['0.0.0.0', '0.0.0.1', '127.20.0.255', '128.0.0.0', '255.255.255.254', '255.255.255.255'])
    checkEq(ipText(ipNum(a)), a, 'round trip ' + a);
  checkEq(ipNum('255.255.255.255'), 4294967295, 'no sign trouble above 2^31');
  checkEq(ipNum('10.0.1.2'), 167772418, '10.0.1.2');
});

testCase('pools_are_cut_into_windows', () => {
  checkEq(span('127.20.0.0/24'), { base: ipNum('127.20.0.0'), end: ipNum('127.20.0.255'), windows: 1 }, '/24');
  checkEq(span('127.20.0.0/30').windows, 1, '/30');
  checkEq(span('127.20.0.0/22').windows, 1, '/22 is one window');
  checkEq(span('127.22.0.0/21').windows, 2, '/21');
  checkEq(span('10.0.0.0/16').windows, 65536 / WINDOW, '/16');
  checkEq(span('10.0.0.0/8'), { base: ipNum('10.0.0.0'), end: ipNum('10.255.255.255'), windows: 16384 }, '/8');
});

testCase('pool_bar_warns_only_on_what_it_knows', () => {
  // An operator: the whole pool. 248 of 254 allotted: warn.
  const op = usage({ size: 254, allotted: 248, free: 6, blocks: 31, assigned: 40 }, 8);
  checkEq([op.known, op.free, op.room, op.warn], [true, 6, 0, true], 'operator, nearly full');
  checkEq(counts({ size: 254, allotted: 248, blocks: 31, assigned: 40 }), { gw: 31, hs: 9, blk: 208, free: 6 }, 'states');
  // A manager (issue 15 item 7): their 80 addresses, free null. Nothing
  // is known of the rest, so no "0 addresses left" warning.
  const mgr = usage({ size: 254, allotted: 80, free: null, blocks: 10, assigned: 23 }, 8);
  checkEq([mgr.known, mgr.free, mgr.warn], [false, 174, false], 'manager');
  checkEq(usage({ size: 254, allotted: 240, free: null, blocks: 30 }, 8).warn, false, 'manager, own blocks fill it');
  // An older answer without free at all: computed.
  checkEq(usage({ size: 16, allotted: 12 }, 4), { pct: 0.75, free: 4, room: 1, known: true, warn: true }, 'no free field');
});

const block = (first, last, devs) => ({ first, last, assignments: devs.map(([address, device]) =>
  ({ address, device, mac: '02:00:00:00:00:01', online: false })) });

testCase('cells_take_the_state_of_their_address', () => {
  const sp = span('127.20.0.0/28');
  const blocks = [block('127.20.0.1', '127.20.0.4', [['127.20.0.1', 'gateway'], ['127.20.0.3', 'handset']]),
    block('127.20.0.9', '127.20.0.10', [])];
  const cells = states(blocks, sp.base, sp.end, sp);
  checkEq(cells.map((c) => c.cls), ['res', 'gw start', 'blk', 'hs', 'blk end', 'free', 'free', 'free', 'free',
    'blk start', 'blk end', 'free', 'free', 'free', 'free', 'res'], 'a /28');
  checkEq(cells.map((c) => c.block), [null, 0, 0, 0, 0, null, null, null, null, 1, 1, null, null, null, null, null],
    'block of each cell');
  checkEq(cells[3].dev.device, 'handset', 'the device of a cell');
});

testCase('a_block_across_a_window_edge_is_cut_without_its_ends', () => {
  const sp = span('127.22.0.0/21');
  const lo = ipNum('127.22.4.0');
  const blocks = [block('127.22.3.254', '127.22.4.3', [['127.22.3.254', 'gateway'], ['127.22.4.1', 'handset']])];
  const cells = states(blocks, lo, lo + WINDOW - 1, sp);
  checkEq(cells.length, WINDOW, 'cells of a window');
  checkEq(cells.slice(0, 5).map((c) => c.cls), ['blk', 'hs', 'blk', 'blk end', 'free'], 'the tail of the block');
  checkEq(cells[WINDOW - 1].cls, 'res', 'broadcast at the end of the last window');
  checkEq(states([], lo, lo, sp).map((c) => c.cls), ['free'], 'a window of one address');
});

process.exit(await runCases({}) ? 1 : 0);
