#!/usr/bin/env node
// tests/web/test_numbers.mjs — the page-side number helpers of web/js/numbers.js
// (provisioning preview, search-box clean-up) on good, odd and garbage input.
// Pure functions: no browser or server needed.

import { check, checkEq, runCases, testCase } from './browser.mjs';
import { cleanNumber, expand, patternError, plan, planProblems, shownFlat } from '../../web/js/numbers.js';

testCase('default_pattern_gives_1201_for_floor_12_unit_1', () => {
  checkEq(expand('{floor}{unit:02}', 12, 1), '1201', 'floor 12 unit 1');
  checkEq(expand('{floor:02}{unit:02}', 3, 4), '0304', 'padded floor');
  checkEq(expand('9{floor}0{unit}', 1, 2), '9102', 'literal digits kept');
});

testCase('flat_numbers_are_shown_padded_to_the_flat_width', () => {
  checkEq(['301', '0301', '00301', '1201', '12345', '0'].map((n) => shownFlat(n, 4)),
    ['0301', '0301', '0301', '1201', '12345', '0000'], 'width 4');
  checkEq(shownFlat(7, 1), '7', 'width 1');
});

testCase('plan_lists_every_flat_floor_by_floor', () => {
  const rows = plan('{floor}{unit:02}', 10, 4, 3);
  checkEq(rows.length, 10, 'floors');
  checkEq(rows[0], { floor: 3, numbers: ['301', '302', '303', '304'] }, 'first floor');
  checkEq(rows[9].numbers, ['1201', '1202', '1203', '1204'], 'top floor');
  checkEq(rows.flatMap((r) => r.numbers).length, 40, 'flats');
  checkEq(plan('{floor}{unit}', 0, 4, 1), [], 'no floors');
});

testCase('plan_problems_name_long_and_repeated_numbers', () => {
  checkEq(planProblems(plan('{floor}{unit:02}', 10, 4, 3), 4), [], 'a fine plan');
  const long = planProblems(plan('{floor}{unit:03}', 100, 2, 1), 4);
  checkEq(long.map((p) => p.kind), ['long'], 'too long for width 4');
  check(long[0].text.startsWith('10001 '), 'names the first long number: ' + long[0].text);
  const dup = planProblems(plan('{floor}{unit}', 12, 12, 1), 4);
  checkEq(dup.map((p) => p.kind), ['dup'], '1+11 and 11+1 give 111 twice');
  const zero = planProblems(plan('{floor:02}{unit}', 2, 1, 0).concat(plan('{floor}{unit}', 1, 1, 1)), 4);
  checkEq(zero.map((p) => p.text), ['11 would be created twice.'], '011 and 11 are one number');
});

testCase('pattern_errors_for_bad_patterns', () => {
  checkEq(patternError('{floor}{unit:02}'), null, 'default');
  checkEq(patternError('{floor:02}-{unit}') !== null, true, 'dash');
  checkEq(patternError('{floor:09}{unit:01}'), null, 'padding 1-9');
  for (const bad of ['', '{floor}', '{unit}', '{floor}{unit}{room}', '{floor}{unit:x}', '{{floor}}{unit}',
    '{floor}{unit:2}', '{floor}{unit:00}', '{floor}{unit:010}', '{Floor}{unit}',
    '{floor}{unit}x', '<script>{floor}{unit}', '{floor}{unit', '\u0661{floor}{unit}'])
    check(patternError(bad) !== null, 'accepted bad pattern ' + JSON.stringify(bad));
});

testCase('search_box_input_cleaned_or_refused', () => {
  checkEq(cleanNumber(' 100-1101-1201 '), '100-1101-1201', 'dashed');
  checkEq(cleanNumber('10011011201'), '10011011201', 'dashless');
  checkEq(cleanNumber('100 1101 1201 1'), '100-1101-1201-1', 'spaces');
  checkEq(cleanNumber('100.1101.1201'), '100-1101-1201', 'dots');
  checkEq(cleanNumber('--1201--'), '1201', 'stray dashes');
  for (const bad of ['', '   ', '-', 'abc', '1201a', '12/01', '1e3', '١٢٠١', null, undefined, '1201;drop'])
    checkEq(cleanNumber(bad), '', 'garbage ' + JSON.stringify(bad));
  checkEq(cleanNumber('9'.repeat(5000)).length, 5000, 'long input passes through (the API caps it)');
});

process.exit(await runCases({}) ? 1 : 0);
