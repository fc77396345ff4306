// SPLIT softphone page logic. Uses ./split.js for all signalling and media.
//
// URL parameters (in the fragment or the query string):
//   token=<token>     connect immediately with this token (skips the form)
//   server=<url>      WebSocket URL of the hub (default: /v1/ws on this host)
//   dial=<target>     pre-fill the dial field
//   video=1           pre-tick the video checkbox
//   autoanswer=1      answer incoming calls automatically
//   relay=1           media only through the hub's TURN servers (iceTransportPolicy 'relay')
import { SplitClient, mintToken } from './split.js';

const $ = (id) => document.getElementById(id);

const params = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ''))) params.set(k, v);

const el = {
  conn: $('conn'),
  login: $('login'),
  loginForm: $('login-form'),
  loginError: $('login-error'),
  apiKey: $('api-key'),
  identity: $('identity'),
  ttl: $('ttl'),
  connect: $('connect'),
  phone: $('phone'),
  meIdentity: $('me-identity'),
  meUri: $('me-uri'),
  disconnect: $('disconnect'),
  dialForm: $('dial-form'),
  dial: $('dial'),
  audioToggle: $('audio-toggle'),
  videoToggle: $('video-toggle'),
  call: $('call'),
  hangup: $('hangup'),
  answer: $('answer'),
  reject: $('reject'),
  hold: $('hold'),
  resume: $('resume'),
  incoming: $('incoming'),
  incomingKind: $('incoming-kind'),
  incomingFrom: $('incoming-from'),
  state: $('state'),
  peer: $('peer'),
  dtmfSent: $('dtmf-sent'),
  dtmfReceived: $('dtmf-received'),
  remoteVideo: $('remote-video'),
  localVideo: $('local-video'),
  remoteAudio: $('remote-audio'),
  log: $('log'),
};

let client = null;
let currentCall = null;
let lastCall = null;
let lastStats = null;
let statsTimer = null;
const logEntries = [];

// ---- helpers ---------------------------------------------------------------

function log(text, isError = false) {
  const ts = new Date().toISOString().slice(11, 23);
  logEntries.push({ ts, text, error: isError });
  if (logEntries.length > 500) logEntries.shift();
  const li = document.createElement('li');
  li.textContent = `${ts}  ${text}`;
  if (isError) li.className = 'err';
  el.log.prepend(li);
  while (el.log.children.length > 200) el.log.lastChild.remove();
  (isError ? console.warn : console.log)('[split]', text);
}

function setConn(state, text) {
  el.conn.dataset.state = state;
  el.conn.textContent = text;
}

function setStateLine(state, code, reason) {
  el.state.dataset.state = state;
  el.state.textContent = state;
  const detail = code != null || reason ? `${code != null ? code : ''} ${reason || ''}`.trim() : '';
  el.state.title = detail;
  el.peer.textContent = detail ? `${detail}${currentCall ? ` — ${peerName(currentCall)}` : ''}` : (currentCall ? peerName(currentCall) : '');
}

function peerName(call) {
  if (call.direction === 'incoming') return call.displayName ? `${call.displayName} <${call.from}>` : (call.from || '');
  return call.to || '';
}

function fmt(v, unit = '') {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return `${v}${unit}`;
}

function setText(id, text) {
  const node = $(id);
  if (node && node.textContent !== text) node.textContent = text;
}

function isLive(call) {
  return !!call && call.state !== 'ended';
}

function inConversation(call) {
  return isLive(call) && ['early', 'active', 'held'].includes(call.state) &&
    (call.direction === 'outgoing' || call._answered);
}

// ---- rendering ---------------------------------------------------------------

