// web/js/dom.js — small DOM helpers shared by the pages: element building,
// forms that show API errors next to their field, tables, a pager, notices,
// a confirmation dialog and copy-to-clipboard. No inline styles or handlers:
// the CSP forbids them, so everything is attached here.

import { ApiError } from './api.js';

/** Builds an element. attrs: `class`, `text`, `on<event>` functions,
 *  `dataset` object, booleans (set when true), others as attributes.
 *  Children: nodes, strings, numbers, arrays; null/false are skipped. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) { el.replaceChildren(); return el; }

let uid = 0;
export const nextId = (p) => (p || 'f') + '-' + (++uid);

/** A labelled field. opts: name, label, type, value, hint, required,
 *  min/max, options ([value,label] for a select), multiple, autocomplete,
 *  autofocus (the page focuses it when shown), disabled (say why in hint).
 *  The error slot below it is found by the field's name. */
export function field(opts) {
  const id = nextId('fld');
  const errId = id + '-err';
  const hintId = opts.hint ? id + '-hint' : null;
  const common = {
    id, name: opts.name, required: !!opts.required, disabled: !!opts.disabled,
    'aria-describedby': [hintId, errId].filter(Boolean).join(' '),
    autocomplete: opts.autocomplete || 'off',
    dataset: opts.autofocus ? { autofocus: '' } : undefined,
  };
  let input;
  if (opts.options) {
    input = h('select', { ...common, multiple: !!opts.multiple, size: opts.size },
      opts.options.map(([v, l]) => h('option', { value: v, selected: sameValue(opts.value, v) }, l)));
  } else {
    input = h('input', {
      ...common, type: opts.type || 'text', value: opts.value ?? '',
      min: opts.min, max: opts.max, inputmode: opts.inputmode,
      placeholder: opts.placeholder, spellcheck: 'false',
    });
  }
  return h('div', { class: 'field' + (opts.wide ? ' wide' : '') },
    h('label', { for: id, text: opts.label }),
    input,
    hintId && h('p', { class: 'hint', id: hintId, text: opts.hint }),
    h('p', { class: 'field-error', id: errId, dataset: { errorFor: opts.name }, 'aria-live': 'polite' }));
}

function sameValue(cur, v) {
  return Array.isArray(cur) ? cur.map(String).includes(String(v)) : String(cur ?? '') === String(v);
}

/** Clears the errors a form shows. */
export function clearErrors(form) {
  for (const p of form.querySelectorAll('.field-error, .form-error')) p.textContent = '';
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

/** Shows err on form: next to the named field when the API names one that
 *  the form has (dotted names match the field or its last part), otherwise
 *  in the form's error line. Focuses the field at fault. The sentence is
 *  said in the form's words: words(err, label) when it gives one, else the
 *  API's sentence with the field's name replaced by its label. */
export function showError(form, err, words) {
  const msg = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  const name = err && err.field;
  const slot = name && findErrorSlot(form, name);
  if (slot) {
    const input = form.querySelector('[name="' + CSS.escape(slot.dataset.errorFor) + '"]');
    const label = input && input.labels && input.labels[0] ? input.labels[0].textContent : null;
    slot.textContent = (words && words(err, label)) || inFormWords(msg, name, label);
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
    return;
  }
  const line = form.querySelector('.form-error');
  if (line) line.textContent = (words && words(err, null)) || (name ? msg + ' (' + name + ')' : msg);
}

/** An API sentence about field `name` in a form's words: its leading field
 *  name becomes the field's label ("suffix must be 1 to 9" under "Handset
 *  number (optional)" reads "Handset number must be 1 to 9"), a site is a
 *  complex, as everywhere in the admin, and the sentence starts with a
 *  capital. */
export function inFormWords(msg, name, label) {
  let out = String(msg);
  const short = name ? name.split('.').pop() : null;
  const what = label ? label.replace(/\s*\(.*\)\s*$/, '').trim() : null;
  for (const n of [name, short]) {
    if (what && n && out.startsWith(n + ' ')) { out = what + out.slice(n.length); break; }
  }
  out = out.replace(/\bsites\b/g, 'complexes').replace(/\bsite('s)?\b/g, 'complex$1');
  return out.charAt(0).toUpperCase() + out.slice(1);
}

function findErrorSlot(form, name) {
  const slots = [...form.querySelectorAll('[data-error-for]')];
  return slots.find((s) => s.dataset.errorFor === name)
    || slots.find((s) => s.dataset.errorFor === name.split('.').pop());
}

/** A form whose submit runs `action(values, form)`; while it runs the submit
 *  button is disabled; a rejection is shown in place (in the form's words:
 *  see showError) and nothing typed is lost (inputs are never reset here). */
export function form(attrs, children, action, submitLabel, words) {
  const button = h('button', { type: 'submit', class: 'primary', text: submitLabel || 'Save' });
  const f = h('form', { ...attrs, novalidate: true },
    children, h('p', { class: 'form-error', role: 'alert' }), h('div', { class: 'actions' }, button));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(f);
    button.disabled = true;
    try {
      await action(values(f), f);
    } catch (e) {
      showError(f, e, words);
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

/** Values of a form's named controls: strings, arrays for multi-selects. */
export function values(f) {
  const out = {};
  for (const el of f.elements) {
    if (!el.name) continue;
    if (el.multiple) out[el.name] = [...el.selectedOptions].map((o) => o.value);
    else out[el.name] = el.value.trim();
  }
  return out;
}

/** An integer from a form string, or the string itself when it is not one,
 *  so the server names the field in its answer instead of us guessing. */
export function intOr(s) {
  return /^-?\d+$/.test(s) ? Number(s) : s;
}

/** A table. cols: [{label, cell(row) -> node|string, class}]; opts: class,
 *  caption (for screen readers), empty (text when no rows), rowClass(row). */
export function table(cols, rows, opts = {}) {
  if (!rows.length) return h('p', { class: 'empty', text: opts.empty || 'Nothing here yet.' });
  return h('div', { class: 'table-wrap' }, h('table', { class: opts.class },
    opts.caption && h('caption', { class: 'sr-only', text: opts.caption }),
    h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c.class, text: c.label })))),
    h('tbody', null, rows.map((r) => h('tr', { class: opts.rowClass && opts.rowClass(r) },
      cols.map((c) => h('td', { class: c.class }, c.cell(r))))))));
}

