// SPLIT agent console and agent view.
//
// URL parameters (fragment or query string; keep tokens in the fragment so
// that they are not logged by servers and proxies):
//   #token=<token>    connect as an agent (otherwise: the sign-in form)
//   #view=<token>     agent view: the customer's video and your camera only
//                     (opened from a desk phone's screen pop)
//   autoanswer=1      accept offers at once
//   autologin=1       log in to the ACD after connecting; ready=1: and become ready
//   queues=a,b        queues to log in to (default: the agent's configured ones)
//   server=<url>      the hub (default: this page's origin)
//
// window.splitApp = {client, call, agentState, agent, session, offer, ended,
// mode, error, stats(), accept(leg?), decline(leg?), transfer(to), hangup(),
// hold(bool), mute(bool), setReady(bool), login(queues?), logout(), connect(token)}.
import { SessionClient } from './session.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ''))) params.set(k, v);
const yes = (v) => ['1', 'true', 'yes', 'on'].includes(String(v || '').toLowerCase());

const server = params.get('server') || undefined;
const viewToken = params.get('view');
const mode = viewToken ? 'viewer' : 'agent';
const autoanswer = yes(params.get('autoanswer'));
const TOKEN_KEY = 'split.agent.token';

const el = {};
for (const id of ['app-title', 'me', 'agent-state', 'status', 'error', 'login', 'login-form', 'token', 'connect', 'console',
  'state-text', 'state-since', 'btn-login', 'btn-ready', 'btn-notready', 'btn-logout', 'btn-disconnect',
  'offer', 'offer-title', 'offer-who', 'offer-details', 'offer-countdown', 'accept', 'decline',
  'wrapup', 'done', 'call', 'stage', 'remote-video', 'remote-placeholder', 'placeholder-text', 'local-video',
  'remote-audio', 'mute', 'hold', 'sound', 'hangup', 'transfer-form', 'transfer-to', 'transfer', 'transfer-targets',
  'escalate-form', 'escalate-to', 'escalate', 'invite-form', 'invite-to', 'invite-channel', 'invite', 'invite-result',
  'ctx-customer', 'ctx-queue', 'ctx-mode', 'ctx-state', 'ctx-session', 'ctx-context', 'last-ended',
  'viewer', 'viewer-customer', 'viewer-stage', 'viewer-remote', 'viewer-placeholder', 'viewer-local', 'viewer-close']) {
  el[id.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = $(id);
}

const STATE_LABEL = {
  logged_out: 'Logged out',
  not_ready: 'Not ready',
  ready: 'Ready',
  ringing: 'Ringing',
  busy: 'Busy',
  wrap_up: 'Wrap-up',
};

const app = {
  client: null,
  call: null, // current SessionCall (live or last)
  offer: null, // pending `offer` frame shown to the agent
  ended: null, // last `ended` {code, reason, session, leg}
  error: null,
  sessionId: null, // session of the current call / offer
};

let ringTimer = null;
let ringer = null;

// ---- helpers ------------------------------------------------------------------

function setStatus(text) {
  if (el.status.textContent !== text) el.status.textContent = text;
}

function showError(text) {
  app.error = text || null;
  el.error.textContent = text || '';
  el.error.hidden = !text;
}

function agentState() {
  return app.client ? app.client.agentState : null;
}

function currentSession() {
  const c = app.client;
  if (!c) return null;
  const id = (app.call && app.call.session) || app.sessionId || (app.offer && app.offer.session);
  return (id && c.sessions.get(id)) || (app.call && app.call.info) || null;
}

function callLive() {
  return !!(app.call && app.call.live);
}

function fill(dl, entries) {
  dl.textContent = '';
  if (!entries.length) {
    const dt = document.createElement('dt');
    dt.className = 'muted';
    dt.textContent = 'None';
    dl.append(dt, document.createElement('dd'));
    return;
  }
  for (const [k, v] of entries) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    dl.append(dt, dd);
  }
}

function customerName(x) {
  const c = x && x.customer;
  return (c && c.name) || 'Customer';
}