function render() {
  const connected = !!client && client.connected;
  const live = isLive(currentCall);
  const ringingIn = live && currentCall.direction === 'incoming' && !currentCall._answered;
  const conversing = inConversation(currentCall);

  el.call.disabled = !connected || live;
  el.hangup.disabled = !live;
  el.answer.disabled = !ringingIn;
  el.reject.disabled = !ringingIn;
  el.hold.disabled = !(conversing && ['active', 'held'].includes(currentCall.state));
  el.resume.disabled = !(conversing && ['active', 'held'].includes(currentCall.state));
  el.dial.disabled = !connected;
  el.incoming.hidden = !ringingIn;
  if (ringingIn) {
    el.incomingKind.textContent = currentCall.video ? 'video' : 'audio';
    el.incomingFrom.textContent = peerName(currentCall);
  }
}

function clearStatsPanel() {
  for (const id of ['audio-codec', 'audio-sent', 'audio-received', 'audio-lost', 'audio-jitter',
    'video-codec', 'video-sent', 'video-received', 'video-lost', 'video-jitter', 'video-frames',
    'video-resolution', 'sip-codecs', 'sip-packets', 'sip-lost', 'sip-jitter']) {
    setText(`stats-${id}`, '—');
  }
}

function renderStats(s) {
  const a = s.audio;
  const v = s.video;
  setText('stats-audio-codec', fmt(a.codec));
  setText('stats-audio-sent', fmt(a.packetsSent));
  setText('stats-audio-received', fmt(a.packetsReceived));
  setText('stats-audio-lost', fmt(a.packetsLost));
  setText('stats-audio-jitter', fmt(a.jitter, ' ms'));
  setText('stats-video-codec', fmt(v.codec));
  setText('stats-video-sent', fmt(v.packetsSent));
  setText('stats-video-received', fmt(v.packetsReceived));
  setText('stats-video-lost', fmt(v.packetsLost));
  setText('stats-video-jitter', fmt(v.jitter, ' ms'));
  setText('stats-video-frames', fmt(v.framesDecoded));
  setText('stats-video-resolution', v.frameWidth && v.frameHeight ? `${v.frameWidth}×${v.frameHeight}` : '—');
  renderSipStats(s.sip);
}

function renderSipStats(sip) {
  if (!sip) return;
  const codecs = [sip.audio_codec, sip.video_codec].filter(Boolean).join(' / ');
  setText('stats-sip-codecs', codecs || '—');
  const r = sip.sip_rtp || {};
  setText('stats-sip-packets', `${fmt(r.packets_sent)} / ${fmt(r.packets_received)}`);
  setText('stats-sip-lost', fmt(r.lost));
  setText('stats-sip-jitter', typeof r.jitter_ms === 'number' ? `${r.jitter_ms.toFixed(1)} ms` : '—');
}

async function refreshStats() {
  const call = currentCall;
  if (!call) return;
  try {
    const s = await call.getStats();
    if (call !== currentCall && call !== lastCall) return;
    lastStats = s;
    el.phone.dataset.statsUpdated = String(Date.now());
    renderStats(s);
  } catch (err) {
    log(`getStats failed: ${err.message || err}`, true);
  }
}

function startStats() {
  stopStats();
  clearStatsPanel();
  statsTimer = setInterval(refreshStats, 1000);
}

function stopStats() {
  if (statsTimer) clearInterval(statsTimer);
  statsTimer = null;
}

// ---- media elements ----------------------------------------------------------

function playRemote(call) {
  const audio = call.remoteStream.getAudioTracks();
  const video = call.remoteStream.getVideoTracks();
  if (audio.length) {
    el.remoteAudio.srcObject = new MediaStream(audio);
    el.remoteAudio.play().catch((err) => log(`remote audio autoplay blocked: ${err.message}`, true));
  }
  if (video.length) {
    el.remoteVideo.srcObject = new MediaStream(video);
    el.remoteVideo.play().catch(() => { /* muted video may still be paused until visible */ });
  }
}

function showLocal(stream) {
  if (stream && stream.getVideoTracks().length) {
    el.localVideo.srcObject = stream;
    el.localVideo.play().catch(() => {});
  } else {
    el.localVideo.srcObject = null;
  }
}

function clearMedia() {
  el.remoteAudio.srcObject = null;
  el.remoteVideo.srcObject = null;
  el.localVideo.srcObject = null;
}

