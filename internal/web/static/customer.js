// SPLIT customer page: device check, queue status, the call with an agent.
// Also what the embeddable widget (widget.js) opens in its iframe.
//
// URL parameters (query string or fragment):
//   entry=<name>      public entry point (default "default")
//   token=<token>     socket token (role "customer", one session) instead of an entry point
//   join=<link token> a join link (/j/<token> redirects here with #join=…): checked at
//                     once (lobby before the window opens, clear errors), consumed when
//                     the customer presses a call button
//   video=1|0         preset mode: video call (default) or voice call
//   name=<text>       the customer's name, pre-filled
//   autostart=1       start at once with the preset mode (tests, the widget)
//   server=<url>      the hub (default: this page's origin)
//   embed=1           compact layout inside the widget's iframe
//   ctx.<key>=<value> context key/values passed with `start`
//   lang=<tag>        the page's language (es, es-MX…; a join link's fragment can carry it too);
//                     without it the entry point's language, then the browser's (i18n.js)
//
// window.splitApp = {client, call, state, session, position, ewt, agentName,
// held, ended, error, stats()} is kept up to date for automation.
//
// Deaf-user layout (Deaf Interpreter mode, docs/interpreter.md §2, §9.1): when
// the hub's hello has an `interpreter` object (an interpreter entry point, or a
// token of an interpreter session) or the session's mode is `interpreter`, the
// page shows a sign-language chooser, the number to call, the interpreter's
// large video, VCO/HCO and the captions area (real-time text, rtt.js).
// splitApp.deaf = {on, interp, vco, hco, rtt: {log, text(source)}, ...}.
import { SessionClient } from './session.js';
import { RttPane, RttInput, RttLink, LS } from './rtt.js';
import { loadI18n, t, applyI18n, currentLang, formatDateTime } from './i18n.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ''))) params.set(k, v);
const yes = (v) => ['1', 'true', 'yes', 'on'].includes(String(v || '').toLowerCase());
const no = (v) => ['0', 'false', 'no', 'off'].includes(String(v || '').toLowerCase());

const embed = yes(params.get('embed'));
const autostart = yes(params.get('autostart'));
const presetVideo = !no(params.get('video'));
const entry = params.get('entry') || 'default';
const pageToken = params.get('token') || '';
let token = pageToken; // the socket's token: the page's, a join link's, or a resume token
const joinToken = params.get('join') || '';
const server = params.get('server') || undefined;
const context = {};
for (const [k, v] of params) {
  if (k.startsWith('ctx.') && k.length > 4) context[k.slice(4)] = v;
}

// ---- language ----------------------------------------------------------------------
// The link's or the URL's lang first, then the entry point's language, then
// the browser's (the hub picks: GET /i18n/catalog.json). The catalog is
// fetched at once; the page's first render waits for it (not longer than
// I18N_WAIT_MS), the connection to the hub does not.
const urlLang = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(params.get('lang') || '') ? params.get('lang') : '';
const I18N_WAIT_MS = 3000;
const i18nLoad = loadI18n({ server, lang: urlLang || undefined, entry: params.get('entry') || (pageToken || joinToken ? undefined : entry) });
// true: the catalog came in time (or failed: English); false: still coming
const i18nReady = Promise.race([i18nLoad.then(() => true, () => true), new Promise((r) => setTimeout(() => r(false), I18N_WAIT_MS))]);

// The `language` of the session's start frame: the one the link or the
// embedder asked for, else the page's (with the browser's region when it
// is the same language: es-MX).
function sessionLanguage() {
  if (urlLang) return urlLang;
  const page = currentLang();
  const nav = (typeof navigator !== 'undefined' && navigator.language) || '';
  if (nav && nav.split('-')[0].toLowerCase() === page) return nav;
  return page || nav || undefined;
}

const el = {
  main: $('main'),
  status: $('status'),
  error: $('error'),
  setup: $('setup'),
  preview: $('preview'),
  previewOff: $('preview-off'),
  check: $('check'),
  micLevel: $('mic-level'),
  cameraSelect: $('camera-select'),
  micSelect: $('mic-select'),
  flip: $('flip'),
  name: $('name'),
  videoCall: $('video-call'),
  voiceCall: $('voice-call'),
  incall: $('incall'),
  agentLine: $('agent-line'),
  stage: $('stage'),
  remoteVideo: $('remote-video'),
  remotePlaceholder: $('remote-placeholder'),
  placeholderText: $('placeholder-text'),
  localVideo: $('local-video'),
  remoteAudio: $('remote-audio'),
  mute: $('mute'),
  camera: $('camera'),
  switchCamera: $('switch-camera'),
  moveAudio: $('move-audio'),
  sound: $('sound'),
  hangup: $('hangup'),
  ended: $('ended'),
  endedReason: $('ended-reason'),
  endedDetail: $('ended-detail'),
  again: $('again'),
  // deaf-user layout
  deafSetup: $('deaf-setup'),
  deafPreview: $('deaf-preview'),
  deafPreviewOff: $('deaf-preview-off'),
  deafCheck: $('deaf-check'),
  signLanguage: $('sign-language'),
  signLanguageFixed: $('sign-language-fixed'),
  deafTo: $('deaf-to'),
  deafToHint: $('deaf-to-hint'),
  deafToError: $('deaf-to-error'),
  deafName: $('deaf-name'),
  callInterpreter: $('call-interpreter'),
  deafReady: $('deaf-ready'),
  ringing: $('ringing'),
  ringingTitle: $('ringing-title'),
  ringingDetail: $('ringing-detail'),
  answer: $('answer'),
  decline: $('decline'),
  incallTitle: $('incall-title'),
  vco: $('vco'),
  hco: $('hco'),
  selfview: $('selfview'),
  typeText: $('type-text'),
  phoneLine: $('phone-line'),
  videoWarning: $('video-warning'),
  captions: $('captions'),
  textSmaller: $('text-smaller'),
  textLarger: $('text-larger'),
  rttPanes: $('rtt-panes'),
  rttInput: $('rtt-input'),
  rttBell: $('rtt-bell'),
  rttAnnounce: $('rtt-announce'),
};

// ---- state -------------------------------------------------------------------

const app = {
  client: null,
  call: null,
  // idle → connecting → starting → (session states: created, routing,
  // waiting, ringing, active, transferring) → ended
  state: 'idle',
  session: null, // latest `session` frame
  position: null,
  ewt: null,
  agentName: null,
  held: false,
  ended: null, // {code, reason}
  error: null, // last error message shown
  mode: presetVideo ? 'video' : 'voice',
  link: null, // join links: {state: 'checking'|'ready'|'lobby'|'error', code, notBefore}
};

let previewStream = null;
let previewTested = false; // the device check ran once: "Test again"
let meter = null; // {ctx, timer}
let facingMode = 'user';
let callSeq = 0;
// Sessions this page's calls had: their late frames never touch a new call.
const pastSessions = new Set();

// ---- helpers -------------------------------------------------------------------

// The status line and the error box take a text, or a function that gives
// it in the current language: the latter is shown again, translated, when
// the catalog arrives after it was set (relabel()).
let statusFn = null;
let errorFn = null;

function setStatus(text) {
  statusFn = typeof text === 'function' ? text : null;
  const s = statusFn ? statusFn() : text;
  if (el.status.textContent !== s) el.status.textContent = s;
}

function showError(text) {
  errorFn = typeof text === 'function' ? text : null;
  const s = (errorFn ? errorFn() : text) || '';
  app.error = s || null;
  el.error.textContent = s;
  el.error.hidden = !s;
}