// A soft two-tone ring while an offer waits (silently skipped where the
// browser does not allow sound yet).
function startRinger() {
  stopRinger();
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return;
  try {
    const ctx = new AC();
    const beep = () => {
      if (ctx.state !== 'running') { ctx.resume().catch(() => {}); return; }
      for (const [f, t] of [[880, 0], [660, 0.25]]) {
        const o = ctx.createOscillator();
        const g = ctx.createGain();
        o.frequency.value = f;
        g.gain.value = 0.05;
        o.connect(g).connect(ctx.destination);
        o.start(ctx.currentTime + t);
        o.stop(ctx.currentTime + t + 0.2);
      }
    };
    beep();
    ringer = { ctx, timer: setInterval(beep, 2000) };
  } catch { /* no sound */ }
}

function stopRinger() {
  if (!ringer) return;
  clearInterval(ringer.timer);
  try { ringer.ctx.close(); } catch { /* ignore */ }
  ringer = null;
}

// ---- rendering ----------------------------------------------------------------------

function renderAgent() {
  const c = app.client;
  const connected = !!(c && c.connected);
  const st = connected ? agentState() || 'logged_out' : 'disconnected';
  el.agentState.dataset.state = st;
  el.agentState.textContent = connected ? STATE_LABEL[st] || st : 'Disconnected';
  el.stateText.textContent = connected ? STATE_LABEL[st] || st : '—';
  const since = c && c.agent && c.agent.since;
  el.stateSince.textContent = since ? `since ${new Date(since).toLocaleTimeString()}` : '';
  el.btnLogin.hidden = !(st === 'logged_out');
  el.btnLogout.hidden = st === 'logged_out' || st === 'disconnected';
  el.btnReady.hidden = !(st === 'not_ready');
  el.btnNotready.hidden = !(st === 'ready' || st === 'ringing' || st === 'busy' || st === 'wrap_up');
  for (const b of [el.btnLogin, el.btnReady, el.btnNotready, el.btnLogout]) b.disabled = !connected;
  el.wrapup.hidden = st !== 'wrap_up';
  renderTransferTargets();
}

function renderTransferTargets() {
  const c = app.client;
  const names = new Set();
  const qs = [
    ...((c && c.hello && c.hello.queues) || []), // every queue of the hub
    ...((c && c.agent && c.agent.queues) || []), // the agent's own
  ];
  for (const q of qs) {
    const n = typeof q === 'string' ? q : q && q.name;
    if (n) names.add(`queue:${n}`);
  }
  const s = currentSession();
  if (s && s.queue) names.add(`queue:${s.queue}`);
  let recent = [];
  try { recent = JSON.parse(sessionStorage.getItem('split.agent.transfers') || '[]'); } catch { /* ignore */ }
  for (const r of recent) names.add(r);
  const have = [...el.transferTargets.options].map((o) => o.value).join('\n');
  const want = [...names].join('\n');
  if (have === want) return;
  el.transferTargets.textContent = '';
  for (const n of names) {
    const o = document.createElement('option');
    o.value = n;
    el.transferTargets.append(o);
  }
}

function renderSession() {
  const s = currentSession();
  const src = s || app.offer;
  el.ctxCustomer.textContent = src ? customerName(src) : '—';
  el.ctxQueue.textContent = (src && src.queue) || '—';
  el.ctxMode.textContent = src ? (src.mode || (src.video ? 'video' : 'voice')) : '—';
  let state = s ? `${s.state || '—'}${s.held ? ' (on hold)' : ''}` : app.offer ? 'ringing' : '—';
  if (s && app.call && !app.call.live && app.call.session === s.session && s.state !== 'ended') state = 'ended (for you)';
  el.ctxState.textContent = state;
  el.ctxSession.textContent = (src && src.session) || '—';
  const ctx = (src && src.customer && src.customer.context) || {};
  fill(el.ctxContext, Object.entries(ctx));
}

