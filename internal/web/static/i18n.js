// SPLIT page translations (docs/i18n.md): the hub's catalog for one language,
// texts by key with {name} placeholders.
//
//   import { loadI18n, t, applyI18n, currentLang, formatDateTime } from './i18n.js';
//   const lang = await loadI18n({ lang: 'es', entry: 'support' });
//   applyI18n();                       // data-i18n / data-i18n-attr elements
//   t('customer.queue.position', { position: 3 });
//
// The hub picks the language (GET /i18n/catalog.json?lang=&entry=): the
// `lang` asked for if it has it (es-MX → es), else the entry point's
// language, else the browser's Accept-Language, else its default. Its
// `messages` are that language over English, so every key has a text.
//
// In the HTML, an element's data-i18n attribute names the key of its text;
// data-i18n-attr names attributes and their keys, as "attribute:key" pairs
// separated by ";" (placeholder, aria-label, title, alt…). The HTML
// keeps the English texts: they are the defaults when the catalog cannot be
// fetched (the page still works, in English), also for the texts that only
// scripts show (a <template> of data-i18n elements holds those).
//
// Keys are literal strings at every call of t() (never computed):
// a unit test finds them in the pages and checks every shipped language has
// them (internal/i18n).

const state = {
  lang: 'en',
  languages: ['en'],
  messages: null, // the catalog's texts; null: not loaded (or not reachable)
  loaded: false,
};
const defaults = new Map(); // key → the English text found in the HTML
const warned = new Set();

function collectDefaults(root) {
  if (!root || !root.querySelectorAll) return;
  const nodes = [...root.querySelectorAll('[data-i18n], [data-i18n-attr], template')];
  if (root.matches && root.matches('[data-i18n], [data-i18n-attr]')) nodes.unshift(root);
  for (const node of nodes) {
    if (node.tagName === 'TEMPLATE') { collectDefaults(node.content); continue; }
    const key = node.getAttribute('data-i18n');
    if (key && !defaults.has(key)) defaults.set(key, node.textContent.trim().replace(/\s+/g, ' '));
    for (const [attr, k] of attrPairs(node)) {
      if (!defaults.has(k) && node.hasAttribute(attr)) defaults.set(k, node.getAttribute(attr));
    }
  }
}

function attrPairs(node) {
  const spec = node.getAttribute && node.getAttribute('data-i18n-attr');
  if (!spec) return [];
  const out = [];
  for (const part of spec.split(';')) {
    const i = part.indexOf(':');
    if (i <= 0) continue;
    const attr = part.slice(0, i).trim();
    const key = part.slice(i + 1).trim();
    if (attr && key) out.push([attr, key]);
  }
  return out;
}

/**
 * Fetch the catalog (server: the hub's origin, default this page's; lang: a
 * language tag asked for, or none; entry: the entry point's name, for its
 * configured language). Sets <html lang>. Resolves to the chosen language
 * ("en" when the catalog cannot be fetched: the HTML's English stays).
 */
export async function loadI18n({ server, lang, entry } = {}) {
  if (typeof document !== 'undefined') collectDefaults(document);
  const base = String(server || location.origin).replace(/\/+$/, '');
  const q = new URLSearchParams();
  if (lang) q.set('lang', String(lang));
  if (entry) q.set('entry', String(entry));
  let body = null;
  for (let attempt = 0; attempt < 2 && !body; attempt++) {
    if (attempt) await new Promise((r) => setTimeout(r, 400));
    try {
      const res = await fetch(`${base}/i18n/catalog.json${q.toString() ? `?${q}` : ''}`, {
        headers: { Accept: 'application/json' },
        credentials: 'omit',
      });
      if (res.ok) {
        const b = await res.json();
        if (b && b.messages && typeof b.messages === 'object') body = b;
      } else if (res.status < 500) {
        break; // no catalog on this hub: no point in asking again
      }
    } catch { /* network: try once more */ }
  }
  if (body) {
    state.messages = body.messages;
    state.lang = typeof body.lang === 'string' && body.lang ? body.lang : 'en';
    state.languages = Array.isArray(body.languages) ? body.languages.slice() : [state.lang];
    state.loaded = true;
  } else {
    console.warn('i18n: the catalog could not be fetched; the page stays in English');
    state.messages = null;
    state.lang = 'en';
    state.loaded = false;
  }
  if (typeof document !== 'undefined') document.documentElement.lang = state.lang;
  return state.lang;
}

/**
 * The text of key in the current language, {name} placeholders replaced by
 * vars[name]. Unknown key: the English text of the HTML, else the key itself
 * (with one console warning per key).
 */
export function t(key, vars) {
  let text = state.messages && Object.hasOwn(state.messages, key) ? state.messages[key] : undefined;
  if (typeof text !== 'string') text = defaults.get(key);
  if (typeof text !== 'string') {
    if (!warned.has(key)) {
      warned.add(key);
      console.warn(`i18n: no text for ${key}`);
    }
    return key;
  }
  if (!vars) return text;
  return text.replace(/\{([A-Za-z0-9_]+)\}/g, (m, name) => (Object.hasOwn(vars, name) && vars[name] != null ? String(vars[name]) : m));
}

/**
 * Translate root (an element or the document) and what it holds: the text of
 * [data-i18n] elements, the attributes named by [data-i18n-attr].
 */
export function applyI18n(root = document) {
  if (!root) return;
  collectDefaults(root);
  const nodes = root.querySelectorAll ? [...root.querySelectorAll('[data-i18n], [data-i18n-attr]')] : [];
  if (root.matches && root.matches('[data-i18n], [data-i18n-attr]')) nodes.unshift(root);
  for (const node of nodes) {
    if (node.closest && node.closest('template')) continue;
    const key = node.getAttribute('data-i18n');
    if (key) {
      const text = t(key);
      if (node.textContent !== text) node.textContent = text;
    }
    for (const [attr, k] of attrPairs(node)) {
      const text = t(k);
      if (node.getAttribute(attr) !== text) node.setAttribute(attr, text);
    }
  }
}

/** The language in use ("en" until a catalog says otherwise). */
export function currentLang() {
  return state.lang;
}

/** The languages the hub has. */
export function availableLanguages() {
  return state.languages.slice();
}

/** Whether a catalog was loaded (false: English texts of the HTML). */
export function i18nLoaded() {
  return state.loaded;
}

// The locale for dates and numbers: the browser's own variant of the
// current language when it has one (en-GB: 24-hour times; es-MX), else the
// language itself.
function locale() {
  const langs = (typeof navigator !== 'undefined' && (navigator.languages || [navigator.language])) || [];
  for (const l of langs) {
    if (typeof l === 'string' && l.split('-')[0].toLowerCase() === state.lang) return l;
  }
  return state.lang;
}

/**
 * date (a Date, a timestamp or an ISO string) in the current language and
 * the browser's time zone (the customer's). opts: Intl.DateTimeFormat
 * options (default: full date and short time); opts.timeZone overrides.
 */
export function formatDateTime(date, opts) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '';
  const o = { ...(opts || { dateStyle: 'full', timeStyle: 'short' }) };
  if (!o.timeZone) {
    try { o.timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch { /* the default zone */ }
  }
  try {
    return new Intl.DateTimeFormat(locale(), o).format(d);
  } catch {
    try { return d.toLocaleString(state.lang); } catch { return d.toISOString(); }
  }
}