function setView(view) {
  el.main.dataset.view = view;
  el.setup.hidden = view !== 'setup' || !!deaf.on;
  el.deafSetup.hidden = view !== 'setup' || !deaf.on;
  el.incall.hidden = view !== 'incall';
  el.ended.hidden = view !== 'ended';
}

function post(type, extra = {}) {
  if (!embed || window.parent === window) return;
  try {
    window.parent.postMessage({ source: 'split', type, state: app.state, ...extra }, '*');
  } catch { /* ignore */ }
}

function setState(state) {
  if (app.state === state) return;
  app.state = state;
  el.main.dataset.state = state;
  post('state');
}

function minutes(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return t('customer.wait.under_minute');
  const m = Math.round(seconds / 60);
  return m === 1 ? t('customer.wait.one_minute') : t('customer.wait.minutes', { n: m });
}

function queueText(position, ewt) {
  if (typeof position !== 'number' || position < 1) return t('customer.queue.waiting');
  const wait = minutes(ewt);
  return wait ? t('customer.queue.position_wait', { position, wait }) : t('customer.queue.position', { position });
}

// Texts by end code (literal keys: internal/i18n's test finds them).
const END_TEXT = {
  200: () => t('customer.end.normal'),
  404: () => t('customer.end.not_found'),
  408: () => t('customer.end.no_answer'),
  480: () => t('customer.end.unavailable'),
  486: () => t('customer.end.busy'),
  487: () => t('customer.end.cancelled'),
  503: () => t('customer.end.service_unavailable'),
};

function endText(code, reason) {
  if (/connection (lost|to the hub closed)/i.test(reason || '')) return t('customer.end.connection_lost');
  if (END_TEXT[code]) return END_TEXT[code]();
  return reason ? t('customer.end.with_reason', { reason: reasonText(reason) }) : t('customer.end.plain');
}

// The page's and session.js's own end reasons (kept in English in
// splitApp.ended and the widget's messages), shown translated; the hub's
// are shown as they come.
function reasonText(reason) {
  switch (reason) {
    case 'You hung up': case 'Local hangup': return t('customer.end.reason_hung_up');
    case 'Connection lost': case 'Connection to the hub closed': return t('customer.end.reason_connection_lost');
    case 'Not connected to the hub': return t('customer.end.reason_not_connected');
    case 'Media connection lost': return t('customer.end.reason_media_lost');
    case 'Cannot connect': return t('customer.end.reason_cannot_connect');
    case 'The call could not be started': return t('customer.end.reason_not_started');
    default: return reason;
  }
}

// An error of session.js (connecting, starting the call) as the customer reads it.
function errorText(err) {
  const code = err && err.code;
  if (code === 'connection_failed' || code === 'timeout' || code === 'not_connected' || code === 'network') return t('customer.error.connect');
  if (code === 'media_error') return t('customer.error.media');
  if (err && err.status === 404) return t('customer.end.not_found');
  return (err && err.message) || String(err);
}

// ---- device check ----------------------------------------------------------------

function stopMeter() {
  if (!meter) return;
  clearInterval(meter.timer);
  try { meter.ctx.close(); } catch { /* ignore */ }
  meter = null;
  el.micLevel.value = 0;
}

function startMeter(stream) {
  stopMeter();
  if (!stream || !stream.getAudioTracks().length) return;
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return;
  try {
    const ctx = new AC();
    const src = ctx.createMediaStreamSource(stream);
    const an = ctx.createAnalyser();
    an.fftSize = 1024;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    const timer = setInterval(() => {
      if (ctx.state === 'suspended') ctx.resume().catch(() => {});
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      const rms = Math.sqrt(sum / buf.length);
      const level = Math.min(1, rms * 4);
      el.micLevel.value = level;
      el.micLevel.textContent = level > 0.02 ? t('customer.setup.meter_sound') : t('customer.setup.meter_silent');
    }, 100);
    meter = { ctx, timer };
  } catch (err) {
    console.warn('mic meter unavailable', err);
  }
}

function stopPreview() {
  stopMeter();
  if (previewStream) for (const tr of previewStream.getTracks()) tr.stop();
  previewStream = null;
  el.preview.srcObject = null;
  el.previewOff.hidden = false;
  el.deafPreview.srcObject = null;
  el.deafPreviewOff.hidden = false;
}

function selectedVideoConstraint() {
  const id = el.cameraSelect.value;
  if (id) return { deviceId: { exact: id } };
  return { facingMode: { ideal: facingMode } };
}

async function startPreview() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError(() => t('customer.error.no_media'));
    return;
  }
  stopPreview();
  const micId = el.micSelect.value;
  const audio = micId ? { deviceId: { exact: micId } } : true;
  const wantVideo = app.mode === 'video';
  let stream = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio, video: wantVideo ? selectedVideoConstraint() : false });
  } catch (err) {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
      if (wantVideo) showError(() => t('customer.error.no_camera_preview'));
    } catch (err2) {
      showError(() => t('customer.error.mic_failed', { error: err2.message || err2.name }));
      return;
    }
  }
  if (app.state !== 'idle') { // a call started meanwhile
    for (const tr of stream.getTracks()) tr.stop();
    return;
  }
  previewStream = stream;
  if (stream.getVideoTracks().length) {
    const v = deaf.on ? el.deafPreview : el.preview;
    v.srcObject = stream;
    v.play().catch(() => {});
    (deaf.on ? el.deafPreviewOff : el.previewOff).hidden = true;
  }
  startMeter(stream);
  previewTested = true;
  checkLabels();
  await listDevices();
}

// The device check's buttons, in the current language.
function checkLabels() {
  el.check.textContent = previewTested ? t('customer.setup.check_again') : t('customer.setup.check');
  el.deafCheck.textContent = previewTested ? t('customer.deaf.check_again') : t('customer.deaf.check');
  el.flip.textContent = facingMode === 'user' ? t('customer.setup.flip_rear') : t('customer.setup.flip_front');
}

// relabel shows the page in the catalog's language: the HTML's texts, then
// what the script wrote (the status line and the error box again, as they
// were, in the new language).
function relabel() {
  const status = statusFn;
  const error = errorFn;
  applyI18n(document);
  checkLabels();
  if (deaf.on) { deafLabels(); fillDeafSetup(); }
  if (el.cameraSelect.options.length > 1 || el.micSelect.options.length > 1) listDevices();
  endedTexts();
  render();
  if (status) setStatus(status);
  if (error) showError(error);
}

async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  let devices = [];
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  const fill = (select, kind, fallback, numbered) => {
    const current = select.value || (previewStream && (previewStream.getTracks().find((tr) => tr.kind === (kind === 'videoinput' ? 'video' : 'audio')) || {}).getSettings?.().deviceId) || '';
    const list = devices.filter((d) => d.kind === kind && d.deviceId);
    select.textContent = '';
    const def = document.createElement('option');
    def.value = '';
    def.textContent = fallback;
    select.append(def);
    list.forEach((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || numbered(i + 1);
      select.append(o);
    });
    if (list.some((d) => d.deviceId === current)) select.value = current;
    select.disabled = list.length === 0;
    return list.length;
  };
  const cams = fill(el.cameraSelect, 'videoinput', t('customer.setup.default_camera'), (n) => t('customer.setup.camera_n', { n }));
  fill(el.micSelect, 'audioinput', t('customer.setup.default_microphone'), (n) => t('customer.setup.microphone_n', { n }));
  const phone = window.matchMedia && window.matchMedia('(pointer: coarse)').matches;
  el.flip.hidden = !(phone && cams > 1);
  el.switchCamera.dataset.cameras = String(cams);
}

// ---- the call -------------------------------------------------------------------