function renderCall() {
  const live = callLive();
  const s = currentSession();
  const held = !!(s && s.held);
  el.mute.disabled = !live;
  el.hold.disabled = !live;
  el.hangup.disabled = !live;
  el.transferTo.disabled = !live;
  el.transfer.disabled = !live;
  el.escalateTo.disabled = !live;
  el.escalate.disabled = !live;
  el.hold.setAttribute('aria-pressed', String(held));
  el.stage.classList.toggle('held', held);
  el.stage.classList.toggle('in-call', live);
  if (!live) {
    el.placeholderText.textContent = app.offer ? 'Incoming call…' : 'No call';
  } else if (!el.stage.classList.contains('has-remote-video')) {
    el.placeholderText.textContent = app.call.video ? 'Waiting for the customer’s video…' : 'Voice call';
  }
}

function renderStatus() {
  const st = agentState();
  if (!app.client || !app.client.connected) return;
  if (callLive()) {
    const s = currentSession();
    const who = customerName(s || app.call.offer);
    if (s && s.state === 'transferring') setStatus(`Transferring ${who}…`);
    else if (s && s.held) setStatus(`${who} is on hold.`);
    else setStatus(`In a call with ${who}.`);
  } else if (app.offer) {
    setStatus(`Incoming ${app.offer.video ? 'video ' : ''}call from ${customerName(app.offer)}${app.offer.queue ? ` (queue ${app.offer.queue})` : ''}.`);
  } else if (st === 'wrap_up') {
    setStatus('Wrap-up: press Done when you are ready for the next call.');
  } else if (st === 'ready') {
    setStatus('Ready: waiting for calls.');
  } else if (st === 'not_ready') {
    setStatus('Not ready: you will not receive calls.');
  } else if (st === 'busy') {
    setStatus('Busy.');
  } else {
    setStatus('Logged out of the queues. Press Log in to take calls.');
  }
}

function render() {
  if (mode === 'viewer') return;
  renderAgent();
  renderSession();
  renderCall();
  renderStatus();
}

// ---- offers -----------------------------------------------------------------------

function showOffer(offer) {
  app.offer = offer;
  app.sessionId = offer.session || app.sessionId;
  el.offerTitle.textContent = offer.video ? 'Incoming video call' : 'Incoming call';
  el.offerWho.textContent = `${customerName(offer)}${offer.from ? ` · ${offer.from}` : ''}`;
  const details = [];
  if (offer.queue) details.push(['Queue', offer.queue]);
  const ctx = (offer.customer && offer.customer.context) || {};
  for (const [k, v] of Object.entries(ctx)) details.push([k, v]);
  fill(el.offerDetails, details);
  el.offer.hidden = false;
  clearInterval(ringTimer);
  const total = Number(offer.ring_timeout) || 0;
  const until = Date.now() + total * 1000;
  const tick = () => {
    if (!total) { el.offerCountdown.textContent = 'Ringing…'; return; }
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    el.offerCountdown.textContent = left > 0 ? `Ringing — ${left} s left to answer` : 'Expiring…';
  };
  tick();
  ringTimer = setInterval(tick, 250);
  render();
  if (autoanswer) {
    accept(offer.leg);
  } else {
    startRinger();
    el.accept.focus();
  }
}

function hideOffer() {
  clearInterval(ringTimer);
  ringTimer = null;
  stopRinger();
  app.offer = null;
  el.offer.hidden = true;
}

async function accept(leg) {
  const c = app.client;
  if (!c) return null;
  const offer = leg ? c.offers.get(leg) : app.offer;
  if (!offer) {
    showError('There is no call to accept (it may have been withdrawn).');
    return null;
  }
  hideOffer();
  showError('');
  app.sessionId = offer.session || null;
  setStatus(`Connecting to ${customerName(offer)}…`);
  try {
    const call = await c.accept(offer.leg, { video: true });
    render();
    el.hangup.focus();
    return call;
  } catch (err) {
    if (err.code !== 'ended') showError(`Could not accept the call: ${err.message || err}`);
    render();
    return null;
  }
}

