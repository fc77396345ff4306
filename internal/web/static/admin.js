// SPLIT admin view: active sessions, queues and agents, refreshed every 2 s
// from the REST API with the hub's API key.
//
// The key comes from the URL fragment (#key=…, then removed from the address
// bar) or the form, and is kept in sessionStorage (this tab only).
// URL parameters: key=<API key> (fragment), server=<url> (default: this origin),
// interval=<ms> (default 2000), lang=<tag> (the page's language, default the
// browser's: the texts are admin.* of the hub's catalog, docs/i18n.md).
//
// window.splitApp = {sessions, queues, agents, error, updatedAt, refresh(),
// endSession(id), supervise(session, agent, mode), signIn(key), signOut()}.
import { loadI18n, t, applyI18n, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const hashParams = new URLSearchParams(location.hash.replace(/^#/, ''));
for (const [k, v] of hashParams) params.set(k, v);

const KEY = 'split.admin.key';
const base = (() => {
  const s = params.get('server');
  if (!s) return location.origin;
  try {
    const u = new URL(s, location.href);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    if (u.protocol === 'wss:') u.protocol = 'https:';
    return u.origin;
  } catch {
    return location.origin;
  }
})();
const interval = Math.max(500, Number(params.get('interval')) || 2000);

// ---- language ----------------------------------------------------------------
// The catalog loads first (not longer than 3 s: then the page starts in
// English and is translated when it comes).
const lang = (() => {
  const l = String(params.get('lang') || '').trim();
  return /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(l) ? l.replace(/^[A-Za-z]+/, (m) => m.toLowerCase()) : undefined;
})();
let started = false;
const i18nLoad = loadI18n({ server: base, lang }).catch(() => 'en').then(() => {
  applyI18n();
  if (started) renderAll(); // late: what the script wrote meanwhile
});
const i18nReady = Promise.race([i18nLoad, new Promise((r) => setTimeout(r, 3000))]);

// The locale for times: the browser's when it is of the page's language.
function locale() {
  const l = currentLang();
  const nav = navigator.language || '';
  return nav.split('-')[0].toLowerCase() === l ? nav : l;
}

const el = {
  status: $('status'),
  error: $('error'),
  updated: $('updated'),
  login: $('login'),
  loginForm: $('login-form'),
  apiKey: $('api-key'),
  dashboard: $('dashboard'),
  refresh: $('refresh'),
  pause: $('pause'),
  signOut: $('sign-out'),
  sessions: $('sessions').tBodies[0],
  sessionsCount: $('sessions-count'),
  sessionsEmpty: $('sessions-empty'),
  queues: $('queues').tBodies[0],
  queuesEmpty: $('queues-empty'),
  agents: $('agents').tBodies[0],
  agentsEmpty: $('agents-empty'),
};

const data = { sessions: [], queues: [], agents: [], error: null, updatedAt: null };
let key = '';
let timer = null;
let polling = false;
let paused = false;
let generation = 0;

// ---- helpers ----------------------------------------------------------------

function setStatus(text) {
  if (el.status.textContent !== text) el.status.textContent = text;
}

function showError(text) {
  data.error = text || null;
  if (el.error.textContent !== (text || '')) el.error.textContent = text || '';
  el.error.hidden = !text;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, payload) {
  let res;
  try {
    const headers = { Authorization: `Bearer ${key}`, Accept: 'application/json' };
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    res = await fetch(base + path, {
      method,
      headers,
      body: payload === undefined ? undefined : JSON.stringify(payload),
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'network', t('admin.error.network', { error: err.message || err }));
  }
  let body = null;
  if (res.status !== 204) {
    try { body = await res.json(); } catch { /* not JSON */ }
  }
  if (!res.ok) {
    const e = body && body.error;
    if (res.status === 401) throw new ApiError(401, 'unauthorized', 'wrong API key');
    throw new ApiError(res.status, (e && e.code) || `http_${res.status}`, `${method} ${path}: ${(e && e.message) || `HTTP ${res.status}`}`);
  }
  return body;
}

function duration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

function since(ts) {
  const t = Date.parse(ts);
  if (!Number.isFinite(t)) return '—';
  return duration((Date.now() - t) / 1000);
}

function sessionState(st) {
  switch (st) {
    case 'created': return t('admin.session_state.created');
    case 'routing': return t('admin.session_state.routing');
    case 'waiting': return t('admin.session_state.waiting');
    case 'ringing': return t('admin.session_state.ringing');
    case 'active': return t('admin.session_state.active');
    case 'transferring': return t('admin.session_state.transferring');
    case 'ended': return t('admin.session_state.ended');
    default: return text(st);
  }
}

// An agent's state as shown (the cell's data-state keeps the value).
function agentState(st) {
  switch (st) {
    case 'logged_out': return t('admin.agent_state.logged_out');
    case 'not_ready': return t('admin.agent_state.not_ready');
    case 'ready': return t('admin.agent_state.ready');
    case 'ringing': return t('admin.agent_state.ringing');
    case 'busy': return t('admin.agent_state.busy');
    case 'wrap_up': return t('admin.agent_state.wrap_up');
    case undefined: case null: case '': return t('admin.agent_state.unknown');
    default: return String(st);
  }
}

function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : '—';
}

function text(v) {
  if (v == null || v === '') return '—';
  if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === 'object' && x ? x.name || x.id || JSON.stringify(x) : String(x))).join(', ') : '—';
  if (typeof v === 'object') return v.name || v.id || JSON.stringify(v);
  return String(v);
}

// Keyed table update: rows keep their identity (and focus) across refreshes.
function syncRows(tbody, items, keyOf, cells, build) {
  const existing = new Map([...tbody.rows].map((r) => [r.dataset.key, r]));
  const seen = new Set();
  let prev = null;
  for (const item of items) {
    const k = String(keyOf(item));
    seen.add(k);
    let row = existing.get(k);
    if (!row) {
      row = document.createElement('tr');
      row.setAttribute('role', 'row'); // explicit roles: the table is shown as blocks on narrow screens
      row.dataset.key = k;
      if (build) build(row, item);
    }
    const values = cells(item);
    const dataCells = [...row.children].filter((c) => !c.classList.contains('actions'));
    values.forEach((v, i) => {
      let cell = dataCells[i];
      if (!cell) {
        cell = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) cell.scope = 'row';
        cell.setAttribute('role', i === 0 ? 'rowheader' : 'cell');
        // the column's name, shown before the value where rows are cards (narrow screens)
        const head = tbody.parentElement.tHead && tbody.parentElement.tHead.rows[0].cells[i];
        if (head && head.textContent.trim()) cell.dataset.label = head.textContent.trim();
        row.insertBefore(cell, row.querySelector(':scope > .actions'));
        dataCells[i] = cell;
      }
      if (typeof v === 'object' && v && 'text' in v) {
        if (cell.textContent !== v.text) cell.textContent = v.text;
        if (v.className && cell.className !== v.className) cell.className = v.className;
        if (v.title) cell.title = v.title;
        if (v.state !== undefined) cell.dataset.state = v.state;
      } else if (cell.textContent !== v) {
        cell.textContent = v;
      }
    });
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (row !== want) tbody.insertBefore(row, want);
    prev = row;
  }
  for (const [k, row] of existing) if (!seen.has(k)) row.remove();
}