// ---- calls --------------------------------------------------------------------

function attachCall(call) {
  currentCall = call;
  lastCall = call;
  el.dtmfSent.textContent = '';
  el.dtmfReceived.textContent = '';
  setStateLine(call.state, call.code, call.reason);
  startStats();

  call.addEventListener('localstream', (e) => showLocal(e.detail.stream));
  call.addEventListener('track', (e) => {
    log(`${call.id}: remote ${e.detail.track.kind} track`);
    playRemote(call);
  });
  call.addEventListener('state', (e) => {
    const { state, code, reason } = e.detail;
    log(`${call.id}: ${state}${code != null ? ` ${code}` : ''}${reason ? ` ${reason}` : ''}`);
    if (call !== currentCall) return;
    setStateLine(state, code, reason);
    if (state === 'active' || state === 'early') playRemote(call);
    if (state === 'ended') {
      stopStats(); // keep the last figures on screen
      currentCall = null;
      clearMedia();
    }
    render();
  });
  call.addEventListener('dtmf', (e) => {
    log(`${call.id}: DTMF received ${e.detail.digit}`);
    el.dtmfReceived.textContent += e.detail.digit;
  });
  call.addEventListener('stats', (e) => {
    if (call === currentCall) renderSipStats(e.detail);
  });
  call.addEventListener('error', (e) => {
    log(`${call.id}: error ${e.detail.code}: ${e.detail.message}`, true);
  });
  render();
}

async function dial(to, { audio, video, headers } = {}) {
  to = (to ?? el.dial.value).trim();
  if (!to) {
    el.dial.focus();
    log('enter a SIP URI or number to call', true);
    return null;
  }
  if (!client || !client.connected) throw new Error('not connected');
  if (isLive(currentCall)) throw new Error('a call is already in progress');
  audio = audio ?? el.audioToggle.checked;
  video = video ?? el.videoToggle.checked;
  el.dial.value = to;
  log(`calling ${to} (${video ? 'video' : 'audio'})`);
  const call = client.call(to, { audio, video, headers });
  attachCall(call);
  return call;
}

async function answer(opts = {}) {
  const call = currentCall;
  if (!call || call.direction !== 'incoming') return;
  const video = opts.video ?? (call.video && el.videoToggle.checked);
  log(`${call.id}: answering (${video ? 'video' : 'audio'})`);
  const p = call.answer({ audio: el.audioToggle.checked || !video, video, ...opts });
  render();
  try {
    await p;
  } catch (err) {
    log(`${call.id}: answer failed: ${err.message || err}`, true);
  }
  render();
}

function onIncoming(call) {
  log(`incoming ${call.id} from ${peerName(call)}${call.video ? ' (video)' : ''}`);
  if (isLive(currentCall)) {
    log(`${call.id}: busy, rejecting with 486`);
    call.reject(486);
    return;
  }
  attachCall(call);
  if (['1', 'true', 'yes'].includes(params.get('autoanswer'))) answer();
}

function pressKey(digit) {
  const call = currentCall;
  if (isLive(call) && (call.direction === 'outgoing' || call._answered) && call.state !== 'new') {
    try {
      call.sendDTMF(digit);
      el.dtmfSent.textContent += digit;
      log(`${call.id}: DTMF sent ${digit}`);
    } catch (err) {
      log(`DTMF failed: ${err.message || err}`, true);
    }
  } else if (!el.dial.disabled) {
    el.dial.value += digit;
  }
}

// ---- connection ---------------------------------------------------------------

function serverUrl() {
  return params.get('server') || undefined;
}