function decline(leg) {
  const c = app.client;
  if (!c) return false;
  const l = leg || (app.offer && app.offer.leg);
  hideOffer();
  const ok = c.decline(l);
  render();
  return ok;
}

// ---- calls --------------------------------------------------------------------------

function playRemote(call, audioEl, videoEl, stage) {
  const audio = call.remoteStream.getAudioTracks();
  const video = call.remoteStream.getVideoTracks();
  if (audioEl && audio.length) {
    if (audioEl.srcObject?.getAudioTracks()[0] !== audio[0]) audioEl.srcObject = new MediaStream(audio);
    audioEl.play().then(() => { el.sound.hidden = true; }).catch(() => { el.sound.hidden = false; });
  }
  if (video.length && videoEl.srcObject?.getVideoTracks()[0] !== video[0]) {
    videoEl.srcObject = new MediaStream(video);
    videoEl.play().catch(() => {});
    // The stage shows the video once frames arrive (a track can exist
    // without media, e.g. a voice-only customer).
    video[0].addEventListener('mute', () => stage.classList.remove('has-remote-video'));
    video[0].addEventListener('unmute', () => { if (videoEl.videoWidth) stage.classList.add('has-remote-video'); });
  }
}

function watchFrames(videoEl, stage) {
  const on = () => {
    if (videoEl.videoWidth > 0 && videoEl.srcObject) {
      stage.classList.add('has-remote-video');
      render();
    }
  };
  for (const ev of ['loadeddata', 'resize', 'playing']) videoEl.addEventListener(ev, on);
}
watchFrames(el.remoteVideo, el.stage);
watchFrames(el.viewerRemote, el.viewerStage);

function showLocal(stream, videoEl, stage) {
  const has = !!(stream && stream.getVideoTracks().length);
  videoEl.srcObject = has ? stream : null;
  if (has) videoEl.play().catch(() => {});
  stage.classList.toggle('has-local-video', has);
}

function clearStage(stage, ...media) {
  for (const m of media) m.srcObject = null;
  stage.classList.remove('has-remote-video', 'has-local-video', 'held');
}

function watchCall(call) {
  app.call = call;
  app.sessionId = call.session || app.sessionId;
  el.mute.setAttribute('aria-pressed', 'false');
  const viewer = call.role === 'viewer';
  const remoteVideo = viewer ? el.viewerRemote : el.remoteVideo;
  const localVideo = viewer ? el.viewerLocal : el.localVideo;
  const stage = viewer ? el.viewerStage : el.stage;
  call.addEventListener('localstream', (e) => showLocal(e.detail.stream, localVideo, stage));
  call.addEventListener('track', () => {
    // The agent view plays no audio: the desk phone has it.
    playRemote(call, viewer ? null : el.remoteAudio, remoteVideo, stage);
    render();
  });
  call.addEventListener('error', (e) => {
    const d = e.detail;
    if (d.code === 'no_camera') showError('Your camera could not be used: the customer will not see you.');
    else if (d.code === 'no_microphone') showError('Your microphone could not be used.');
    else if (d.code === 'ice_failed') showError('The media connection to the hub failed.');
    else showError(d.message || d.code);
  });
  call.addEventListener('state', (e) => {
    if (e.detail.state !== 'ended') return;
    if (call !== app.call) return;
    clearStage(stage, remoteVideo, localVideo, el.remoteAudio);
    if (!app.ended || app.ended.leg !== call.leg) {
      app.ended = { code: e.detail.code, reason: e.detail.reason, session: call.session, leg: call.leg };
    }
    el.lastEnded.textContent = `Last call ended: ${app.ended.code}${app.ended.reason ? ` ${app.ended.reason}` : ''}`;
    if (viewer) viewerEnded(app.ended);
    render();
  });
  render();
}

function hangup() {
  if (callLive()) app.call.hangup();
  else if (app.offer) decline();
  render();
}