// ---- rendering ---------------------------------------------------------------------

function renderSessions() {
  const list = data.sessions;
  syncRows(el.sessions, list, (s) => s.id, (s) => {
    const legs = Array.isArray(s.legs) ? s.legs : [];
    return [
      { text: String(s.id || '—'), className: 'mono' },
      text(s.mode),
      { text: sessionState(s.state), className: 'state', state: s.state || '' },
      text(s.queue),
      text(s.customer && s.customer.name),
      text(s.agent && (s.agent.name || s.agent.id)),
      { text: legs.length ? legs.map((l) => `${l.role || '?'}/${l.kind || '?'}`).join(', ') : '—', title: legs.map((l) => l.id).join(' ') },
      { text: since(s.created_at), className: 'num' },
    ];
  }, (row, s) => {
    const td = document.createElement('td');
    td.className = 'actions';
    td.setAttribute('role', 'cell');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn small danger';
    b.textContent = t('admin.sessions.end');
    b.setAttribute('aria-label', t('admin.sessions.end_label', { id: s.id }));
    b.addEventListener('click', () => endSession(s.id, b));
    td.append(b);
    row.append(td);
  });
  el.sessionsCount.textContent = `(${list.length})`;
  el.sessionsEmpty.hidden = list.length > 0;
}