async function connect(token) {
  if (client) client.close();
  setConn('connecting', 'Connecting…');
  el.loginError.hidden = true;
  const c = new SplitClient({ url: serverUrl(), token, iceTransportPolicy: params.get('relay') === '1' ? 'relay' : 'all' });
  client = c;
  c.addEventListener('incoming', (e) => onIncoming(e.detail));
  c.addEventListener('error', (e) => {
    if (!e.detail.call) log(`error ${e.detail.code}: ${e.detail.message}`, true);
  });
  c.addEventListener('close', (e) => {
    if (c !== client) return;
    log(`signalling closed (${e.detail.code}${e.detail.reason ? ` ${e.detail.reason}` : ''})`, e.detail.code !== 1000);
    setConn('disconnected', 'Disconnected');
    stopStats();
    clearMedia();
    currentCall = null;
    el.phone.hidden = true;
    el.login.hidden = false;
    render();
  });
  try {
    const hello = await c.connect();
    log(`connected as ${hello.identity} (${hello.sip_uri || 'no SIP URI'}), server ${hello.server || '?'}`);
    setConn('connected', `Connected · ${hello.server || 'split'}`);
    el.meIdentity.textContent = hello.identity || '—';
    el.meUri.textContent = hello.sip_uri || '';
    el.login.hidden = true;
    el.phone.hidden = false;
    setStateLine('idle', null, null);
    render();
    el.dial.focus();
    return hello;
  } catch (err) {
    if (c === client) {
      setConn('disconnected', 'Disconnected');
      el.login.hidden = false;
      el.phone.hidden = true;
      el.loginError.textContent = err.message || String(err);
      el.loginError.hidden = false;
    }
    throw err;
  }
}

// ---- wiring ---------------------------------------------------------------------

el.loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  el.connect.disabled = true;
  el.loginError.hidden = true;
  try {
    const res = await mintToken({
      baseUrl: serverUrl(),
      apiKey: el.apiKey.value.trim(),
      identity: el.identity.value.trim(),
      ttl: el.ttl.value.trim() || '1h',
    });
    await connect(res.token);
  } catch (err) {
    el.loginError.textContent = err.message || String(err);
    el.loginError.hidden = false;
  } finally {
    el.connect.disabled = false;
  }
});

el.disconnect.addEventListener('click', () => {
  if (client) client.close(1000, 'signed out');
});

el.dialForm.addEventListener('submit', (e) => {
  e.preventDefault();
  dial().catch((err) => log(`call failed: ${err.message || err}`, true));
});

el.hangup.addEventListener('click', () => {
  if (currentCall) {
    log(`${currentCall.id}: hanging up`);
    currentCall.hangup();
  }
});

el.answer.addEventListener('click', () => { answer(); });

el.reject.addEventListener('click', () => {
  if (currentCall && currentCall.direction === 'incoming') {
    log(`${currentCall.id}: rejecting`);
    currentCall.reject(486);
  }
});

el.hold.addEventListener('click', () => {
  if (!currentCall) return;
  log(`${currentCall.id}: hold`);
  try { currentCall.hold(); } catch (err) { log(err.message, true); }
});

el.resume.addEventListener('click', () => {
  if (!currentCall) return;
  log(`${currentCall.id}: resume`);
  try { currentCall.resume(); } catch (err) { log(err.message, true); }
});

for (const key of document.querySelectorAll('.keypad .key')) {
  key.addEventListener('click', () => pressKey(key.dataset.digit));
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
  if (/^[0-9*#]$/.test(e.key) && isLive(currentCall)) {
    e.preventDefault();
    pressKey(e.key);
  }
});

// ---- test / automation hook -------------------------------------------------------

window.splitPhone = {
  get client() { return client; },
  get currentCall() { return currentCall; },
  get lastCall() { return lastCall; },
  get stats() { return lastStats; },
  get log() { return logEntries; },
  connect,
  dial,
  answer,
  hangup() { if (currentCall) currentCall.hangup(); },
};

// ---- start --------------------------------------------------------------------------

if (params.get('dial')) el.dial.value = params.get('dial');
if (['1', 'true', 'yes'].includes(params.get('video'))) el.videoToggle.checked = true;
if (params.get('identity')) el.identity.value = params.get('identity');
render();

const initialToken = params.get('token');
if (initialToken) {
  connect(initialToken).catch((err) => log(`connect failed: ${err.message || err}`, true));
} else {
  el.apiKey.focus();
}