function hold(on) {
  const c = app.client;
  if (!c || !callLive()) return false;
  const s = currentSession();
  const target = on === undefined ? !(s && s.held) : !!on;
  el.hold.setAttribute('aria-pressed', String(target));
  return c.hold(target, app.call.session);
}

function mute(on) {
  if (!callLive()) return false;
  const target = on === undefined ? !app.call.muted : !!on;
  el.mute.setAttribute('aria-pressed', String(target));
  return app.call.mute(target);
}

function transfer(to) {
  const c = app.client;
  to = String(to ?? el.transferTo.value).trim();
  if (!to) {
    el.transferTo.focus();
    return false;
  }
  if (!c || !callLive()) return false;
  const ok = c.transfer(to, app.call.session);
  if (ok) {
    setStatus(`Transferring to ${to}…`);
    try {
      const recent = JSON.parse(sessionStorage.getItem('split.agent.transfers') || '[]').filter((r) => r !== to);
      recent.unshift(to);
      sessionStorage.setItem('split.agent.transfers', JSON.stringify(recent.slice(0, 8)));
    } catch { /* ignore */ }
  }
  return ok;
}

function queuesParam() {
  const q = params.get('queues');
  return q ? q.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

function login(queues) {
  return !!(app.client && app.client.login(queues || queuesParam()));
}

function logout() {
  return !!(app.client && app.client.logout());
}

function setReady(ready) {
  const c = app.client;
  if (!c) return false;
  if (ready && (!c.agentState || c.agentState === 'logged_out')) c.login(queuesParam());
  return c.ready(!!ready);
}

// ---- connection --------------------------------------------------------------------

function showScreen(name) {
  el.login.hidden = name !== 'login';
  el.console.hidden = name !== 'console';
  el.viewer.hidden = name !== 'viewer';
}

async function connect(token) {
  if (app.client) app.client.close(1000, 'reconnecting');
  showError('');
  setStatus('Connecting…');
  const c = new SessionClient({ server, token });
  app.client = c;
  c.addEventListener('agent', () => render());
  c.addEventListener('offer', (e) => showOffer(e.detail));
  c.addEventListener('invited', (e) => showInvited(e.detail));
  c.addEventListener('delivery', (e) => {
    app.delivery = e.detail;
    setStatus(`Link delivery (${e.detail.channel}): ${e.detail.status}`);
  });
  c.addEventListener('cancel', (e) => {
    const m = e.detail;
    if (app.offer && m.leg === app.offer.leg) {
      hideOffer();
      const why = { timeout: 'not answered in time', abandoned: 'the customer hung up', answered_elsewhere: 'answered by someone else', logout: 'you logged out' }[m.reason] || m.reason || 'withdrawn';
      setStatus(`The call was withdrawn: ${why}.`);
      el.lastEnded.textContent = `Offer withdrawn: ${why}`;
    }
    render();
  });
  c.addEventListener('session', (e) => {
    if (mode === 'viewer') renderViewer(e.detail);
    else render();
  });
  c.addEventListener('ended', (e) => {
    app.ended = { code: e.detail.code, reason: e.detail.reason, session: e.detail.session, leg: e.detail.leg };
    if (app.offer && e.detail.leg === app.offer.leg) hideOffer();
    render();
  });
  c.addEventListener('call', (e) => watchCall(e.detail));
  c.addEventListener('error', (e) => {
    const m = e.detail;
    showError(`${m.message || m.code}${m.code && m.message ? ` (${m.code})` : ''}`);
  });
  c.addEventListener('close', () => {
    if (c !== app.client) return;
    hideOffer();
    if (mode === 'viewer') {
      viewerEnded(app.ended || { code: 503, reason: 'Connection to the hub closed' });
      return;
    }
    showError('The connection to the hub was lost. Sign in again.');
    showScreen('login');
    render();
    el.agentState.dataset.state = 'disconnected';
    el.agentState.textContent = 'Disconnected';
  });
  try {
    const hello = await c.connect();
    el.me.textContent = hello.identity ? `${hello.identity}` : '';
    return hello;
  } catch (err) {
    if (c === app.client) {
      showError(err.message || String(err));
      setStatus('');
      if (mode !== 'viewer') showScreen('login');
    }
    throw err;
  }
}

async function startAgent(token) {
  try {
    await connect(token);
  } catch {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
    return;
  }
  try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* ignore */ }
  showScreen('console');
  render();
  if (yes(params.get('autologin')) || yes(params.get('ready'))) {
    if (!agentState() || agentState() === 'logged_out') login();
    if (yes(params.get('ready'))) app.client.ready(true);
  }
  if (agentState() === 'logged_out' || !agentState()) el.btnLogin.focus();
}