function renderQueues() {
  const list = data.queues;
  syncRows(el.queues, list, (q) => q.name, (q) => [
    text(q.name),
    { text: num(q.waiting), className: 'num' },
    { text: duration(q.longest_wait_seconds), className: 'num' },
    { text: duration(q.ewt_seconds), className: 'num' },
    { text: num(q.agents_ready), className: 'num' },
    { text: num(q.agents_busy), className: 'num' },
    { text: num(q.agents_logged_in), className: 'num' },
    { text: num(q.answered), className: 'num' },
    { text: num(q.abandoned), className: 'num' },
  ]);
  el.queuesEmpty.hidden = list.length > 0;
}

// The "Listen to a session" form: active sessions and connected agents.
function renderSupervise() {
  const fill = (sel, items) => {
    const want = items.map(([v, t]) => `${v}\t${t}`).join('\n');
    if (sel.dataset.items === want) return;
    const cur = sel.value;
    sel.replaceChildren(...items.map(([v, t]) => new Option(t, v)));
    sel.dataset.items = want;
    if (items.some(([v]) => v === cur)) sel.value = cur;
  };
  fill($('sup-session'), data.sessions.filter((s) => s.state === 'active').map((s) => [s.id, t('admin.supervise.session_option', {
    customer: (s.customer && s.customer.name) || t('admin.customer'),
    agent: s.agent ? (s.agent.name || s.agent.id) : t('admin.no_agent'),
    id: String(s.id).slice(-8),
  })]));
  fill($('sup-agent'), data.agents.filter((a) => a.state !== 'busy').map((a) => [a.id, t('admin.supervise.agent_option', { name: a.name || a.id, state: agentState(a.state) })]));
}

async function supervise(sessionId, agent, mode) {
  try {
    await api('POST', `/v1/sessions/${encodeURIComponent(sessionId)}/participants`, { kind: 'supervisor', agent, mode });
    setStatus(mode === 'barge' ? t('admin.supervise.ringing_barge', { agent }) : mode === 'whisper' ? t('admin.supervise.ringing_whisper', { agent })
      : t('admin.supervise.ringing_monitor', { agent }));
    return true;
  } catch (err) {
    showError(t('admin.error.listen', { error: err.message }));
    return false;
  }
}

$('supervise-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const sid = $('sup-session').value;
  const agent = $('sup-agent').value;
  if (sid && agent) supervise(sid, agent, $('sup-mode').value);
});

function renderAgents() {
  renderSupervise();
  const list = data.agents;
  syncRows(el.agents, list, (a) => a.id, (a) => [
    { text: String(a.id || '—'), className: 'mono' },
    text(a.name),
    { text: a.state ? agentState(a.state) : '—', className: 'state', state: a.state || '' },
    { text: text(a.session), className: 'mono' },
    text(a.queues),
  ]);
  el.agentsEmpty.hidden = list.length > 0;
}

// ---- polling ---------------------------------------------------------------------------

function schedule() {
  clearTimeout(timer);
  timer = null;
  if (key && !paused) timer = setTimeout(refresh, interval);
}

async function refresh() {
  if (!key || polling) return;
  polling = true;
  const gen = generation;
  const results = await Promise.allSettled([
    api('GET', '/v1/sessions?active=true'),
    api('GET', '/v1/queues'),
    api('GET', '/v1/agents'),
  ]);
  polling = false;
  if (gen !== generation) { // signed out or in again meanwhile
    if (key) refresh();
    return;
  }
  const errors = [];
  const [s, q, a] = results;
  if (s.status === 'fulfilled') data.sessions = (s.value && s.value.sessions) || [];
  else errors.push(s.reason);
  if (q.status === 'fulfilled') data.queues = (q.value && q.value.queues) || [];
  else errors.push(q.reason);
  if (a.status === 'fulfilled') data.agents = (a.value && a.value.agents) || [];
  else errors.push(a.reason);
  if (errors.some((e) => e && e.status === 401)) {
    signOut(t('admin.error.wrong_key'));
    showError(t('admin.error.wrong_key'));
    return;
  }
  renderSessions();
  renderQueues();
  renderAgents();
  if (errors.length) {
    const msgs = [...new Set(errors.map((e) => (e && e.message) || String(e)))];
    showError(msgs.join(' · '));
  } else {
    showError('');
  }
  data.updatedAt = new Date();
  el.updated.textContent = t('admin.updated', { time: data.updatedAt.toLocaleTimeString(locale()) });
  schedule();
}

