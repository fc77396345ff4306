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
let meter = null; // {ctx, timer}
let facingMode = 'user';
let callSeq = 0;
// Sessions this page's calls had: their late frames never touch a new call.
const pastSessions = new Set();

// ---- helpers -------------------------------------------------------------------

function setStatus(text) {
  if (el.status.textContent !== text) el.status.textContent = text;
}

function showError(text) {
  app.error = text || null;
  el.error.textContent = text || '';
  el.error.hidden = !text;
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
  if (seconds < 60) return 'less than a minute';
  const m = Math.round(seconds / 60);
  return m === 1 ? 'about 1 minute' : `about ${m} minutes`;
}

function queueText(position, ewt) {
  if (typeof position !== 'number' || position < 1) return 'Waiting for the next available agent…';
  const wait = minutes(ewt);
  return `You are number ${position} in the queue${wait ? ` — ${wait}` : ''}`;
}

const END_TEXT = {
  200: 'The call has ended. Thank you!',
  404: 'This contact point does not exist.',
  408: 'Nobody answered, sorry.',
  480: 'Nobody is available right now. Please try again later.',
  486: 'All our agents are busy. Please try again later.',
  487: 'The call was cancelled.',
  503: 'The service is not available right now. Please try again later.',
};

function endText(code, reason) {
  if (/connection (lost|to the hub closed)/i.test(reason || '')) return 'The connection was lost. Please check your network and try again.';
  return END_TEXT[code] || (reason ? `The call has ended: ${reason}` : 'The call has ended.');
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
      el.micLevel.textContent = level > 0.02 ? 'sound detected' : 'silent';
    }, 100);
    meter = { ctx, timer };
  } catch (err) {
    console.warn('mic meter unavailable', err);
  }
}

function stopPreview() {
  stopMeter();
  if (previewStream) for (const t of previewStream.getTracks()) t.stop();
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
    showError('Your browser cannot use a camera or microphone on this page (a secure https page is needed).');
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
      if (wantVideo) showError('No camera could be opened: you can still make a voice call.');
    } catch (err2) {
      showError(`Your microphone could not be opened: ${err2.message || err2.name}. Check your browser's permissions.`);
      return;
    }
  }
  if (app.state !== 'idle') { // a call started meanwhile
    for (const t of stream.getTracks()) t.stop();
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
  el.check.textContent = 'Test again';
  el.deafCheck.textContent = 'Test camera again';
  await listDevices();
}