// ---- agent view -------------------------------------------------------------------------

function renderViewer(s) {
  if (!s) return;
  const name = customerName(s);
  el.viewerCustomer.textContent = name;
  if (!el.viewerStage.classList.contains('has-remote-video')) {
    el.viewerPlaceholder.textContent = s.mode === 'voice' || s.mode === 'audio' ? 'The customer has no video' : 'Waiting for the customer’s video…';
  }
  setStatus(s.held ? `${name} is on hold.` : `Viewing the call with ${name}.`);
}

let viewerDone = false;
function viewerEnded(info) {
  if (viewerDone) return;
  viewerDone = true;
  clearStage(el.viewerStage, el.viewerRemote, el.viewerLocal);
  el.viewerPlaceholder.textContent = 'The view is closed.';
  setStatus(info && info.code && info.code !== 200 ? `The view is closed (${info.code} ${info.reason || ''}).` : 'The view is closed. You can close this window.');
  el.viewerClose.textContent = 'Close window';
}

async function startViewer() {
  document.title = 'SPLIT agent view';
  el.appTitle.textContent = 'SPLIT agent view';
  el.agentState.hidden = true;
  showScreen('viewer');
  try {
    await connect(viewToken);
  } catch (err) {
    el.viewerPlaceholder.textContent = 'Could not connect.';
    return;
  }
  setStatus('Connecting to the customer’s video…');
  try {
    await app.client.view({ video: true });
    const s = currentSession();
    if (s) renderViewer(s);
    else setStatus('Connected.');
  } catch (err) {
    showError(`Could not open the view: ${err.message || err}`);
    viewerEnded({ code: err.status || 500, reason: err.message });
  }
}

function closeViewer() {
  if (callLive()) app.call.hangup();
  if (app.client) app.client.close(1000, 'view closed');
  viewerEnded({ code: 200 });
  window.close(); // only works for windows opened by script; otherwise the message stays
}

// ---- wiring -------------------------------------------------------------------------------

el.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const t = el.token.value.trim();
  if (t) startAgent(t);
});
el.btnLogin.addEventListener('click', () => login());
el.btnLogout.addEventListener('click', () => logout());
el.btnReady.addEventListener('click', () => setReady(true));
el.btnNotready.addEventListener('click', () => setReady(false));
el.btnDisconnect.addEventListener('click', () => {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
  const c = app.client;
  app.client = null;
  if (c) c.close(1000, 'signed out');
  hideOffer();
  showScreen('login');
  setStatus('Signed out.');
  el.agentState.dataset.state = 'disconnected';
  el.agentState.textContent = 'Disconnected';
  el.token.focus();
});
el.accept.addEventListener('click', () => accept());
el.decline.addEventListener('click', () => decline());
el.done.addEventListener('click', () => { if (app.client) app.client.ready(true); });
el.hangup.addEventListener('click', () => hangup());
el.hold.addEventListener('click', () => hold());
el.mute.addEventListener('click', () => mute());
el.sound.addEventListener('click', () => {
  el.remoteAudio.play().then(() => { el.sound.hidden = true; }).catch(() => {});
});
el.transferForm.addEventListener('submit', (e) => {
  e.preventDefault();
  transfer();
});
el.escalateForm.addEventListener('submit', (e) => {
  e.preventDefault();
  escalate();
});
el.inviteForm.addEventListener('submit', (e) => {
  e.preventDefault();
  invite();
});