async function endSession(id, button) {
  if (!id) return false;
  if (button) button.disabled = true;
  try {
    await api('DELETE', `/v1/sessions/${encodeURIComponent(id)}`);
    setStatus(t('admin.status.ended', { id }));
    data.sessions = data.sessions.filter((s) => s.id !== id);
    renderSessions();
    refresh();
    return true;
  } catch (err) {
    if (err.status === 401) {
      signOut(t('admin.error.wrong_key'));
      showError(t('admin.error.wrong_key'));
    } else {
      showError(t('admin.error.end', { id, error: err.message }));
    }
    if (button) button.disabled = false;
    return false;
  }
}

function signIn(k) {
  key = String(k || '').trim();
  if (!key) return;
  try { sessionStorage.setItem(KEY, key); } catch { /* ignore */ }
  generation++;
  showError('');
  el.login.hidden = true;
  el.dashboard.hidden = false;
  setStatus(t('admin.status.signed_in'));
  refresh();
}

function signOut(message = t('admin.status.signed_out')) {
  generation++;
  key = '';
  clearTimeout(timer);
  timer = null;
  polling = false;
  try { sessionStorage.removeItem(KEY); } catch { /* ignore */ }
  data.sessions = [];
  data.queues = [];
  data.agents = [];
  renderSessions();
  renderQueues();
  renderAgents();
  el.dashboard.hidden = true;
  el.login.hidden = false;
  el.updated.textContent = '';
  setStatus(message);
  el.apiKey.value = '';
  el.apiKey.focus();
}

// ---- wiring ---------------------------------------------------------------------------

el.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  signIn(el.apiKey.value);
});
el.refresh.addEventListener('click', () => { clearTimeout(timer); refresh(); });
el.pause.addEventListener('click', () => {
  paused = !paused;
  el.pause.setAttribute('aria-pressed', String(paused));
  setStatus(paused ? t('admin.status.paused') : t('admin.status.resumed'));
  if (paused) clearTimeout(timer);
  else refresh();
});
el.signOut.addEventListener('click', () => signOut());
document.addEventListener('visibilitychange', () => {
  // Catch up at once when the tab becomes visible again.
  if (document.visibilityState === 'visible' && key && !paused) { clearTimeout(timer); refresh(); }
});

window.splitApp = {
  get sessions() { return data.sessions; },
  get queues() { return data.queues; },
  get agents() { return data.agents; },
  get error() { return data.error; },
  get updatedAt() { return data.updatedAt; },
  refresh: () => refresh(),
  endSession: (id) => endSession(id),
  supervise: (sessionId, agent, mode) => supervise(sessionId, agent, mode),
  signIn: (k) => signIn(k),
  signOut: () => signOut(),
};

// ---- start -----------------------------------------------------------------------------

function renderAll() {
  renderSessions();
  renderQueues();
  renderAgents();
  if (data.updatedAt) el.updated.textContent = t('admin.updated', { time: data.updatedAt.toLocaleTimeString(locale()) });
  if (!key) setStatus(t('admin.status.sign_in'));
}

let initial = hashParams.get('key') || '';
if (initial) {
  // Keep the key out of the address bar and the history.
  hashParams.delete('key');
  const rest = hashParams.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
} else {
  try { initial = sessionStorage.getItem(KEY) || ''; } catch { /* ignore */ }
}
// The wallboard in the same language.
if (lang) for (const a of document.querySelectorAll('a[href="wallboard.html"]')) a.href = `wallboard.html?lang=${encodeURIComponent(lang)}`;
i18nReady.then(() => {
  started = true;
  renderSessions();
  renderQueues();
  renderAgents();
  if (initial) {
    signIn(initial);
  } else {
    el.login.hidden = false;
    setStatus(t('admin.status.sign_in'));
    el.apiKey.focus();
  }
});