/** Prev/next pager for a server-side list answer {total, page, per_page};
 *  go(page) moves. */
export function pager(list, go, noun) {
  const pages = Math.max(1, Math.ceil(list.total / list.per_page));
  const first = list.total ? (list.page - 1) * list.per_page + 1 : 0;
  const last = Math.min(list.total, list.page * list.per_page);
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: list.page <= 1, onclick: () => go(list.page - 1), text: '‹ Previous' }),
    h('span', { class: 'pager-info', text: `${first}–${last} of ${list.total} ${noun || ''} · page ${list.page} of ${pages}` }),
    h('button', { type: 'button', disabled: list.page >= pages, onclick: () => go(list.page + 1), text: 'Next ›' }));
}

/** A notice line: kind is 'info', 'ok', 'warn' or 'error'. */
export function notice(kind, text) {
  return h('p', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status', text });
}

/** Asks a yes/no question in a modal dialog; resolves true when confirmed. */
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger', text: confirmLabel || 'Delete' });
    const no = h('button', { type: 'button', text: 'Cancel' });
    const dlg = h('dialog', { class: 'confirm', 'aria-label': 'Confirm' },
      h('p', { text: question }), h('div', { class: 'actions' }, no, yes));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    no.focus();
  });
}

/** A button that copies text() to the clipboard and says so. */
export function copyButton(text, label) {
  const b = h('button', { type: 'button', class: 'copy', text: label || 'Copy' });
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      b.textContent = 'Copied';
    } catch {
      b.textContent = 'Select and copy';
    }
    setTimeout(() => { b.textContent = label || 'Copy'; }, 2000);
  });
  return b;
}

/** "3 min ago"-style age of an ISO time, with the exact time as title. */
export function timeAgo(iso) {
  if (!iso) return h('span', { class: 'muted', text: 'never' });
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  const s = Math.round((Date.now() - t.getTime()) / 1000);
  let txt;
  if (s < 60) txt = 'just now';
  else if (s < 3600) txt = Math.floor(s / 60) + ' min ago';
  else if (s < 86400) txt = Math.floor(s / 3600) + ' h ago';
  else txt = t.toISOString().slice(0, 16).replace('T', ' ');
  return h('time', { datetime: t.toISOString(), title: t.toISOString(), text: txt });
}

/** An ISO time as "2026-11-21 20:00:14" in the browser's zone, exact
 *  time with zone as title. */
export function timeAt(iso) {
  const t = new Date(iso);
  if (!iso || Number.isNaN(t.getTime())) return String(iso ?? '');
  const p = (n) => String(n).padStart(2, '0');
  const txt = `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ` +
    `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}`;
  return h('time', { datetime: t.toISOString(), title: t.toISOString(), text: txt });
}

/** "1 block", "2 blocks": n and the noun, plural unless n is 1. */
export const plural = (n, noun, many) => `${n} ${Number(n) === 1 ? noun : many || noun + 's'}`;

/** A link inside the app. */
export const link = (href, text, cls) => h('a', { href, class: cls, text });

/** A one-field filter form for a server-side list; submit calls go(text). */
export function filterForm(label, q, go, inputmode) {
  const id = nextId('filter');
  const f = h('form', { class: 'filter', role: 'search' },
    h('label', { for: id, text: label }),
    h('input', { id, name: 'q', type: 'search', value: q, inputmode, autocomplete: 'off' }),
    h('button', { type: 'submit', text: 'Filter' }));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(f.elements.q.value.trim());
  });
  return f;
}

/** The hash of a list page: base plus page, filter and extra parameters
 *  (an object; empty values left out), when set. */
export function listHash(base, page, q, extra) {
  const p = new URLSearchParams();
  if (page > 1) p.set('page', page);
  if (q) p.set('q', q);
  for (const [k, v] of Object.entries(extra || {})) if (v) p.set(k, v);
  const s = p.toString();
  return s ? base + '?' + s : base;
}