async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  let devices = [];
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  const fill = (select, kind, fallback) => {
    const current = select.value || (previewStream && (previewStream.getTracks().find((t) => t.kind === (kind === 'videoinput' ? 'video' : 'audio')) || {}).getSettings?.().deviceId) || '';
    const list = devices.filter((d) => d.kind === kind && d.deviceId);
    select.textContent = '';
    const def = document.createElement('option');
    def.value = '';
    def.textContent = fallback;
    select.append(def);
    list.forEach((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${fallback.replace('Default ', '')} ${i + 1}`;
      select.append(o);
    });
    if (list.some((d) => d.deviceId === current)) select.value = current;
    select.disabled = list.length === 0;
    return list.length;
  };
  const cams = fill(el.cameraSelect, 'videoinput', 'Default camera');
  fill(el.micSelect, 'audioinput', 'Default microphone');
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
    setStatus(deafStatus());
  } else if (s === 'idle') {
    setStatus(app.client && app.client.connected ? 'Ready when you are.' : app.error ? 'Not connected.' : 'Connecting…');
  } else if (s === 'connecting' || s === 'starting' || s === 'created' || s === 'routing') {
    setStatus('Connecting your call…');
  } else if (s === 'waiting') {
    setStatus(queueText(app.position, app.ewt));
  } else if (s === 'ringing') {
    setStatus('An agent is about to answer…');
  } else if (s === 'transferring') {
    setStatus('Transferring you, please hold…');
  } else if (s === 'active') {
    setStatus(app.held ? 'You are on hold.' : app.agentName ? `You are talking to ${app.agentName}.` : 'You are connected.');
  } else if (s === 'ended') {
    setStatus(app.ended ? endText(app.ended.code, app.ended.reason) : 'The call has ended.');
  }
  el.agentLine.textContent = s === 'active' && app.agentName ? app.agentName : '';
  el.placeholderText.textContent = deaf.on ? (s === 'active' ? 'Waiting for the interpreter’s video…' : s === 'waiting' ? 'Waiting for an interpreter' : '')
    : s === 'active' ? 'Audio only' : s === 'waiting' ? 'Please wait' : '';
  el.stage.classList.toggle('connected', s === 'active');
  el.stage.classList.toggle('held', !!app.held);
}

function finish(code, reason) {
  if (app.state === 'ended') return;
  for (const sid of [app.call && app.call.session, app.session && app.session.session]) if (sid) pastSessions.add(sid);
  app.ended = { code: code ?? 200, reason: reason || '' };
  setState('ended');
  el.endedReason.textContent = endText(app.ended.code, app.ended.reason);
  el.endedDetail.textContent = `${app.ended.code}${app.ended.reason ? ` ${app.ended.reason}` : ''}`;
  el.remoteAudio.srcObject = null;
  el.remoteVideo.srcObject = null;
  el.localVideo.srcObject = null;
  if (deaf.on) { deaf.input.flush(); deaf.stats = null; }
  setView('ended');
  render();
  post('ended', { code: app.ended.code, reason: app.ended.reason });
  el.again.focus();
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
    if (e.detail.state === 'restarting') setStatus('Your network changed — reconnecting the call…');
    else if (e.detail.state === 'restarted') setStatus('Reconnected.');
  });
  call.addEventListener('error', (e) => {
    if (e.detail.code === 'no_camera') showError('Your camera could not be used: the call continues with audio only.');
    else if (e.detail.code === 'ice_failed') showError('The media connection failed. Check your network and try again.');
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
    throw Object.assign(new Error('Cannot reach the service. Check your connection.'), { code: 'network' });
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

// checkLink shows the link's state before anything is consumed.
async function checkLink() {
  app.link = { state: 'checking' };
  setCallButtons(false);
  try {
    const r = await redeem(true);
    app.link = { state: 'ready', expiresAt: r.expires_at, notBefore: r.not_before || null };
    setCallButtons(true);
    setStatus('Your call is ready. Press a call button to join.');
    if (autostart) startCall(presetVideo);
  } catch (e) {
    if (e.code === 'too_early' && e.notBefore) {
      app.link = { state: 'lobby', code: e.code, notBefore: e.notBefore };
      lobby(new Date(e.notBefore));
      return;
    }
    app.link = { state: 'error', code: e.code };
    showError(e.message);
    setStatus(e.message);
  }
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
    const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), sec = left % 60;
    const when = opensAt.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const parts = h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
    setStatus(`You are early: the call opens at ${when} (in ${parts}). This page will let you in then.`);
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
    setStatus(app.session && app.session.mode === 'whatsapp'
      ? 'Your voice now goes through this device; the WhatsApp call has ended.'
      : 'Your voice now goes through this device; you can hang up the phone call.');
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
    setStatus('Connection lost — reconnecting…');
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
        await client.startCall({ video: app.mode === 'video', ...devices, ...(deaf.on ? deafCallOptions(false) : {}) });
        app.resumed = (app.resumed || 0) + 1;
        setState('active');
        setStatus('Reconnected.');
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
    showError(err.message || String(err));
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
    const opts = { video, name: name || undefined, context, ...devices, ...(deaf.on ? deafCallOptions((!token || !!registered) && !answering) : {}) };
    if (answering) opts.fields = { ...(opts.fields || {}), session: answering };
    answering = '';
    await client.startCall(opts);
    if (app.state === 'starting') render();
  } catch (err) {
    if (seq !== callSeq) return;
    // The deaf user's start refused before any session (a number the dial
    // policy refuses, a bad field): back to the form, the reason next to it.
    if (deaf.on && deafRefused(err)) return;
    if (err.code !== 'ended') showError(err.message || String(err));
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
  setStatus('Moving your voice to this device…');
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
  el.flip.textContent = facingMode === 'user' ? 'Switch to rear camera' : 'Switch to front camera';
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
  else if (!app.client || !app.client.connected) connectClient().then(render).catch((err) => { showError(err.message); render(); });
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
  note: '', // the last event message (stays until the next one)
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
  const p = rttPane(key, n ? `Interpreter: ${n}` : 'Interpreter', 'Text from the interpreter');
  if (n) p.setTitle(`Interpreter: ${n}`, `Text from the interpreter ${n}`);
  return p;
}

function resetRtt() {
  for (const p of deaf.panes.values()) p.section.remove();
  deaf.panes.clear();
  rttPane('interpreter/', 'Interpreter', 'Text from the interpreter');
  rttPane('phone', 'Phone', 'Text from the phone');
  rttPane('you', 'You', 'Your text');
  deaf.input.clear();
  deaf.link.waiting = '';
}

deaf.link = new RttLink({
  onText: ({ from, leg }, text) => {
    deaf.log.push({ at: Date.now(), from, leg, text });
    if (deaf.log.length > 5000) deaf.log.splice(0, 2500);
    (from === 'phone' ? rttPane('phone', 'Phone', 'Text from the phone') : interpreterPane(leg)).feed(text);
  },
  onClose: ({ from, leg }) => { if (from === 'interpreter') interpreterPane(leg).closed(); },
});
deaf.input = new RttInput(el.rttInput, {
  send: (t) => deaf.link.send(t),
  echo: (t) => rttPane('you', 'You', 'Your text').feed(t),
});

function enterDeaf(cfg) {
  if (cfg) deaf.cfg = cfg;
  if (deaf.on) { if (cfg) fillDeafSetup(); return; }
  deaf.on = true;
  document.body.classList.add('deaf');
  document.title = 'Sign language interpreter';
  const h1 = document.getElementById('title');
  if (h1) h1.textContent = 'Sign language interpreter';
  el.incallTitle.textContent = 'Call';
  el.remoteVideo.setAttribute('aria-label', 'Interpreter video');
  el.localVideo.setAttribute('aria-label', 'Your camera');
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
  el.deafToHint.textContent = d.country_code
    ? `A number in your country (+${d.country_code})${d.allow_international ? ' or an international number starting with +' : ''}.`
    : '';
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
  if (!ringingFor) setStatus('Ready. This page rings when someone calls you.');
  window.splitApp.registered = registered;
}

function ringIn(x) {
  if (!x || !x.session || (app.state !== 'idle' && app.state !== 'ended')) return;
  ringingFor = x.session;
  window.splitApp.ringing = x;
  const langs = (deaf.cfg && deaf.cfg.languages) || [];
  const l = langs.find((v) => v.tag === x.sign_language);
  el.ringingTitle.textContent = x.from ? `Incoming call from ${x.from}` : 'Incoming call';
  el.ringingDetail.textContent = `An interpreter${l ? ` (${l.name})` : ''} is with the caller. Answer to see the interpreter.`;
  setView('setup');
  el.ringing.hidden = false;
  document.body.classList.add('is-ringing');
  setStatus(el.ringingTitle.textContent);
  el.answer.focus();
  // a visual ring: the title blinks; phones vibrate where the browser lets them
  let n = 0;
  clearInterval(ringTimer);
  ringTimer = setInterval(() => {
    document.title = n++ % 2 ? 'Sign language interpreter' : '☎ Incoming call';
    try { if (navigator.vibrate) navigator.vibrate(400); } catch { /* not allowed */ }
  }, 1000);
}

function stopRinging() {
  ringingFor = '';
  window.splitApp.ringing = null;
  el.ringing.hidden = true;
  document.body.classList.remove('is-ringing');
  clearInterval(ringTimer);
  ringTimer = null;
  document.title = 'Sign language interpreter';
}

function ringOff(x) {
  if (!ringingFor || x.session !== ringingFor) return;
  stopRinging();
  setStatus({
    answered_elsewhere: 'The call was answered on another device.',
    declined: 'The call was declined on another device.',
    timeout: 'Missed call. A link to join it was sent to you.',
    session_over: 'The caller hung up.',
  }[x.reason] || 'The call stopped ringing.');
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
    numberError(words || 'This number cannot be called through this service.');
    el.deafTo.focus();
  } else {
    showError(words || 'The call could not be started.');
    el.callInterpreter.focus();
  }
  setStatus(status === 403 ? 'The call was not placed: see the message next to the number.' : 'The call was not placed.');
  return true;
}

function applyVcoMic() {
  // Defence in depth (§4.2): the hub sends D's voice nowhere while VCO is
  // off, and the page does not send it either.
  const on = !!(deaf.interp && deaf.interp.vco);
  const st = app.call && app.call.localStream;
  if (deaf.on && st) for (const t of st.getAudioTracks()) t.enabled = on;
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
  const to = ph.to || 'the number';
  if (ph.state === 'dialling') return `Calling ${to}…`;
  if (ph.state === 'ringing') return 'The phone is ringing.';
  if (ph.state === 'connected') return `Connected to ${to}.`;
  if (ph.state === 'ended') {
    if (prev && prev.state === 'connected') return 'The other party hung up.';
    const why = { 486: 'the line is busy', 480: 'nobody answered', 408: 'nobody answered', 404: 'the number does not exist', 603: 'the call was refused', 487: 'the call was cancelled' }[ph.code];
    return `The phone call ended${why ? `: ${why}` : ''}.`;
  }
  return '';
}

function onDeafSession(msg) {
  const i = msg.interpreter || null;
  const prev = deaf.interp;
  deaf.interp = i;
  if (!i) return;
  const lead = (i.interpreters || []).find((x) => x.lead);
  const plead = prev && (prev.interpreters || []).find((x) => x.lead);
  const name = (lead && lead.name) || (msg.agent && msg.agent.name) || 'Your interpreter';
  // Event messages (§9.1): the last one stays until the next.
  if (i.handoff && i.handoff.state && !(prev && prev.handoff && prev.handoff.state)) deaf.note = 'Your interpreter is changing.';
  else if (lead && (!plead || plead.leg !== lead.leg)) deaf.note = plead ? `Your interpreter is changing. ${name} is joining.` : `Interpreter ${name} has joined.`;
  if (prev && !prev.side_talk && i.side_talk) deaf.note = `${name} is talking to you only; the phone cannot hear.`;
  if (prev && prev.side_talk && !i.side_talk) deaf.note = 'The phone can hear your interpreter again.';
  if (!prev || !!prev.vco !== !!i.vco) { if (prev || i.vco) deaf.note = i.vco ? 'Your voice goes to the phone (VCO on).' : 'Your voice does not go to the phone (VCO off).'; }
  if (!prev || !!prev.hco !== !!i.hco) { if (prev || i.hco) deaf.note = i.hco ? 'You hear the phone (HCO on).' : 'You do not hear the phone (HCO off).'; }
  // the lead is gone with nobody else (requeued, §8): this outranks the
  // switches it reset; the status adds "Finding another interpreter…"
  if (plead && !lead) deaf.note = 'Your interpreter was disconnected.';
  const pm = phoneMessage(i.phone, prev && prev.phone);
  if (pm && (!prev || !prev.phone || prev.phone.state !== (i.phone && i.phone.state))) deaf.note = pm;
  applyVcoMic();
}

function deafStatus() {
  const s = app.state;
  const i = deaf.interp;
  if (s === 'connecting' || s === 'starting' || s === 'created' || s === 'routing') return 'Connecting your call…';
  if (s === 'reconnecting') return 'Connection lost, reconnecting…';
  if (s === 'waiting') {
    if (i && i.interpreters && i.interpreters.length === 0 && deaf.note.startsWith('Your interpreter')) return `${deaf.note} Finding another interpreter…`;
    const pos = app.position;
    const wait = minutes(app.ewt);
    return typeof pos === 'number' && pos > 0
      ? `Waiting for an interpreter, you are number ${pos}${wait ? ` (${wait})` : ''}.`
      : 'Waiting for an interpreter…';
  }
  if (s === 'ringing') return 'An interpreter is being called…';
  if (s === 'active') return deaf.note || 'You are connected to your interpreter.';
  return deaf.note || 'Connecting your call…';
}

function renderDeaf() {
  const i = deaf.interp;
  const live = !!(app.call && app.call.live);
  el.vco.setAttribute('aria-pressed', String(!!(i && i.vco)));
  el.hco.setAttribute('aria-pressed', String(!!(i && i.hco)));
  el.vco.disabled = !live || !i;
  el.hco.disabled = !live || !i;
  const ph = i && i.phone;
  el.phoneLine.textContent = i ? `Phone: ${phoneMessage(ph, null) || (ph && ph.to ? `not called yet (${ph.to})` : 'no call yet')}` : '';
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
  el.videoWarning.textContent = warn ? `The interpreter's video is choppy (${fps} fps).` : '';
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
  setStatus('You declined the call.');
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
    get micEnabled() { const t = app.call && app.call.localStream && app.call.localStream.getAudioTracks()[0]; return t ? t.enabled : null; },
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
render();

if (joinToken) {
  checkLink();
} else if (autostart) {
  startCall(presetVideo);
} else {
  connectClient().then(render).catch((err) => {
    showError(err.message || String(err));
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
