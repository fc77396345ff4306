// SPLIT wallboard: the hub's live figures per queue and overall, with plots
// over the last hour or 24 hours (docs/wallboard.md). The figures come from
// GET /v1/wallboard/events (server-sent events, read with fetch so that the
// API key can go in a header), every 2 s.
//
// The API key comes from the URL fragment (#key=…, then removed from the
// address bar), the form, or the admin view's (sessionStorage, this tab only).
// URL parameters: key=<API key> (fragment), server=<url> (default: this
// origin), queue=<name>, window=hour|day, tv=1 (full screen layout),
// lang=<tag> (the page's language, default the browser's: the texts are
// wallboard.* of the hub's catalog, docs/i18n.md).
//
// window.splitWallboard = {figures, error, queue, window, connected}.
import { loadI18n, t, applyI18n, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const hashParams = new URLSearchParams(location.hash.replace(/^#/, ''));
for (const [k, v] of hashParams) params.set(k, v);

const KEY = 'split.admin.key'; // shared with the admin view
const base = (() => {
  const s = params.get('server');
  if (!s) return location.origin;
  try {
    return new URL(s, location.href).origin;
  } catch {
    return location.origin;
  }
})();

const state = {
  figures: null,
  error: null,
  queue: params.get('queue') || '',
  window: params.get('window') === 'day' ? 'day' : 'hour',
  connected: false,
};
window.splitWallboard = state;

// Okabe-Ito: distinguishable with colour blindness; lines also differ by dash.
const C = { blue: '#0072B2', sky: '#56B4E9', orange: '#E69F00', vermillion: '#D55E00', green: '#009E73', grey: '#7f7f7f' };
const dark = matchMedia('(prefers-color-scheme: dark)').matches;
const ink = dark ? '#e6ebf2' : '#1b2330';
const grid = dark ? '#2c3746' : '#d3dae5';
const main = dark ? C.sky : C.blue;

let key = '';
let abort = null;

// ---- language ----------------------------------------------------------------
// The catalog loads first (not longer than 3 s: then the board starts in
// English and is translated when it comes).
const lang = (() => {
  const l = String(params.get('lang') || '').trim();
  return /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(l) ? l.replace(/^[A-Za-z]+/, (m) => m.toLowerCase()) : undefined;
})();
let started = false;
const i18nLoad = loadI18n({ server: base, lang }).catch(() => 'en').then(() => {
  applyI18n();
  if (started) { // late: what the script wrote meanwhile
    for (const k of Object.keys(plots)) { plots[k].destroy(); delete plots[k]; }
    if (key && !state.connected) setText('status', t('wallboard.status.connecting'));
    render();
  }
});
const i18nReady = Promise.race([i18nLoad, new Promise((r) => setTimeout(r, 3000))]);

// The locale for times: the browser's when it is of the page's language.
function locale() {
  const l = currentLang();
  const nav = navigator.language || '';
  return nav.split('-')[0].toLowerCase() === l ? nav : l;
}

// ---- formatting --------------------------------------------------------------

function dur(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

const pct = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${v} %` : '—');
const count = (v) => (typeof v === 'number' ? String(v) : '—');

function setText(id, text) {
  const e = $(id);
  if (e && e.textContent !== text) e.textContent = text;
}

function showError(text) {
  state.error = text || null;
  $('error').textContent = text || '';
  $('error').hidden = !text;
}

// ---- figures -----------------------------------------------------------------

const AGENT_STATES = ['ready', 'ringing', 'busy', 'wrap_up', 'not_ready'];

function stateLabel(st) {
  switch (st) {
    case 'ready': return t('wallboard.state.ready');
    case 'ringing': return t('wallboard.state.ringing');
    case 'busy': return t('wallboard.state.busy');
    case 'wrap_up': return t('wallboard.state.wrap_up');
    case 'not_ready': return t('wallboard.state.not_ready');
    default: return st;
  }
}

function selected(f) {
  if (!state.queue) return f.overall;
  return f.queues.find((q) => q.name === state.queue) || f.overall;
}

function renderTiles(f) {
  const q = selected(f);
  const st = q[state.window];
  setText('t-waiting', count(q.waiting));
  setText('t-longest', dur(q.longest_wait_s));
  setText('t-sl', pct(st.service_level_pct));
  const sl = document.querySelector('.wb-sl');
  const target = q.target_pct;
  const goal = { target, seconds: Math.round(q.threshold_s) };
  let sub = t('wallboard.sl.target', goal);
  if (typeof st.service_level_pct === 'number') {
    const ok = st.service_level_pct >= target;
    sl.dataset.ok = String(ok);
    if (!ok) sub = t('wallboard.sl.below', goal);
  } else {
    delete sl.dataset.ok;
  }
  setText('t-sl-sub', sub);
  setText('t-answered', count(st.answered));
  setText('t-abandoned', count(st.abandoned));
  setText('t-abandon-pct', st.abandon_pct == null ? '' : t('wallboard.abandon_pct', { pct: st.abandon_pct }));
  setText('t-asa', dur(st.avg_wait_s));
  setText('t-aht', dur(st.avg_handle_s));
  const agents = $('t-agents');
  agents.replaceChildren(...AGENT_STATES.map((k) => {
    const s = document.createElement('span');
    s.dataset.state = k;
    s.textContent = t('wallboard.state.count', { state: stateLabel(k), count: q.agents[k] || 0 });
    return s;
  }));
  setText('p-sl-target', t('wallboard.plot.target_pct', { target }));
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function renderTables(f) {
  const rows = f.queues.map((q) => {
    const st = q[state.window];
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = q.name;
    const below = typeof st.service_level_pct === 'number' && st.service_level_pct < q.target_pct;
    tr.append(th, cell(count(q.waiting), 'num'), cell(dur(q.longest_wait_s), 'num'),
      cell(pct(st.service_level_pct), below ? 'num below' : 'num'), cell(count(st.answered), 'num'), cell(count(st.abandoned), 'num'),
      cell(dur(st.avg_wait_s), 'num'), cell(dur(st.avg_handle_s), 'num'), cell(count(q.agents.ready || 0), 'num'), cell(count(q.agents.busy || 0), 'num'));
    if (q.name === state.queue) tr.setAttribute('aria-current', 'true');
    return tr;
  });
  $('wb-queues').tBodies[0].replaceChildren(...rows);
  const parts = [...f.channels.map((c) => [false, c]), ...f.modes.map((m) => [true, m])].map(([isMode, c]) => {
    const st = c[state.window];
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    const name = c.name.replaceAll('_', ' ');
    th.textContent = isMode ? t('wallboard.mode_row', { name }) : name;
    tr.append(th, cell(count(st.answered), 'num'), cell(count(st.abandoned), 'num'), cell(pct(st.service_level_pct), 'num'), cell(dur(st.avg_wait_s), 'num'));
    return tr;
  });
  $('wb-channels').tBodies[0].replaceChildren(...parts);
}

function renderQueueChoice(f) {
  const sel = $('wb-queue');
  const names = f.queues.map((q) => q.name);
  const have = [...sel.options].slice(1).map((o) => o.value);
  if (have.join('\n') !== names.join('\n') || sel.options[0].text !== t('wallboard.all_queues')) {
    sel.replaceChildren(new Option(t('wallboard.all_queues'), ''), ...names.map((n) => new Option(n, n)));
  }
  sel.value = names.includes(state.queue) ? state.queue : '';
}

// ---- plots (uPlot) -------------------------------------------------------------

const plots = {};
// plots take about a third of the screen's height (a TV: taller)
const plotHeight = () => Math.round(Math.min(420, Math.max(220, window.innerHeight * 0.3)));

function axis(label, extra = {}) {
  return { label, stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: '14px system-ui', labelFont: '14px system-ui', ...extra };
}

// The time axis and the legend's time in the page's language (English:
// uPlot's own formats): the time of day, and the date where it changes.
function timeFormats() {
  if (currentLang() === 'en') return null;
  const l = locale();
  const fmt = (o) => { try { return new Intl.DateTimeFormat(l, o); } catch { return new Intl.DateTimeFormat(undefined, o); } };
  const time = fmt({ hour: '2-digit', minute: '2-digit' });
  const date = fmt({ day: 'numeric', month: 'short' });
  const full = fmt({ day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  return {
    ticks: (u, splits) => splits.map((ts, i) => {
      const d = new Date(ts * 1000);
      const first = i === 0 || new Date(splits[i - 1] * 1000).toDateString() !== d.toDateString();
      return first ? `${time.format(d)}\n${date.format(d)}` : time.format(d);
    }),
    value: (u, ts) => (ts == null ? '--' : full.format(new Date(ts * 1000))),
  };
}

function plotOpts(id, series, axes, scales) {
  const host = $(id);
  const width = Math.max(280, host.clientWidth || 400);
  const tf = timeFormats();
  const x = { label: t('wallboard.plot.time') };
  if (tf) x.value = tf.value;
  return { width, height: plotHeight(), padding: [8, 28, 0, 0], series: [x, ...series], axes: [axis('', tf ? { values: tf.ticks } : {}), ...axes], scales, legend: { show: true }, cursor: { drag: { x: false, y: false } } };
}

function ensurePlots() {
  if (!window.uPlot || plots.waiting) return;
  const bars = window.uPlot.paths.bars({ size: [0.7, 40] });
  plots.waiting = new window.uPlot(plotOpts('p-waiting', [
    { label: t('wallboard.plot.waiting'), stroke: main, width: 3, scale: 'n', spanGaps: true, points: { show: true, size: 6 } },
    { label: t('wallboard.plot.longest'), stroke: C.orange, width: 3, dash: [10, 6], scale: 's', spanGaps: true, points: { show: true, size: 6 } },
  ], [axis(t('wallboard.plot.waiting'), { scale: 'n' }), axis(t('wallboard.plot.seconds'), { scale: 's', side: 1, grid: { show: false } })],
  { n: { range: (u, mn, mx) => [0, Math.max(2, mx)] }, s: { range: (u, mn, mx) => [0, Math.max(10, mx)] } }), [[], [], []], $('p-waiting'));
  plots.sl = new window.uPlot(plotOpts('p-sl', [
    { label: t('wallboard.plot.service_level'), stroke: main, width: 3, points: { show: true, size: 7 }, scale: '%' },
    { label: t('wallboard.plot.target'), stroke: C.vermillion, width: 2, dash: [4, 4], scale: '%', points: { show: false } },
  ], [axis('%', { scale: '%' })], { '%': { range: [0, 100] } }), [[], [], []], $('p-sl'));
  plots.calls = new window.uPlot(plotOpts('p-calls', [
    { label: t('wallboard.plot.answered'), stroke: main, fill: main + 'cc', paths: bars, points: { show: false }, scale: 'n' },
    { label: t('wallboard.plot.abandoned'), stroke: C.vermillion, fill: C.vermillion + '99', paths: bars, points: { show: false }, scale: 'n', dash: [6, 3] },
  ], [axis(t('wallboard.plot.sessions'), { scale: 'n' })], { n: { range: (u, mn, mx) => [0, Math.max(2, mx)] } }), [[], [], []], $('p-calls'));
  new ResizeObserver(() => {
    for (const [k, p] of Object.entries(plots)) p.setSize({ width: Math.max(280, $(`p-${k}`).clientWidth), height: plotHeight() });
  }).observe($('board'));
}

function renderPlots(f) {
  ensurePlots();
  if (!plots.waiting) return;
  const s = f[state.window];
  const q = selected(f);
  const p = s.queues[state.queue] || s.queues[''];
  const t = s.t;
  plots.waiting.setData([t, p.waiting, p.longest_wait_s]);
  plots.sl.setData([t, p.service_level_pct, t.map(() => q.target_pct)]);
  plots.calls.setData([t, p.answered, p.abandoned]);
}

function render() {
  const f = state.figures;
  if (!f) return;
  renderQueueChoice(f);
  renderTiles(f);
  renderTables(f);
  renderPlots(f);
  setText('updated', t('wallboard.updated', { time: new Date(f.at).toLocaleTimeString(locale()) }));
}

// ---- the stream ----------------------------------------------------------------

async function stream() {
  let wait = 1000;
  while (key) {
    abort = new AbortController();
    try {
      const res = await fetch(`${base}/v1/wallboard/events`, {
        headers: { Authorization: `Bearer ${key}`, Accept: 'text/event-stream' }, cache: 'no-store', signal: abort.signal,
      });
      if (res.status === 401) {
        signOut(t('wallboard.error.wrong_key'));
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
          }
          if (event === 'figures' && data) {
            state.figures = JSON.parse(data);
            state.connected = true;
            showError('');
            setText('status', '');
            wait = 1000;
            render();
          }
        }
      }
      throw new Error('the stream ended');
    } catch (err) {
      if (!key || (abort && abort.signal.aborted)) return;
      state.connected = false;
      showError(t('wallboard.error.unreachable', { error: err.message || err }));
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 10000);
  }
}

// ---- sign-in and controls ---------------------------------------------------------

function signIn(k) {
  key = (k || '').trim();
  if (!key) return;
  sessionStorage.setItem(KEY, key);
  $('login').hidden = true;
  $('board').hidden = false;
  setText('status', t('wallboard.status.connecting'));
  stream();
}

function signOut(reason) {
  key = '';
  sessionStorage.removeItem(KEY);
  if (abort) abort.abort();
  $('board').hidden = true;
  $('login').hidden = false;
  showError(reason || '');
  $('api-key').value = '';
  $('api-key').focus();
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  signIn($('api-key').value);
});
$('wb-queue').addEventListener('change', (e) => {
  state.queue = e.target.value;
  render();
});
for (const b of document.querySelectorAll('[data-window]')) {
  b.addEventListener('click', () => {
    state.window = b.dataset.window;
    for (const o of document.querySelectorAll('[data-window]')) o.setAttribute('aria-pressed', String(o === b));
    render();
  });
  b.setAttribute('aria-pressed', String(b.dataset.window === state.window));
}
$('wb-full').addEventListener('click', async () => {
  document.body.classList.add('tv');
  try {
    await document.documentElement.requestFullscreen();
  } catch { /* not allowed: the TV layout alone */ }
});
document.addEventListener('fullscreenchange', () => {
  if (!document.fullscreenElement && params.get('tv') !== '1') document.body.classList.remove('tv');
});
if (params.get('tv') === '1') document.body.classList.add('tv');

if (hashParams.has('key')) {
  // Keep the key out of the address bar and the history (lang= and the rest stay).
  const rest = new URLSearchParams(hashParams);
  rest.delete('key');
  history.replaceState(null, '', location.pathname + location.search + (rest.toString() ? `#${rest}` : ''));
}
// The admin view in the same language.
if (lang) for (const a of document.querySelectorAll('a[href="admin.html"]')) a.href = `admin.html?lang=${encodeURIComponent(lang)}`;
const initial = params.get('key') || sessionStorage.getItem(KEY);
i18nReady.then(() => {
  started = true;
  if (initial) signIn(initial);
  else {
    $('login').hidden = false;
    $('api-key').focus();
  }
});
