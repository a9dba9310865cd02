// web/js/numbers.js — number helpers for the pages: the flat numbering
// pattern of whole-building provisioning (for the live preview; mgmtd stays
// the authority) and search-box input clean-up. Pure functions: the browser
// tests and node can load this module as is.

const TOKEN = /\{(floor|unit)(?::0([1-9]))?\}/g;

/** Checks a pattern as mgmtd does: only digits and {floor} / {unit}
 *  tokens, optionally zero-padded to N digits ({unit:0N}, N 1-9); and, so
 *  that numbers do not repeat, each token at least once. Returns null when fine,
 *  otherwise a sentence for the pattern field. */
export function patternError(pattern) {
  if (!pattern) return 'Enter a pattern, e.g. {floor}{unit:02}.';
  const rest = pattern.replace(TOKEN, '');
  if (/[{}]/.test(rest)) return 'Only {floor} and {unit} (padded: {unit:02}) are allowed.';
  if (/[^0-9]/.test(rest)) return 'Besides the tokens, a pattern may hold digits only.';
  if (!/\{floor(:0[1-9])?\}/.test(pattern)) return 'The pattern needs {floor}.';
  if (!/\{unit(:0[1-9])?\}/.test(pattern)) return 'The pattern needs {unit}.';
  return null;
}

/** The flat number for floor and unit under pattern (no validation). */
export function expand(pattern, floor, unit) {
  return pattern.replace(TOKEN, (_, name, width) => {
    const v = String(name === 'floor' ? floor : unit);
    return width ? v.padStart(Number(width), '0') : v;
  });
}

/** Every flat number of a building, floor by floor:
 *  [{floor, numbers: [...]}, ...]. */
export function plan(pattern, floors, unitsPerFloor, firstFloor) {
  const out = [];
  for (let f = firstFloor; f < firstFloor + floors; f++) {
    const numbers = [];
    for (let u = 1; u <= unitsPerFloor; u++) numbers.push(expand(pattern, f, u));
    out.push({ floor: f, numbers });
  }
  return out;
}

/** Problems of a plan under a flat-number width: numbers too long, and the
 *  first number produced twice (as numbers: 0301 is 301). [] when none. */
export function planProblems(rows, width) {
  const seen = new Set();
  const problems = [];
  for (const r of rows) {
    for (const n of r.numbers) {
      const digits = n.replace(/^0+(?=\d)/, '');
      if (digits.length > width && !problems.some((p) => p.kind === 'long'))
        problems.push({ kind: 'long', text: `${n} has more than ${width} digits.` });
      if (seen.has(digits) && !problems.some((p) => p.kind === 'dup'))
        problems.push({ kind: 'dup', text: `${digits} would be created twice.` });
      seen.add(digits);
    }
  }
  return problems;
}

/** A flat number as the complex shows it: as a number (0301 is 301),
 *  zero-padded to the flat width (301 at width 4 is 0301); longer numbers
 *  are left as they are. */
export function shownFlat(n, width) {
  const digits = String(n).replace(/^0+(?=\d)/, '');
  return digits.padStart(width || 0, '0');
}

/** Search-box input reduced to what the API accepts: digits and dashes,
 *  spaces and dots read as dashes. Returns '' when it is not a number. */
export function cleanNumber(s) {
  const t = String(s || '').trim().replace(/[\s.]+/g, '-').replace(/-+/g, '-');
  return /^[0-9-]+$/.test(t) && /\d/.test(t) ? t.replace(/^-+|-+$/g, '') : '';
}