function resetCallUi() {
  app.session = null;
  app.position = null;
  app.ewt = null;
  app.agentName = null;
  app.held = false;
  app.ended = null;
  el.remoteVideo.srcObject = null;
  el.localVideo.srcObject = null;
  el.remoteAudio.srcObject = null;
  el.stage.classList.remove('has-remote-video', 'has-local-video');
  el.mute.setAttribute('aria-pressed', 'false');
  el.camera.setAttribute('aria-pressed', 'false');
  el.agentLine.textContent = '';
  el.sound.hidden = true;
}

function playRemote(call) {
  const audio = call.remoteStream.getAudioTracks();
  const video = call.remoteStream.getVideoTracks();
  if (audio.length && el.remoteAudio.srcObject?.getAudioTracks()[0] !== audio[0]) {
    el.remoteAudio.srcObject = new MediaStream(audio);
  }
  if (audio.length) {
    el.remoteAudio.play().then(() => { el.sound.hidden = true; }).catch(() => { el.sound.hidden = false; });
  }
  if (video.length && el.remoteVideo.srcObject?.getVideoTracks()[0] !== video[0]) {
    el.remoteVideo.srcObject = new MediaStream(video);
    el.remoteVideo.play().catch(() => {});
    // Show the agent's video once frames arrive; a track can exist without media.
    video[0].addEventListener('mute', () => el.stage.classList.remove('has-remote-video'));
    video[0].addEventListener('unmute', () => { if (el.remoteVideo.videoWidth) el.stage.classList.add('has-remote-video'); });
  }
}

for (const ev of ['loadeddata', 'resize', 'playing']) {
  el.remoteVideo.addEventListener(ev, () => {
    if (el.remoteVideo.videoWidth > 0 && el.remoteVideo.srcObject) el.stage.classList.add('has-remote-video');
  });
}

function showLocal(stream) {
  const hasVideo = !!(stream && stream.getVideoTracks().length);
  el.localVideo.srcObject = hasVideo ? stream : null;
  if (hasVideo) el.localVideo.play().catch(() => {});
  el.stage.classList.toggle('has-local-video', hasVideo);
  el.camera.hidden = !hasVideo;
  const cams = Number(el.switchCamera.dataset.cameras || '0');
  el.switchCamera.hidden = !hasVideo || cams < 2;
}

function render() {
  const s = app.state;
  if (deaf.on) renderDeaf();
  if (deaf.on && s !== 'idle' && s !== 'ended') {
    setStatus(deafStatus);
  } else if (s === 'idle') {
    setStatus(() => (app.client && app.client.connected ? t('customer.status.ready') : app.error ? t('customer.status.not_connected') : t('customer.status.connecting')));
  } else if (s === 'connecting' || s === 'starting' || s === 'created' || s === 'routing') {
    setStatus(() => t('customer.status.connecting_call'));
  } else if (s === 'waiting') {
    setStatus(() => queueText(app.position, app.ewt));
  } else if (s === 'ringing') {
    setStatus(() => t('customer.status.agent_ringing'));
  } else if (s === 'transferring') {
    setStatus(() => t('customer.status.transferring'));
  } else if (s === 'active') {
    setStatus(() => (app.held ? t('customer.status.on_hold') : app.agentName ? t('customer.status.talking_to', { name: app.agentName }) : t('customer.status.connected')));
  } else if (s === 'ended') {
    setStatus(() => (app.ended ? endText(app.ended.code, app.ended.reason) : t('customer.end.plain')));
  }
  el.agentLine.textContent = s === 'active' && app.agentName ? app.agentName : '';
  el.placeholderText.textContent = deaf.on ? (s === 'active' ? t('customer.deaf.placeholder_video') : s === 'waiting' ? t('customer.deaf.placeholder_waiting') : '')
    : s === 'active' ? t('customer.incall.audio_only') : s === 'waiting' ? t('customer.incall.please_wait') : '';
  el.stage.classList.toggle('connected', s === 'active');
  el.stage.classList.toggle('held', !!app.held);
}

function finish(code, reason) {
  if (app.state === 'ended') return;
  for (const sid of [app.call && app.call.session, app.session && app.session.session]) if (sid) pastSessions.add(sid);
  app.ended = { code: code ?? 200, reason: reason || '' };
  setState('ended');
  endedTexts();
  el.remoteAudio.srcObject = null;
  el.remoteVideo.srcObject = null;
  el.localVideo.srcObject = null;
  if (deaf.on) { deaf.input.flush(); deaf.stats = null; }
  setView('ended');
  render();
  post('ended', { code: app.ended.code, reason: app.ended.reason });
  el.again.focus();
}

function endedTexts() {
  if (!app.ended) return;
  el.endedReason.textContent = endText(app.ended.code, app.ended.reason);
  el.endedDetail.textContent = `${app.ended.code}${app.ended.reason ? ` ${reasonText(app.ended.reason)}` : ''}`;
}

function watchCall(call) {
  app.call = call;
  call.addEventListener('localstream', (e) => { showLocal(e.detail.stream); applyVcoMic(); });
  call.addEventListener('datachannel', (e) => deaf.link.addRemote(e.detail.channel));
  call.addEventListener('state', () => { if (call.t140 && deaf.link.own !== call.t140) deaf.link.setOwn(call.t140); });
  call.addEventListener('track', () => playRemote(call));
  call.addEventListener('state', (e) => {
    if (e.detail.state !== 'ended' || call !== app.call) return;
    // The connection to the hub dropped while the call was up: the session
    // waits for us (sessions.resume_grace); come back instead of ending.
    if (e.detail.code === 503 && resumeToken && app.state === 'active' && !app.hungUp) {
      resume();
      return;
    }
    finish(e.detail.code, e.detail.reason);
  });
  call.addEventListener('restart', (e) => {
    if (call !== app.call || app.state !== 'active') return;
    if (e.detail.state === 'restarting') setStatus(() => t('customer.status.network_changed'));
    else if (e.detail.state === 'restarted') setStatus(() => t('customer.status.reconnected'));
  });
  call.addEventListener('error', (e) => {
    if (e.detail.code === 'no_camera') showError(() => t('customer.error.no_camera'));
    else if (e.detail.code === 'ice_failed') showError(() => t('customer.error.ice_failed'));
    else console.warn('call error', e.detail.code, e.detail.message);
  });
}

function onSession(msg) {
  if (msg.session && pastSessions.has(msg.session)) return;
  if (app.call && app.call.session && msg.session && msg.session !== app.call.session) return;
  app.session = msg;
  if (msg.mode === 'interpreter' || msg.interpreter) enterDeaf(null);
  if (deaf.on) onDeafSession(msg);
  app.position = typeof msg.position === 'number' ? msg.position : null;
  app.ewt = typeof msg.ewt === 'number' ? msg.ewt : null;
  if (msg.agent && (msg.agent.name || msg.agent.id)) app.agentName = msg.agent.name || msg.agent.id;
  app.held = !!msg.held;
  // Remote Viewer: the voice is still on the phone; offer to move it here.
  app.phoneAudio = !!msg.phone_audio;
  el.moveAudio.hidden = !app.phoneAudio;
  if (msg.state === 'ended') {
    finish(msg.code, msg.reason);
    return;
  }
  if (msg.state && app.state !== 'ended') setState(msg.state);
  render();
}

let connecting = null;

function connectClient() {
  if (app.client && app.client.connected) return Promise.resolve(app.client);
  if (!connecting) {
    connecting = newClient().finally(() => { connecting = null; });
  }
  return connecting;
}

// ---- join links ------------------------------------------------------------------