// Reverse: send a customer a link; the console rings at once and waits.
function invite(to, channel) {
  const c = app.client;
  to = String(to ?? el.inviteTo.value).trim();
  channel = channel ?? el.inviteChannel.value;
  if (!c || !c.connected || !to) {
    el.inviteTo.focus();
    return false;
  }
  el.inviteResult.textContent = `Sending a link to ${to}…`;
  return c.send({ type: 'invite', to, channel: channel || undefined });
}

// Remote Viewer: the caller on the phone gets a link to add video.
function escalate(to) {
  const c = app.client;
  if (!c || !callLive()) return false;
  to = String(to ?? el.escalateTo.value).trim();
  setStatus('Sending the customer a video link…');
  return c.send({ type: 'escalate', session: app.call.session, to: to || undefined });
}

function showInvited(m) {
  app.invited = m;
  if (m.channel === 'whatsapp-call') {
    // a WhatsApp voice call: no link; the console rings once the call can be placed
    const waiting = m.delivery === 'requested'
      ? 'asked for permission to call (the console rings when the customer accepts)'
      : 'calling — the console rings now';
    el.inviteResult.textContent = `WhatsApp call to ${m.to}: ${waiting}.`;
    setStatus(`WhatsApp call to ${m.to}: ${waiting}.`);
    return;
  }
  const how = { sms: 'by SMS', whatsapp: 'by WhatsApp', email: 'by e-mail', copy: '— copy it' }[m.channel] || '';
  el.inviteResult.textContent = '';
  const text = document.createElement('span');
  text.textContent = `Link ${how} ${m.to ? 'to ' + m.to : ''} (${m.delivery}): `;
  const a = document.createElement('a');
  a.href = m.url;
  a.textContent = m.url;
  a.target = '_blank';
  a.rel = 'noopener';
  el.inviteResult.append(text, a);
  setStatus(`Video link sent${m.to ? ' to ' + m.to : ''}: waiting for the customer.`);
}
el.viewerClose.addEventListener('click', closeViewer);
document.addEventListener('keydown', (e) => {
  // Keyboard shortcuts while an offer rings: Alt+A accept, Alt+D decline.
  if (!app.offer || !e.altKey) return;
  if (e.key === 'a' || e.key === 'A') { e.preventDefault(); accept(); }
  if (e.key === 'd' || e.key === 'D') { e.preventDefault(); decline(); }
});
window.addEventListener('pagehide', () => { if (app.client) app.client.close(1001, 'page closed'); });

// ---- automation hook ------------------------------------------------------------------------

window.splitApp = {
  get client() { return app.client; },
  get call() { return app.call; },
  get agentState() { return agentState(); },
  get agent() { return app.client ? app.client.agent : null; },
  get session() { return currentSession(); },
  get offer() { return app.offer; },
  get ended() { return app.ended; },
  get invited() { return app.invited || null; },
  get delivery() { return app.delivery || null; },
  invite: (to, channel) => invite(to, channel),
  escalate: (to) => escalate(to),
  get error() { return app.error; },
  get mode() { return mode; },
  async stats() { return app.call ? app.call.getStats() : null; },
  accept: (leg) => accept(leg),
  decline: (leg) => decline(leg),
  transfer: (to) => transfer(to),
  hangup: () => hangup(),
  hold: (on) => hold(on),
  mute: (on) => mute(on),
  setReady: (ready) => setReady(ready),
  login: (queues) => login(queues),
  logout: () => logout(),
  connect: (token) => startAgent(token),
};

// ---- start ---------------------------------------------------------------------------------------

if (mode === 'viewer') {
  startViewer();
} else {
  let token = params.get('token');
  if (!token) {
    try { token = sessionStorage.getItem(TOKEN_KEY); } catch { /* ignore */ }
  }
  if (token) {
    showScreen('console');
    startAgent(token);
  } else {
    showScreen('login');
    setStatus('Sign in to take calls.');
    el.token.focus();
  }
}