async function redeem(dryRun) {
  const base = server || location.origin;
  let res;
  try {
    res = await fetch(`${base}/v1/join`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: joinToken, role: 'customer', dry_run: dryRun }),
    });
  } catch (e) {
    throw Object.assign(new Error(t('customer.link.network')), { code: 'network' });
  }
  let body = {};
  try { body = await res.json(); } catch { /* empty */ }
  if (!res.ok) {
    const e = body.error || {};
    throw Object.assign(new Error(e.message || `Error ${res.status}`), { code: e.code || 'error', status: res.status, notBefore: e.not_before });
  }
  return body;
}

let lobbyTimer = null;

function setCallButtons(enabled) {
  el.videoCall.disabled = !enabled;
  el.voiceCall.disabled = !enabled;
}

// A refused link, as the customer reads it (by the hub's stable code; an
// unknown code: the hub's own message).
function linkErrorText(e) {
  switch (e && e.code) {
    case 'invalid_link': return t('customer.link.invalid');
    case 'link_expired': return t('customer.link.expired');
    case 'link_revoked': return t('customer.link.revoked');
    case 'link_used': return t('customer.link.used');
    case 'wrong_role': return t('customer.link.wrong_role');
    case 'rate_limited': return t('customer.link.rate_limited');
    case 'session_over': return t('customer.link.session_over');
    case 'too_early': return t('customer.link.too_early');
    case 'network': return t('customer.link.network');
    default: return (e && e.message) || t('customer.link.error');
  }
}

// checkLink shows the link's state before anything is consumed (pending:
// the dry run already under way).
async function checkLink(pending) {
  app.link = { state: 'checking' };
  setCallButtons(false);
  try {
    const r = await (pending || redeem(true));
    await i18nReady;
    app.link = { state: 'ready', expiresAt: r.expires_at, notBefore: r.not_before || null };
    setCallButtons(true);
    setStatus(() => t('customer.link.ready'));
    if (autostart) startCall(presetVideo);
  } catch (e) {
    await i18nReady;
    if (e.code === 'too_early' && e.notBefore) {
      app.link = { state: 'lobby', code: e.code, notBefore: e.notBefore };
      lobby(new Date(e.notBefore));
      return;
    }
    app.link = { state: 'error', code: e.code };
    showError(() => linkErrorText(e));
    setStatus(() => linkErrorText(e));
  }
}

// "1 h 5 min", "4 min 10 s", "35 s"
function durationText(left) {
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), sec = left % 60;
  if (h) return t('customer.lobby.hours_minutes', { h, m });
  if (m) return t('customer.lobby.minutes_seconds', { m, s: sec });
  return t('customer.lobby.seconds', { s: sec });
}

// The lobby's line: when the call opens, in the customer's language and
// time zone (the time only on the same day, else the date too).
function lobbyText(opensAt, left) {
  const now = new Date();
  const sameDay = opensAt.getFullYear() === now.getFullYear() && opensAt.getMonth() === now.getMonth() && opensAt.getDate() === now.getDate();
  if (sameDay) {
    return t('customer.lobby.today', { time: formatDateTime(opensAt, { hour: '2-digit', minute: '2-digit' }), left: durationText(left) });
  }
  const date = formatDateTime(opensAt, { weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit' });
  return t('customer.lobby.later', { date, left: durationText(left) });
}

function lobby(opensAt) {
  clearInterval(lobbyTimer);
  const tick = () => {
    const left = Math.max(0, Math.round((opensAt - Date.now()) / 1000));
    if (left <= 0) {
      clearInterval(lobbyTimer);
      checkLink();
      return;
    }
    setStatus(() => lobbyText(opensAt, Math.max(0, Math.round((opensAt - Date.now()) / 1000))));
    app.link.secondsLeft = left;
  };
  tick();
  lobbyTimer = setInterval(tick, 1000);
}

async function newClient() {
  if (joinToken && !token) {
    const r = await redeem(false); // consumes the link
    token = r.ws_token;
    app.link = { state: 'joined' };
  }
  const client = new SessionClient({ server, entry: token ? undefined : entry, token: token || undefined });
  app.client = client;
  client.addEventListener('session', (e) => onSession(e.detail));
  client.addEventListener('audio_moved', () => {
    app.phoneAudio = false;
    el.moveAudio.hidden = true;
    // (a WhatsApp call is ended by the hub itself once the voice is here)
    setStatus(() => (app.session && app.session.mode === 'whatsapp' ? t('customer.status.audio_moved_whatsapp') : t('customer.status.audio_moved')));
  });
  client.addEventListener('ended', (e) => {
    const m = e.detail;
    if (m.session && pastSessions.has(m.session)) return;
    if (app.call && m.leg && app.call.leg && m.leg !== app.call.leg) return;
    finish(m.code, m.reason);
  });
  client.addEventListener('error', (e) => {
    const m = e.detail;
    console.warn('hub error', m.code, m.message);
    if (app.state !== 'idle' && app.state !== 'ended') showError(m.message || m.code || 'error');
  });
  client.addEventListener('answer', (e) => { if (e.detail.resume) resumeToken = e.detail.resume; });
  client.addEventListener('close', () => {
    if (client !== app.client) return;
    if (app.state === 'reconnecting') return;
    if (app.state === 'active' && resumeToken && !app.hungUp) resume();
    else if (app.state !== 'idle' && app.state !== 'ended') finish(503, 'Connection lost');
    else render();
  });
  client.addEventListener('hello', (e) => { if (e.detail && e.detail.interpreter) enterDeaf(e.detail.interpreter); });
  client.addEventListener('incoming', (e) => ringIn(e.detail));
  client.addEventListener('cancel', (e) => { if (!e.detail.leg) ringOff(e.detail); });
  await client.connect();
  if (client.hello && client.hello.interpreter) enterDeaf(client.hello.interpreter);
  // a registered deaf user's page: a customer socket with an identity and no session
  const h = client.hello || {};
  registered = h.role === 'customer' && !h.session && !!h.identity && h.identity !== 'customer' && !!h.interpreter ? h.identity : '';
  if (registered) enterRegistered();
  return client;
}

// ---- resume after a dropped connection --------------------------------------------

let resumeToken = '';
let resuming = null;

function resume() {
  if (resuming) return resuming;
  resuming = (async () => {
    setState('reconnecting');
    setStatus(() => t('customer.status.reconnecting'));
    render();
    const devices = {
      audioDeviceId: el.micSelect.value || undefined,
      videoDeviceId: el.cameraSelect.value || undefined,
      facingMode: el.cameraSelect.value ? undefined : facingMode,
    };
    for (let i = 0; i < 12 && app.state === 'reconnecting'; i++) {
      await new Promise((r) => setTimeout(r, i === 0 ? 300 : 2000));
      try {
        token = resumeToken;
        if (app.client) app.client.close(1000, 'resuming');
        app.client = null;
        const client = await newClient();
        const onCall = (e) => { if (e.detail.role === 'customer') watchCall(e.detail); };
        client.addEventListener('call', onCall, { once: true });
        await client.startCall({ video: app.mode === 'video', language: sessionLanguage(), ...devices, ...(deaf.on ? deafCallOptions(false) : {}) });
        app.resumed = (app.resumed || 0) + 1;
        setState('active');
        setStatus(() => t('customer.status.reconnected'));
        render();
        return;
      } catch (err) {
        console.warn('resume failed', err && err.message);
        if (err && (err.status === 401 || err.status === 404 || err.code === 'not_found')) break;
      }
    }
    if (app.state === 'reconnecting') finish(503, 'Connection lost');
  })().finally(() => { resuming = null; });
  return resuming;
}

async function startCall(video) {
  if (!['idle', 'ended'].includes(app.state)) return;
  const seq = ++callSeq;
  app.mode = video ? 'video' : 'voice';
  const devices = {
    audioDeviceId: el.micSelect.value || undefined,
    videoDeviceId: el.cameraSelect.value || undefined,
    facingMode: el.cameraSelect.value ? undefined : facingMode,
  };
  stopPreview();
  showError('');
  resetCallUi();
  app.hungUp = false;
  resumeToken = '';
  setView('incall');
  setState('connecting');
  render();
  el.hangup.focus();
  let client;
  try {
    client = await connectClient();
  } catch (err) {
    if (seq !== callSeq) return;
    showError(() => errorText(err));
    finish(err.status || 503, err.message || 'Cannot connect');
    return;
  }
  if (seq !== callSeq || app.state === 'ended') return;
  if (deaf.on) { video = true; app.mode = 'video'; resetRtt(); }
  setState('starting');
  render();
  const onCall = (e) => {
    if (e.detail.role === 'customer') watchCall(e.detail);
  };
  client.addEventListener('call', onCall, { once: true });
  const name = (deaf.on ? el.deafName : el.name).value.trim();
  try {
    // language: the page's (the interpreter mode's options leave it to the hub)
    const opts = { video, name: name || undefined, context, language: sessionLanguage(), ...devices, ...(deaf.on ? deafCallOptions((!token || !!registered) && !answering) : {}) };
    if (answering) opts.fields = { ...(opts.fields || {}), session: answering };
    answering = '';
    await client.startCall(opts);
    if (app.state === 'starting') render();
  } catch (err) {
    if (seq !== callSeq) return;
    // The deaf user's start refused before any session (a number the dial
    // policy refuses, a bad field): back to the form, the reason next to it.
    if (deaf.on && deafRefused(err)) return;
    if (err.code !== 'ended') showError(() => errorText(err));
    finish(err.status || (err.code === 'media_error' ? 488 : 500), err.message || 'The call could not be started');
  } finally {
    client.removeEventListener('call', onCall);
  }
}

function hangup() {
  if (app.state === 'idle' || app.state === 'ended') return;
  app.hungUp = true;
  if (app.call && app.call.live) app.call.hangup();
  else if (app.client) app.client.hangup();
  finish(200, 'You hung up');
}

// ---- wiring ---------------------------------------------------------------------

el.moveAudio.addEventListener('click', () => {
  if (!app.client || !app.phoneAudio) return;
  el.moveAudio.disabled = true;
  setStatus(() => t('customer.status.moving_audio'));
  app.client.send({ type: 'move_audio' });
});
el.videoCall.addEventListener('click', () => { startCall(true); });
el.voiceCall.addEventListener('click', () => { startCall(false); });
el.check.addEventListener('click', () => { startPreview(); });
el.cameraSelect.addEventListener('change', () => { if (previewStream) startPreview(); });
el.micSelect.addEventListener('change', () => { if (previewStream) startPreview(); });
el.flip.addEventListener('click', () => {
  facingMode = facingMode === 'user' ? 'environment' : 'user';
  el.cameraSelect.value = '';
  checkLabels();
  startPreview();
});
el.hangup.addEventListener('click', hangup);
el.mute.addEventListener('click', () => {
  const muted = el.mute.getAttribute('aria-pressed') !== 'true';
  el.mute.setAttribute('aria-pressed', String(muted));
  if (app.call) app.call.mute(muted);
});
el.camera.addEventListener('click', () => {
  const off = el.camera.getAttribute('aria-pressed') !== 'true';
  el.camera.setAttribute('aria-pressed', String(off));
  if (app.call) app.call.setCamera(!off);
  el.stage.classList.toggle('camera-off', off);
});
el.switchCamera.addEventListener('click', async () => {
  if (!app.call) return;
  facingMode = facingMode === 'user' ? 'environment' : 'user';
  let deviceId;
  const opts = [...el.cameraSelect.options].map((o) => o.value).filter(Boolean);
  if (opts.length > 1) {
    const cur = app.call.localStream?.getVideoTracks()[0]?.getSettings?.().deviceId;
    deviceId = opts[(opts.indexOf(cur) + 1) % opts.length];
  }
  await app.call.switchCamera(deviceId ? { deviceId } : { facingMode });
});
el.sound.addEventListener('click', () => {
  el.remoteAudio.play().then(() => { el.sound.hidden = true; }).catch(() => {});
});
// A new call from the same page, without a reload. An entry point's socket
// starts the next session itself (the hub allows one at a time); a socket
// bound to the ended session (a resume token, a join link's token) is
// replaced: by a new entry socket, or by checking the join link again
// (appointment links can be used again, session links say why not).
el.again.addEventListener('click', () => {
  if (app.call && app.call.live) return;
  app.call = null;
  resetCallUi();
  showError('');
  setState('idle');
  setView('setup');
  if (token !== pageToken || joinToken) {
    const old = app.client;
    app.client = null;
    token = joinToken ? '' : pageToken;
    if (old) old.close(1000, 'new call');
  }
  render();
  if (joinToken) checkLink();
  else if (!app.client || !app.client.connected) connectClient().then(render).catch((err) => { showError(() => errorText(err)); render(); });
  (deaf.on ? el.callInterpreter : el.videoCall).focus();
});
if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
  navigator.mediaDevices.addEventListener('devicechange', () => { if (app.state === 'idle') listDevices(); });
}
window.addEventListener('pagehide', () => {
  if (app.client) app.client.close(1001, 'page closed');
});
window.addEventListener('message', (e) => {
  // The widget asks for the state when it opens or is about to close.
  if (!embed || e.source !== window.parent || !e.data || e.data.source !== 'split-widget') return;
  if (e.data.type === 'hangup') hangup();
  else post('state');
});

// ---- deaf-user layout (interpreter mode) -----------------------------------------------

const deaf = {
  on: false,
  cfg: null, // hello.interpreter {languages, dial, video, rtt}
  interp: null, // the session frame's interpreter block
  panes: new Map(), // 'interpreter/<leg>', 'phone', 'you'
  log: [], // received text {at, from, leg, text}, for tests
  scale: 1,
  prev: null, // the previous interpreter block, for the status messages
  note: null, // the last event message, a function giving its text (stays until the next one)
  noteLost: false, // the note says the interpreter is gone or changing
};
const LANG_KEY = 'split.deaf.sign_language';
const SCALE_KEY = 'split.deaf.text_scale';

function deafAnnounce(text) {
  el.rttAnnounce.textContent = '';
  setTimeout(() => { el.rttAnnounce.textContent = text; }, 30);
}

function rttPane(key, title, label) {
  let p = deaf.panes.get(key);
  if (!p) {
    p = new RttPane({ parent: el.rttPanes, id: `rtt-${key.replace(/[^a-z0-9]+/gi, '-')}`, title, label, announce: deafAnnounce });
    deaf.panes.set(key, p);
    const order = (k) => (k.startsWith('interpreter') ? 0 : k === 'phone' ? 1 : 2); // Interpreter, Phone, You (§6.3)
    for (const k of [...deaf.panes.keys()].sort((a, b) => order(a) - order(b))) el.rttPanes.append(deaf.panes.get(k).section);
  }
  return p;
}

function interpreterName(leg) {
  const list = (deaf.interp && deaf.interp.interpreters) || [];
  const x = list.find((i) => i.leg === leg);
  return (x && x.name) || '';
}

function interpreterPane(leg) {
  // One pane per interpreter (a team has two); the first one is "Interpreter".
  const key = `interpreter/${leg || '?'}`;
  if (!deaf.panes.has(key) && deaf.panes.has('interpreter/') && ![...deaf.panes.keys()].some((k) => k.startsWith('interpreter/') && k !== 'interpreter/')) {
    const p = deaf.panes.get('interpreter/');
    deaf.panes.delete('interpreter/');
    deaf.panes.set(key, p);
    p.section.id = `rtt-${key.replace(/[^a-z0-9]+/gi, '-')}`;
    p.heading.id = `${p.section.id}-title`;
  }
  const n = interpreterName(leg);
  const p = rttPane(key, n ? t('customer.rtt.interpreter_named', { name: n }) : t('customer.rtt.interpreter'), t('customer.rtt.from_interpreter'));
  if (n) p.setTitle(t('customer.rtt.interpreter_named', { name: n }), t('customer.rtt.from_interpreter_named', { name: n }));
  return p;
}

function resetRtt() {
  for (const p of deaf.panes.values()) p.section.remove();
  deaf.panes.clear();
  rttPane('interpreter/', t('customer.rtt.interpreter'), t('customer.rtt.from_interpreter'));
  rttPane('phone', t('customer.rtt.phone'), t('customer.rtt.from_phone'));
  rttPane('you', t('customer.rtt.you'), t('customer.rtt.your_text'));
  deaf.input.clear();
  deaf.link.waiting = '';
}

deaf.link = new RttLink({
  onText: ({ from, leg }, text) => {
    deaf.log.push({ at: Date.now(), from, leg, text });
    if (deaf.log.length > 5000) deaf.log.splice(0, 2500);
    (from === 'phone' ? rttPane('phone', t('customer.rtt.phone'), t('customer.rtt.from_phone')) : interpreterPane(leg)).feed(text);
  },
  onClose: ({ from, leg }) => { if (from === 'interpreter') interpreterPane(leg).closed(); },
});
deaf.input = new RttInput(el.rttInput, {
  send: (text) => deaf.link.send(text),
  echo: (text) => rttPane('you', t('customer.rtt.you'), t('customer.rtt.your_text')).feed(text),
});

function enterDeaf(cfg) {
  if (cfg) deaf.cfg = cfg;
  if (deaf.on) { if (cfg) fillDeafSetup(); return; }
  deaf.on = true;
  document.body.classList.add('deaf');
  deafLabels();
  el.mute.hidden = true; // the microphone follows VCO
  for (const b of [el.vco, el.hco, el.selfview, el.typeText]) b.hidden = false;
  el.captions.hidden = false;
  el.phoneLine.hidden = false;
  try { deaf.scale = Number(localStorage.getItem(SCALE_KEY)) || 1; } catch { /* ignore */ }
  applyScale();
  resetRtt();
  fillDeafSetup();
  setView(el.main.dataset.view || 'setup');
}

// The deaf-user layout's own titles and labels (again after relabel()).
function deafLabels() {
  if (!deaf.on) return;
  if (!ringingFor) document.title = t('customer.deaf.title');
  const h1 = document.getElementById('title');
  if (h1) h1.textContent = t('customer.deaf.title');
  el.incallTitle.textContent = t('customer.deaf.incall_title');
  el.remoteVideo.setAttribute('aria-label', t('customer.deaf.interpreter_video'));
  el.localVideo.setAttribute('aria-label', t('customer.your_camera'));
  if (ringingFor && window.splitApp.ringing) ringingTexts(window.splitApp.ringing);
  // the panes made before the catalog came
  for (const [key, p] of deaf.panes) {
    if (key === 'phone') p.setTitle(t('customer.rtt.phone'), t('customer.rtt.from_phone'));
    else if (key === 'you') p.setTitle(t('customer.rtt.you'), t('customer.rtt.your_text'));
    else if (key.startsWith('interpreter/')) {
      const n = interpreterName(key.slice('interpreter/'.length));
      if (n) p.setTitle(t('customer.rtt.interpreter_named', { name: n }), t('customer.rtt.from_interpreter_named', { name: n }));
      else p.setTitle(t('customer.rtt.interpreter'), t('customer.rtt.from_interpreter'));
    }
  }
}

function fillDeafSetup() {
  const langs = (deaf.cfg && Array.isArray(deaf.cfg.languages)) ? deaf.cfg.languages.filter((l) => l && l.tag) : [];
  const label = (l) => `${l.name || l.tag} (${l.tag})`;
  let saved = '';
  try { saved = localStorage.getItem(LANG_KEY) || ''; } catch { /* ignore */ }
  if ([...el.signLanguage.options].map((o) => o.value).join(',') !== langs.map((l) => l.tag).join(',')) {
    el.signLanguage.textContent = '';
    for (const l of langs) {
      const o = document.createElement('option');
      o.value = l.tag;
      o.textContent = label(l);
      el.signLanguage.append(o);
    }
    // a registered deaf user's usual language first, then the last one chosen here
    const usual = deaf.cfg && deaf.cfg.user && deaf.cfg.user.sign_language;
    if (langs.some((l) => l.tag === saved)) el.signLanguage.value = saved;
    else if (usual && langs.some((l) => l.tag === usual)) el.signLanguage.value = usual;
  }
  const one = langs.length === 1;
  el.signLanguage.hidden = one || langs.length === 0;
  el.signLanguageFixed.hidden = !one;
  el.signLanguageFixed.textContent = one ? label(langs[0]) : '';
  const d = (deaf.cfg && deaf.cfg.dial) || {};
  el.deafToHint.textContent = !d.country_code ? ''
    : d.allow_international ? t('customer.deaf.number_hint_intl', { code: d.country_code }) : t('customer.deaf.number_hint', { code: d.country_code });
  el.callInterpreter.disabled = !(app.client && app.client.connected) || (!langs.length && (!token || !!registered));
}

// ---- a registered deaf user's page (docs/interpreter.md §2.2) ---------------------

let registered = ''; // the user's id when the page is a registered deaf user's
let ringingFor = ''; // the session of the call ringing here
let answering = ''; // the session the next startCall answers
let ringTimer = null;

function enterRegistered() {
  // the user's own calls are placed from the same form (the hub knows who
  // they are: their name, their number as caller ID where configured)
  document.body.classList.add('registered');
  el.deafReady.hidden = false;
  if (!ringingFor) setStatus(() => t('customer.deaf.status_registered'));
  window.splitApp.registered = registered;
}

function ringIn(x) {
  if (!x || !x.session || (app.state !== 'idle' && app.state !== 'ended')) return;
  ringingFor = x.session;
  window.splitApp.ringing = x;
  ringingTexts(x);
  setView('setup');
  el.ringing.hidden = false;
  document.body.classList.add('is-ringing');
  setStatus(() => ringingTitle(x));
  el.answer.focus();
  // a visual ring: the title blinks; phones vibrate where the browser lets them
  let n = 0;
  clearInterval(ringTimer);
  ringTimer = setInterval(() => {
    document.title = n++ % 2 ? t('customer.deaf.title') : `☎ ${t('customer.deaf.incoming')}`;
    try { if (navigator.vibrate) navigator.vibrate(400); } catch { /* not allowed */ }
  }, 1000);
}

function ringingTitle(x) {
  return x.from ? t('customer.deaf.incoming_from', { from: x.from }) : t('customer.deaf.incoming');
}

function ringingTexts(x) {
  const langs = (deaf.cfg && deaf.cfg.languages) || [];
  const l = langs.find((v) => v.tag === x.sign_language);
  el.ringingTitle.textContent = ringingTitle(x);
  el.ringingDetail.textContent = l ? t('customer.deaf.ringing_detail_language', { language: l.name || l.tag }) : t('customer.deaf.ringing_detail');
}

function stopRinging() {
  ringingFor = '';
  window.splitApp.ringing = null;
  el.ringing.hidden = true;
  document.body.classList.remove('is-ringing');
  clearInterval(ringTimer);
  ringTimer = null;
  document.title = t('customer.deaf.title');
}

function ringOff(x) {
  if (!ringingFor || x.session !== ringingFor) return;
  stopRinging();
  const reason = x.reason;
  setStatus(() => {
    switch (reason) {
      case 'answered_elsewhere': return t('customer.deaf.ring_answered_elsewhere');
      case 'declined': return t('customer.deaf.ring_declined_elsewhere');
      case 'timeout': return t('customer.deaf.ring_missed');
      case 'session_over': return t('customer.deaf.ring_caller_hung_up');
      default: return t('customer.deaf.ring_stopped');
    }
  });
}

function deafCallOptions(withFields) {
  const v = (deaf.cfg && deaf.cfg.video) || {};
  const vc = {};
  if (v.width) vc.width = { ideal: v.width };
  if (v.height) vc.height = { ideal: v.height };
  if (v.frame_rate) vc.frameRate = { ideal: v.frame_rate };
  const o = {
    video: true, // an interpreter session needs the camera
    t140: true, // real-time text: the page's channel exists before the offer
    videoConstraints: vc,
    contentHint: 'motion',
    videoSend: { max_bitrate: v.max_bitrate, frame_rate: v.frame_rate },
    videoCodecs: Array.isArray(v.codecs) && v.codecs.length ? v.codecs : undefined,
    language: null, // the hub defaults it to the sign language's spoken language
  };
  if (withFields) {
    const langs = (deaf.cfg && deaf.cfg.languages) || [];
    const sl = langs.length === 1 ? langs[0].tag : el.signLanguage.value;
    try { if (sl) localStorage.setItem(LANG_KEY, sl); } catch { /* ignore */ }
    o.fields = { sign_language: sl, to: el.deafTo.value.trim() || undefined };
  }
  return o;
}

function numberError(text) {
  el.deafToError.textContent = text || '';
  el.deafToError.hidden = !text;
  el.deafTo.setAttribute('aria-invalid', text ? 'true' : 'false');
}

function deafRefused(err) {
  const status = err && (err.status || 0);
  if (status !== 403 && status !== 400) return false;
  const words = String(err.message || '').replace(/^(forbidden|bad_request):\s*/, '');
  app.call = null;
  resetCallUi();
  setState('idle');
  setView('setup');
  if (status === 403) {
    showError('');
    numberError(words || t('customer.deaf.number_refused'));
    el.deafTo.focus();
  } else {
    showError(() => words || t('customer.error.not_started'));
    el.callInterpreter.focus();
  }
  setStatus(() => (status === 403 ? t('customer.deaf.not_placed_number') : t('customer.deaf.not_placed')));
  return true;
}

function applyVcoMic() {
  // Defence in depth (§4.2): the hub sends D's voice nowhere while VCO is
  // off, and the page does not send it either.
  const on = !!(deaf.interp && deaf.interp.vco);
  const st = app.call && app.call.localStream;
  if (deaf.on && st) for (const tr of st.getAudioTracks()) tr.enabled = on;
}

function carryOver(x) {
  if (!app.client) return false;
  const msg = { type: 'carry_over' }; // customers: no session field
  if (typeof x.vco === 'boolean') msg.vco = x.vco;
  if (typeof x.hco === 'boolean') msg.hco = x.hco;
  return app.client.send(msg);
}

function phoneMessage(ph, prev) {
  if (!ph || !ph.state || ph.state === 'none') return '';
  const to = ph.to || t('customer.deaf.phone_the_number');
  if (ph.state === 'dialling') return t('customer.deaf.phone_dialling', { to });
  if (ph.state === 'ringing') return t('customer.deaf.phone_ringing');
  if (ph.state === 'connected') return t('customer.deaf.phone_connected', { to });
  if (ph.state === 'ended') {
    if (prev && prev.state === 'connected') return t('customer.deaf.phone_other_hung_up');
    const why = phoneEndWhy(ph.code);
    return why ? t('customer.deaf.phone_ended_why', { why }) : t('customer.deaf.phone_ended');
  }
  return '';
}

function phoneEndWhy(code) {
  switch (code) {
    case 486: return t('customer.deaf.why_busy');
    case 480: case 408: return t('customer.deaf.why_no_answer');
    case 404: return t('customer.deaf.why_no_number');
    case 603: return t('customer.deaf.why_refused');
    case 487: return t('customer.deaf.why_cancelled');
    default: return '';
  }
}

function onDeafSession(msg) {
  const i = msg.interpreter || null;
  const prev = deaf.interp;
  deaf.interp = i;
  if (!i) return;
  const lead = (i.interpreters || []).find((x) => x.lead);
  const plead = prev && (prev.interpreters || []).find((x) => x.lead);
  const named = (lead && lead.name) || (msg.agent && msg.agent.name) || '';
  // Event messages (§9.1): the last one stays until the next. Each is a
  // function, so that it can be shown again in another language; `lost`
  // marks the ones about losing the interpreter (the status then adds
  // "Finding another interpreter…").
  const note = (fn, lost = false) => { deaf.note = fn; deaf.noteLost = lost; };
  if (i.handoff && i.handoff.state && !(prev && prev.handoff && prev.handoff.state)) note(() => t('customer.deaf.note_changing'), true);
  else if (lead && (!plead || plead.leg !== lead.leg)) {
    if (plead) note(() => (named ? t('customer.deaf.note_changing_to', { name: named }) : t('customer.deaf.note_changing')), true);
    else note(() => (named ? t('customer.deaf.note_joined', { name: named }) : t('customer.deaf.note_joined_yours')));
  }
  if (prev && !prev.side_talk && i.side_talk) note(() => (named ? t('customer.deaf.note_side_talk', { name: named }) : t('customer.deaf.note_side_talk_yours')));
  if (prev && prev.side_talk && !i.side_talk) note(() => t('customer.deaf.note_side_talk_over'));
  if (!prev || !!prev.vco !== !!i.vco) { if (prev || i.vco) note(i.vco ? () => t('customer.deaf.note_vco_on') : () => t('customer.deaf.note_vco_off')); }
  if (!prev || !!prev.hco !== !!i.hco) { if (prev || i.hco) note(i.hco ? () => t('customer.deaf.note_hco_on') : () => t('customer.deaf.note_hco_off')); }
  // the lead is gone with nobody else (requeued, §8): this outranks the
  // switches it reset; the status adds "Finding another interpreter…"
  if (plead && !lead) note(() => t('customer.deaf.note_disconnected'), true);
  const ph = i.phone;
  const pph = prev && prev.phone;
  const pm = phoneMessage(ph, pph);
  if (pm && (!prev || !prev.phone || prev.phone.state !== (i.phone && i.phone.state))) note(() => phoneMessage(ph, pph));
  applyVcoMic();
}

function deafStatus() {
  const s = app.state;
  const i = deaf.interp;
  const note = deaf.note ? deaf.note() : '';
  if (s === 'connecting' || s === 'starting' || s === 'created' || s === 'routing') return t('customer.status.connecting_call');
  if (s === 'reconnecting') return t('customer.deaf.status_reconnecting');
  if (s === 'waiting') {
    if (i && i.interpreters && i.interpreters.length === 0 && note && deaf.noteLost) return t('customer.deaf.status_finding', { note });
    const pos = app.position;
    const wait = minutes(app.ewt);
    if (typeof pos === 'number' && pos > 0) {
      return wait ? t('customer.deaf.status_waiting_position_wait', { position: pos, wait }) : t('customer.deaf.status_waiting_position', { position: pos });
    }
    return t('customer.deaf.status_waiting');
  }
  if (s === 'ringing') return t('customer.deaf.status_ringing');
  if (s === 'active') return note || t('customer.deaf.status_connected');
  return note || t('customer.status.connecting_call');
}

function renderDeaf() {
  const i = deaf.interp;
  const live = !!(app.call && app.call.live);
  el.vco.setAttribute('aria-pressed', String(!!(i && i.vco)));
  el.hco.setAttribute('aria-pressed', String(!!(i && i.hco)));
  el.vco.disabled = !live || !i;
  el.hco.disabled = !live || !i;
  const ph = i && i.phone;
  el.phoneLine.textContent = i ? t('customer.deaf.phone_line', { text: phoneMessage(ph, null) || (ph && ph.to ? t('customer.deaf.phone_not_called', { to: ph.to }) : t('customer.deaf.phone_none')) }) : '';
  el.rttInput.disabled = !live;
  el.rttBell.disabled = !live;
  el.callInterpreter.disabled = !(app.client && app.client.connected) && !joinToken;
}

function applyScale() {
  deaf.scale = Math.min(2, Math.max(0.8, Math.round(deaf.scale * 100) / 100));
  el.captions.style.setProperty('--rtt-scale', String(deaf.scale));
  el.textSmaller.disabled = deaf.scale <= 0.8;
  el.textLarger.disabled = deaf.scale >= 2;
  try { localStorage.setItem(SCALE_KEY, String(deaf.scale)); } catch { /* ignore */ }
}

let deafStatsTimer = null;
async function sampleDeafStats() {
  if (!deaf.on || !app.call || !app.call.live) return;
  const s = await app.call.getStats();
  const now = Date.now();
  const v = s.videoIn;
  const last = deaf.stats;
  deaf.stats = { at: now, frames: v.framesDecoded };
  if (!last || v.framesDecoded < last.frames) return;
  const fps = Math.round(((v.framesDecoded - last.frames) * 1000) / Math.max(1, now - last.at));
  deaf.videoIn = { fps, width: v.frameWidth, height: v.frameHeight, codec: v.codec };
  const cfg = (deaf.cfg && deaf.cfg.video) || {};
  const low = v.framesDecoded > 0 && cfg.min_fps && fps < cfg.min_fps;
  deaf.lowSince = low ? deaf.lowSince || now : 0;
  const warn = deaf.lowSince && now - deaf.lowSince >= 10000;
  el.videoWarning.hidden = !warn;
  el.videoWarning.textContent = warn ? t('customer.deaf.video_choppy', { fps }) : '';
}

el.callInterpreter.addEventListener('click', () => { numberError(''); startCall(true); });
el.answer.addEventListener('click', () => {
  if (!ringingFor) return;
  answering = ringingFor;
  stopRinging();
  startCall(true);
});
el.decline.addEventListener('click', () => {
  if (!ringingFor || !app.client) return;
  app.client.send({ type: 'decline', session: ringingFor });
  stopRinging();
  setStatus(() => t('customer.deaf.you_declined'));
});
el.deafCheck.addEventListener('click', () => { app.mode = 'video'; startPreview(); });
el.deafTo.addEventListener('input', () => numberError(''));
el.vco.addEventListener('click', () => carryOver({ vco: !(deaf.interp && deaf.interp.vco) }));
el.hco.addEventListener('click', () => carryOver({ hco: !(deaf.interp && deaf.interp.hco) }));
el.selfview.addEventListener('click', () => {
  const hide = el.selfview.getAttribute('aria-pressed') !== 'true';
  el.selfview.setAttribute('aria-pressed', String(hide));
  el.stage.classList.toggle('selfview-hidden', hide);
});
el.typeText.addEventListener('click', () => el.rttInput.focus());
el.textSmaller.addEventListener('click', () => { deaf.scale -= 0.2; applyScale(); });
el.textLarger.addEventListener('click', () => { deaf.scale += 0.2; applyScale(); });
el.rttBell.addEventListener('click', () => deaf.input.bell());
deafStatsTimer = setInterval(() => { sampleDeafStats().catch(() => {}); }, 2000);
if (yes(params.get('deaf'))) enterDeaf(null); // a link that knows it is an interpreter session

// ---- automation hook ----------------------------------------------------------------

window.splitApp = {
  get client() { return app.client; },
  get call() { return app.call; },
  get state() { return app.state; },
  get session() { return app.session; },
  get position() { return app.position; },
  get ewt() { return app.ewt; },
  get agentName() { return app.agentName; },
  get held() { return app.held; },
  get ended() { return app.ended; },
  get error() { return app.error; },
  get mode() { return app.mode; },
  async stats() {
    return app.call ? app.call.getStats() : null;
  },
  startCall: (video = presetVideo) => startCall(!!video),
  hangup,
  get phoneAudio() { return !!app.phoneAudio; },
  get link() { return app.link; },
  get resumed() { return app.resumed || 0; },
  get restarts() { return app.call ? app.call.restarts : 0; },
  // tests: restart ICE as after a network change
  restartIce: () => (app.call ? app.call.restartIce() : Promise.reject(new Error('no call'))),
  // tests: drop the connection to the hub as a network failure would
  dropConnection: () => { if (app.client && app.client.ws) app.client.ws.close(4000, 'network test'); },
  moveAudio: () => el.moveAudio.click(),
  deaf: {
    get on() { return !!deaf.on; },
    get config() { return deaf.cfg; },
    get interp() { return deaf.interp; },
    get vco() { return !!(deaf.interp && deaf.interp.vco); },
    get hco() { return !!(deaf.interp && deaf.interp.hco); },
    get micEnabled() { const tr = app.call && app.call.localStream && app.call.localStream.getAudioTracks()[0]; return tr ? tr.enabled : null; },
    get videoIn() { return deaf.videoIn || null; },
    get textScale() { return deaf.scale; },
    carryOver: (x) => carryOver(x),
    rtt: {
      get log() { return deaf.log; },
      text(source) { const p = deaf.panes.get(source); return p ? p.text : null; },
      get sources() { return [...deaf.panes.keys()]; },
      get sent() { return deaf.input.sent; },
    },
  },
};

// ---- start ----------------------------------------------------------------------------

if (embed) document.body.classList.add('embed');
if (params.get('name')) el.name.value = params.get('name');
if (!presetVideo) {
  el.voiceCall.classList.add('primary');
  el.videoCall.classList.remove('primary');
  el.voiceCall.parentNode.insertBefore(el.voiceCall, el.videoCall);
}
el.main.dataset.state = app.state;
setView('setup');

// The hub is reached at once (the link's check, or the entry point's
// connection); the first render waits for the catalog (i18nReady).
const firstCheck = joinToken ? redeem(true) : null;
if (firstCheck) firstCheck.catch(() => {}); // checkLink reports it
const firstConnect = joinToken ? null : connectClient();
if (firstConnect) firstConnect.catch(() => {}); // reported below
if (!(await i18nReady)) i18nLoad.then(relabel, () => {}); // late: shown again when it comes
relabel();

if (joinToken) {
  checkLink(firstCheck);
} else if (autostart) {
  startCall(presetVideo);
} else {
  firstConnect.then(render).catch((err) => {
    showError(() => errorText(err));
    render();
  });
  // Start the preview by itself only where the browser already allows it.
  (async () => {
    let granted = false;
    try {
      const names = presetVideo ? ['camera', 'microphone'] : ['microphone'];
      const states = await Promise.all(names.map((n) => navigator.permissions.query({ name: n }).then((r) => r.state)));
      granted = states.every((s) => s === 'granted');
    } catch { /* permissions API unavailable */ }
    if (granted && app.state === 'idle') startPreview();
    else listDevices();
  })();
}
