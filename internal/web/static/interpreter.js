// SPLIT interpreter console (docs/interpreter.md §2.3, §5, §6, §9.2).
//
// URL parameters (fragment or query string; keep the token in the fragment):
//   #token=<agent token>   connect as an agent (otherwise: the sign-in form)
//   autologin=1            log in to the ACD after connecting; ready=1: and become ready
//   queues=a,b             queues to log in to (default: the agent's configured ones)
//   server=<url>           the hub (default: this page's origin)
//
// The socket and the peer connection are session.js's (SessionClient); the
// real-time text is rtt.js's. Every control sends one frame of §5.1:
//   Dial → dial {session, to}        Hang up phone → release {session}
//   Keypad → dtmf {session, digits}  VCO / HCO → carry_over {session, vco|hco}
//   Mute to phone → side_talk {session, side_talk}
//   Hand off → handoff {session, to} (Withdraw: handoff {session, cancel: true})
//   Add team interpreter → team {session, to}
//   Make lead → lead {session, leg}  End call → hangup {session}
//   Invite by link → escalate {session, to, channel}
//
// window.splitApp = {client, call, session, interp, offer, ended, error,
// summary, sideTalkOn, isLead, minutes, rtt: {log, text(source)}, stats(),
// accept(), decline(), dial(to), release(), dtmf(d), carryOver({vco, hco}),
// sideTalk(on), handoff(to), team(to), makeLead(leg), hangup(), login(),
// setReady(b)} is kept up to date for automation.
import { SessionClient } from './session.js';
import { RttPane, RttInput, RttLink, routingSummary, secondsSince, formatDuration, LS } from './rtt.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ''))) params.set(k, v);
const yes = (v) => ['1', 'true', 'yes', 'on'].includes(String(v || '').toLowerCase());
const server = params.get('server') || undefined;
const TOKEN_KEY = 'split.interpreter.token';

const el = {};
for (const id of ['me', 'agent-state', 'status', 'error', 'sidetalk-banner', 'codec-warning', 'rtt-announce', 'login', 'login-form', 'token',
  'console', 'state-text', 'state-since', 'btn-login', 'btn-ready', 'btn-notready', 'btn-logout', 'btn-disconnect',
  'offer', 'offer-title', 'offer-who', 'offer-details', 'offer-countdown', 'accept', 'decline', 'wrapup', 'done',
  'routing', 'phone-state', 'deaf-state', 'interp-list', 'handoff-state', 'video-quality',
  'stage', 'remote-video', 'placeholder-text', 'local-video', 'remote-audio', 'rtt-panes', 'rtt-input', 'rtt-bell',
  'vco', 'hco', 'sidetalk', 'lead', 'lead-hint', 'sound', 'hangup', 'dial-form', 'dial-to', 'dial', 'release',
  'dtmf-form', 'dtmf-digits', 'dtmf', 'handoff-form', 'handoff-to', 'handoff', 'team', 'handoff-cancel', 'handoff-targets',
  'invite-form', 'invite-to', 'invite-channel', 'invite-result', 'minutes', 'last-ended']) {
  el[id.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = $(id);
}

const STATE_LABEL = { logged_out: 'Logged out', not_ready: 'Not ready', ready: 'Ready', ringing: 'Ringing', busy: 'Busy', wrap_up: 'Wrap-up' };
const PURPOSE = { interpret: 'New call', handoff: 'Hand-off', team: 'Team (partner)' };
const DEAF = { joined: 'In the call', disconnected: 'Connection lost (waiting for them to come back)', absent: 'Not joined yet', invited: 'Invited by link' };

const app = {
  client: null,
  call: null,
  offer: null,
  ended: null,
  error: null,
  sessionId: null,
  dialTouched: false, // the interpreter edited the number: a session frame does not overwrite it
  seen: new Map(), // interpreter leg → {name, since, until}: the call record's minutes
};
let ringTimer = null;

// ---- helpers ----------------------------------------------------------------------

function setStatus(text) { if (el.status.textContent !== text) el.status.textContent = text; }

function showError(text) {
  app.error = text || null;
  el.error.textContent = text || '';
  el.error.hidden = !text;
}

function agentState() { return app.client ? app.client.agentState : null; }
function callLive() { return !!(app.call && app.call.live); }

function currentSession() {
  const c = app.client;
  if (!c) return null;
  const id = (app.call && app.call.session) || app.sessionId;
  return (id && c.sessions.get(id)) || (app.call && app.call.info) || null;
}

function interp() {
  const s = currentSession();
  return (s && s.interpreter) || null;
}

function myLeg() { return app.call ? app.call.leg : null; }

function isLead() {
  const i = interp();
  const me = myLeg();
  return !!(i && me && Array.isArray(i.interpreters) && i.interpreters.some((x) => x.lead && x.leg === me));
}

function languageName(tag) {
  const langs = (app.client && app.client.hello && app.client.hello.interpreter && app.client.hello.interpreter.languages) || [];
  const l = langs.find((x) => x.tag === tag);
  if (l) return `${l.name} (${l.tag})`;
  try {
    const n = new Intl.DisplayNames(['en'], { type: 'language' }).of(tag);
    if (n && n !== tag) return `${n} (${tag})`;
  } catch { /* unknown tag */ }
  return tag || '—';
}

function spokenName(tag) {
  if (!tag) return '—';
  try { return new Intl.DisplayNames(['en'], { type: 'language' }).of(tag) || tag; } catch { return tag; }
}

function fill(dl, entries) {
  dl.textContent = '';
  for (const [k, v] of entries) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v == null ? '' : String(v);
    dl.append(dt, dd);
  }
}

function send(msg) {
  const c = app.client;
  if (!c || !c.connected) { showError('Not connected to the hub.'); return false; }
  return c.send(msg);
}

function sessionFrame(type, extra = {}) {
  const session = (app.call && app.call.session) || app.sessionId;
  if (!session || !callLive()) { showError('There is no call.'); return false; }
  showError('');
  return send({ type, session, ...extra });
}

// ---- RTT --------------------------------------------------------------------------

const announcer = (text) => {
  // a fresh node each time, so that the same line twice is read twice
  el.rttAnnounce.textContent = '';
  setTimeout(() => { el.rttAnnounce.textContent = text; }, 30);
};
const reduceMotion = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
const panes = new Map(); // key → RttPane: 'deaf-user', 'phone', 'interpreter/<leg>', 'you'
const rttLog = []; // {at, from, leg, text} received, for tests

function pane(key, title, label) {
  let p = panes.get(key);
  if (!p) {
    const id = `rtt-${key.replace(/[^a-z0-9]+/gi, '-')}`;
    p = new RttPane({ parent: el.rttPanes, id, title, label, announce: announcer, reduceMotion });
    panes.set(key, p);
    // the order of §6.3: Deaf user, Phone, Partner(s), You
    const order = (k) => (k === 'deaf-user' ? 0 : k === 'phone' ? 1 : k === 'you' ? 3 : 2);
    for (const k of [...panes.keys()].sort((a, b) => order(a) - order(b))) el.rttPanes.append(panes.get(k).section);
  }
  return p;
}

function resetPanes() {
  for (const p of panes.values()) p.section.remove();
  panes.clear();
  pane('deaf-user', 'Deaf user', 'Text from the deaf user');
  pane('phone', 'Phone', 'Text from the phone');
  pane('you', 'You', 'Your text');
}
resetPanes();

function partnerName(leg) {
  const i = interp();
  const x = i && Array.isArray(i.interpreters) ? i.interpreters.find((p) => p.leg === leg) : null;
  return x && x.name ? x.name : 'Partner';
}

function sourcePane(from, leg, name) {
  if (from === 'deaf-user') return pane('deaf-user', 'Deaf user', 'Text from the deaf user');
  if (from === 'phone') return pane('phone', 'Phone', 'Text from the phone');
  const n = name || partnerName(leg);
  return pane(`interpreter/${leg || n}`, `Partner: ${n}`, `Text from ${n}`);
}

const link = new RttLink({
  onText: ({ from, leg }, text) => {
    rttLog.push({ at: Date.now(), from, leg, text });
    if (rttLog.length > 5000) rttLog.splice(0, 2500);
    sourcePane(from, leg).feed(text);
  },
  onClose: ({ from, leg }) => { if (from === 'interpreter') sourcePane(from, leg).closed(); },
});
const input = new RttInput(el.rttInput, {
  send: (t) => link.send(t),
  echo: (t) => pane('you', 'You', 'Your text').feed(t),
});
el.rttBell.addEventListener('click', () => input.bell());

function onBacklog(m) {
  if (!m || (app.call && app.call.session && m.session !== app.call.session)) return;
  for (const line of Array.isArray(m.lines) ? m.lines : []) {
    if (!line || typeof line.text !== 'string') continue;
    const p = line.from === 'interpreter' ? pane('interpreter/backlog', `Earlier interpreter${line.name ? `: ${line.name}` : ''}`, 'Earlier text from the interpreter') : sourcePane(line.from);
    p.feed(line.text + LS);
  }
}

// ---- rendering --------------------------------------------------------------------------

function renderAgent() {
  const c = app.client;
  const connected = !!(c && c.connected);
  const st = connected ? agentState() || 'logged_out' : 'disconnected';
  el.agentState.dataset.state = st;
  el.agentState.textContent = connected ? STATE_LABEL[st] || st : 'Disconnected';
  el.stateText.textContent = connected ? STATE_LABEL[st] || st : '—';
  const since = c && c.agent && c.agent.since;
  el.stateSince.textContent = since ? `since ${new Date(since).toLocaleTimeString()}` : '';
  el.btnLogin.hidden = st !== 'logged_out';
  el.btnLogout.hidden = st === 'logged_out' || st === 'disconnected';
  el.btnReady.hidden = st !== 'not_ready';
  el.btnNotready.hidden = !['ready', 'ringing', 'busy', 'wrap_up'].includes(st);
  for (const b of [el.btnLogin, el.btnReady, el.btnNotready, el.btnLogout]) b.disabled = !connected;
  el.wrapup.hidden = st !== 'wrap_up';
  const targets = new Set();
  for (const q of [...((c && c.hello && c.hello.queues) || []), ...((c && c.agent && c.agent.queues) || [])]) {
    const n = typeof q === 'string' ? q : q && q.name;
    if (n) targets.add(`queue:${n}`);
  }
  const want = [...targets].join('\n');
  if ([...el.handoffTargets.options].map((o) => o.value).join('\n') !== want) {
    el.handoffTargets.textContent = '';
    for (const n of targets) { const o = document.createElement('option'); o.value = n; el.handoffTargets.append(o); }
  }
}

function phoneText(ph) {
  if (!ph || !ph.state || ph.state === 'none') return ph && ph.to ? `No phone call yet (the deaf user asked for ${ph.to})` : 'No phone call yet';
  const to = ph.to || 'the number';
  switch (ph.state) {
    case 'dialling': return `Calling ${to}…`;
    case 'ringing': return `${to} is ringing`;
    case 'connected': return `Connected to ${to}`;
    case 'ended': return `The phone call to ${to} ended${ph.code ? ` (${ph.code}${ph.reason ? ` ${ph.reason}` : ''})` : ''}`;
    default: return `${ph.state} (${to})`;
  }
}

function renderInterp() {
  const live = callLive();
  const i = live ? interp() : null;
  const me = myLeg();
  const lead = isLead();
  const ph = (i && i.phone) || {};
  const phoneUp = ['dialling', 'ringing', 'connected'].includes(ph.state);
  const list = (i && Array.isArray(i.interpreters)) ? i.interpreters : [];
  const other = list.find((x) => x.leg !== me);

  const summary = i ? routingSummary(i, me) : null;
  el.routing.textContent = summary ? summary.text : live ? 'Waiting for the session…' : 'No call.';
  el.phoneState.textContent = i ? phoneText(ph) : '—';
  el.deafState.textContent = i ? DEAF[i.deaf_user] || i.deaf_user || '—' : '—';
  el.interpList.textContent = list.length
    ? list.map((x) => `${x.leg === me ? 'You' : x.name || x.id || x.leg}${x.lead ? ' (lead)' : ''}`).join(', ')
    : '—';
  el.handoffState.textContent = i && i.handoff && i.handoff.state
    ? `${{ queued: 'Waiting in the queue', ringing: 'Ringing', overlap: 'Both interpreters present' }[i.handoff.state] || i.handoff.state}${i.handoff.to ? ` (${i.handoff.to})` : ''}`
    : 'None';

  for (const [b, on] of [[el.vco, !!(i && i.vco)], [el.hco, !!(i && i.hco)], [el.sidetalk, !!(i && i.side_talk)]]) b.setAttribute('aria-pressed', String(on));
  el.vco.textContent = `VCO ${i && i.vco ? 'on' : 'off'}`;
  el.hco.textContent = `HCO ${i && i.hco ? 'on' : 'off'}`;
  el.vco.disabled = !(live && i);
  el.hco.disabled = !(live && i);
  el.sidetalk.disabled = !(live && i && lead);
  el.sidetalkBanner.hidden = !(live && i && i.side_talk);
  // Make lead: a partner takes the lead; the lead passes it to the other interpreter.
  const leadTarget = !live || !i ? null : lead ? (other ? other.leg : null) : me;
  el.lead.disabled = !leadTarget;
  el.lead.dataset.leg = leadTarget || '';
  el.leadHint.textContent = !leadTarget ? 'Make lead: no other interpreter.' : lead
    ? `Make lead: ${other.name || 'the other interpreter'} becomes the lead (Alt+Shift+L).`
    : 'Make lead: you become the lead (Alt+Shift+L).';

  el.dialTo.disabled = !(live && i && lead);
  el.dial.disabled = !(live && i && lead) || phoneUp;
  el.release.disabled = !(live && i && phoneUp);
  el.dtmfDigits.disabled = !(live && i && ph.state === 'connected');
  el.dtmf.disabled = el.dtmfDigits.disabled;
  const pending = !!(i && i.handoff && i.handoff.state);
  el.handoffTo.disabled = !(live && i);
  el.handoff.disabled = !(live && i && lead) || pending;
  el.team.disabled = !(live && i) || pending || list.length >= 2;
  el.handoffCancel.hidden = !(live && lead && pending && i.handoff.state !== 'overlap');
  el.inviteForm.hidden = !(live && i && (i.deaf_user === 'absent' || i.deaf_user === 'invited'));
  el.hangup.disabled = !live;
  el.rttInput.disabled = !live;
  el.rttBell.disabled = !live;
  if (i && !app.dialTouched) {
    const want = ph.to || (app.call && app.call.offer && app.call.offer.interpreter && app.call.offer.interpreter.to) || '';
    if (el.dialTo.value !== want && document.activeElement !== el.dialTo) el.dialTo.value = want;
  }
  for (const x of list) {
    if (!x.leg) continue;
    const s = app.seen.get(x.leg) || { name: x.name, since: x.since, until: null };
    s.name = x.name || s.name;
    s.since = x.since || s.since;
    s.until = null;
    app.seen.set(x.leg, s);
  }
  for (const [leg, s] of app.seen) if (!list.some((x) => x.leg === leg) && !s.until) s.until = Date.now();
  for (const [key, p] of panes) {
    if (!key.startsWith('interpreter/')) continue;
    const leg = key.slice('interpreter/'.length);
    const x = list.find((q) => q.leg === leg);
    if (x && x.name) p.setTitle(`Partner: ${x.name}`, `Text from ${x.name}`);
  }
  renderMinutes();
}

function renderMinutes() {
  if (!app.seen.size) { el.minutes.textContent = 'No interpreter time yet.'; return; }
  const me = myLeg();
  let total = 0;
  const parts = [];
  for (const [leg, s] of app.seen) {
    const end = s.until || Date.now();
    const secs = s.since ? Math.max(0, secondsSince(s.since, end)) : 0;
    total += secs;
    parts.push(`${leg === me ? 'you' : s.name || leg} ${formatDuration(secs)}`);
  }
  el.minutes.textContent = `Interpreter time this session: ${formatDuration(total)} (${parts.join(', ')}).`;
}

function renderCall() {
  const live = callLive();
  el.stage.classList.toggle('in-call', live);
  if (!live) el.placeholderText.textContent = app.offer ? 'Incoming call…' : 'No call';
  else if (!el.stage.classList.contains('has-remote-video')) el.placeholderText.textContent = 'Waiting for the deaf user’s video…';
}

function renderStatus() {
  if (!app.client || !app.client.connected) return;
  const st = agentState();
  if (callLive()) {
    const i = interp();
    if (!i) setStatus('In a call.');
    else setStatus(`In a call${isLead() ? ' (you are the lead)' : ''}. ${phoneText(i.phone)}.`);
  } else if (app.offer) {
    setStatus(`Incoming call: ${offerSummary(app.offer)}.`);
  } else if (st === 'wrap_up') setStatus('Wrap-up: press Done when you are ready for the next call.');
  else if (st === 'ready') setStatus('Ready: waiting for calls.');
  else if (st === 'not_ready') setStatus('Not ready: you will not receive calls.');
  else if (st === 'busy') setStatus('Busy.');
  else setStatus('Logged out of the queues. Press Log in to take calls.');
}

function render() {
  renderAgent();
  renderInterp();
  renderCall();
  renderStatus();
}

// ---- offers ---------------------------------------------------------------------------------

function offerSummary(o) {
  const x = o.interpreter || {};
  const c = o.customer || {};
  const sl = x.sign_language || c.sign_language;
  const purpose = x.purpose === 'handoff' ? `hand-off from ${x.from_interpreter || 'another interpreter'}` : x.purpose === 'team' ? 'team' : 'new call';
  return `${sl ? languageName(sl) : 'call'}, ${purpose}, from ${c.name || o.from || 'a caller'}`;
}

function showOffer(o) {
  app.offer = o;
  const x = o.interpreter || {};
  const c = o.customer || {};
  el.offerTitle.textContent = x.purpose === 'handoff' ? 'Incoming hand-off' : x.purpose === 'team' ? 'Incoming team request' : 'Incoming interpreter call';
  el.offerWho.textContent = `${c.name || o.from || 'Caller'}${o.from && o.from !== c.name ? ` · ${o.from}` : ''}`;
  const sl = x.sign_language || c.sign_language;
  const details = [
    ['Sign language', sl ? languageName(sl) : '—'],
    ['Spoken language', spokenName(x.language || c.language)],
    ['Purpose', x.purpose === 'handoff' ? `Hand-off from ${x.from_interpreter || 'another interpreter'}` : PURPOSE[x.purpose] || x.purpose || 'Call'],
    ['Number to call', x.to || 'None given'],
  ];
  if (o.queue) details.push(['Queue', o.queue]);
  fill(el.offerDetails, details);
  el.offer.hidden = false;
  clearInterval(ringTimer);
  const total = Number(o.ring_timeout) || 0;
  const until = Date.now() + total * 1000;
  const tick = () => {
    if (!total) { el.offerCountdown.textContent = 'Ringing…'; return; }
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    el.offerCountdown.textContent = left > 0 ? `Ringing: ${left} s left to answer` : 'Expiring…';
  };
  tick();
  ringTimer = setInterval(tick, 1000);
  render();
  el.accept.focus();
}

function hideOffer() {
  clearInterval(ringTimer);
  ringTimer = null;
  app.offer = null;
  el.offer.hidden = true;
}

function mediaOptions() {
  const v = (app.client && app.client.hello && app.client.hello.interpreter && app.client.hello.interpreter.video) || {};
  const opts = { video: true, t140: true, contentHint: 'motion', videoSend: { max_bitrate: v.max_bitrate, frame_rate: v.frame_rate } };
  const vc = {};
  if (v.width) vc.width = { ideal: v.width };
  if (v.height) vc.height = { ideal: v.height };
  if (v.frame_rate) vc.frameRate = { ideal: v.frame_rate };
  opts.videoConstraints = vc;
  return opts;
}

async function accept(leg) {
  const c = app.client;
  if (!c) return null;
  const o = leg ? c.offers.get(leg) : app.offer;
  if (!o) { showError('There is no call to accept (it may have been withdrawn).'); return null; }
  hideOffer();
  showError('');
  app.sessionId = o.session || null;
  app.dialTouched = false;
  app.seen.clear();
  resetPanes();
  input.clear();
  link.waiting = '';
  setStatus('Connecting…');
  try {
    const call = await c.accept(o.leg, mediaOptions());
    render();
    el.rttInput.focus();
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

// ---- the call -----------------------------------------------------------------------------------

function watchFrames() {
  const on = () => { if (el.remoteVideo.videoWidth > 0 && el.remoteVideo.srcObject) { el.stage.classList.add('has-remote-video'); render(); } };
  for (const ev of ['loadeddata', 'resize', 'playing']) el.remoteVideo.addEventListener(ev, on);
}
watchFrames();

let statsTimer = null;
let lastStats = null;
let lowSince = 0;

async function sampleStats() {
  if (!callLive()) return;
  const s = await app.call.getStats();
  const now = Date.now();
  const v = s.videoIn;
  if (lastStats && v.framesDecoded >= lastStats.frames) {
    const fps = Math.round(((v.framesDecoded - lastStats.frames) * 1000) / Math.max(1, now - lastStats.at));
    const cfg = (app.client.hello && app.client.hello.interpreter && app.client.hello.interpreter.video) || {};
    const low = v.framesDecoded > 0 && ((cfg.min_fps && fps < cfg.min_fps) || (cfg.min_width && Math.max(v.frameWidth, v.frameHeight) < Math.max(cfg.min_width, cfg.min_height || 0)));
    lowSince = low ? lowSince || now : 0;
    app.videoIn = { fps, width: v.frameWidth, height: v.frameHeight, codec: v.codec };
    el.videoQuality.textContent = v.framesDecoded ? `${fps} fps, ${v.frameWidth}×${v.frameHeight}${v.codec ? ` ${v.codec}` : ''}` +
      (lowSince && now - lowSince >= 10000 ? ` (the deaf user's video is choppy: ask them to improve their connection)` : '') : 'No video yet';
  }
  lastStats = { at: now, frames: v.framesDecoded };
}

function watchCall(call) {
  app.call = call;
  app.sessionId = call.session || app.sessionId;
  call.addEventListener('localstream', (e) => {
    const st = e.detail.stream;
    const has = !!(st && st.getVideoTracks().length);
    el.localVideo.srcObject = has ? st : null;
    if (has) el.localVideo.play().catch(() => {});
    el.stage.classList.toggle('has-local-video', has);
  });
  call.addEventListener('track', () => {
    const audio = call.remoteStream.getAudioTracks();
    const video = call.remoteStream.getVideoTracks();
    if (audio.length && el.remoteAudio.srcObject?.getAudioTracks()[0] !== audio[0]) {
      el.remoteAudio.srcObject = new MediaStream(audio);
      el.remoteAudio.play().then(() => { el.sound.hidden = true; }).catch(() => { el.sound.hidden = false; });
    }
    if (video.length && el.remoteVideo.srcObject?.getVideoTracks()[0] !== video[0]) {
      el.remoteVideo.srcObject = new MediaStream(video);
      el.remoteVideo.play().catch(() => {});
    }
    render();
  });
  call.addEventListener('datachannel', (e) => link.addRemote(e.detail.channel));
  call.addEventListener('error', (e) => {
    const d = e.detail;
    if (d.code === 'no_camera') showError('Your camera could not be used: the deaf user cannot see you.');
    else if (d.code === 'no_microphone') showError('Your microphone could not be used.');
    else showError(d.message || d.code);
  });
  call.addEventListener('state', (e) => {
    if (call.t140 && link.own !== call.t140) link.setOwn(call.t140);
    if (e.detail.state !== 'ended' || call !== app.call) return;
    clearInterval(statsTimer);
    statsTimer = null;
    lastStats = null;
    el.remoteVideo.srcObject = null;
    el.localVideo.srcObject = null;
    el.remoteAudio.srcObject = null;
    el.stage.classList.remove('has-remote-video', 'has-local-video');
    if (!app.ended || app.ended.leg !== call.leg) app.ended = { code: e.detail.code, reason: e.detail.reason, session: call.session, leg: call.leg };
    el.lastEnded.textContent = `Last call ended: ${app.ended.code}${app.ended.reason ? ` ${app.ended.reason}` : ''}`;
    for (const s of app.seen.values()) if (!s.until) s.until = Date.now();
    render();
  });
  clearInterval(statsTimer);
  statsTimer = setInterval(() => { sampleStats().catch(() => {}); renderMinutes(); }, 2000);
  render();
}

// ---- controls → frames (§5.1) --------------------------------------------------------------------

const api = {
  dial(to) {
    to = String(to ?? el.dialTo.value).trim();
    const msg = {};
    if (to) msg.to = to; // empty: the hub uses D's number
    return sessionFrame('dial', msg);
  },
  release() { return sessionFrame('release'); },
  dtmf(digits) {
    digits = String(digits ?? el.dtmfDigits.value).trim();
    if (!/^[0-9*#A-Da-d]{1,64}$/.test(digits)) { showError('Keypad: digits 0–9, *, # and A–D only.'); el.dtmfDigits.focus(); return false; }
    const ok = sessionFrame('dtmf', { digits });
    if (ok) el.dtmfDigits.value = '';
    return ok;
  },
  carryOver(x) {
    const msg = {};
    if (typeof x.vco === 'boolean') msg.vco = x.vco;
    if (typeof x.hco === 'boolean') msg.hco = x.hco;
    return sessionFrame('carry_over', msg);
  },
  sideTalk(on) {
    const i = interp();
    const target = on === undefined ? !(i && i.side_talk) : !!on;
    return sessionFrame('side_talk', { side_talk: target });
  },
  handoff(to) {
    to = String(to ?? el.handoffTo.value).trim();
    if (!/^(queue|agent):.+/.test(to)) { showError('Hand off to queue:<name> or agent:<id>.'); el.handoffTo.focus(); return false; }
    const ok = sessionFrame('handoff', { to });
    if (ok) setStatus(`Handing off to ${to}…`);
    return ok;
  },
  cancelHandoff() { return sessionFrame('handoff', { cancel: true }); },
  team(to) {
    to = String(to ?? el.handoffTo.value).trim();
    if (!/^(queue|agent):.+/.test(to)) { showError('Add a team interpreter from queue:<name> or agent:<id>.'); el.handoffTo.focus(); return false; }
    const ok = sessionFrame('team', { to });
    if (ok) setStatus(`Asking ${to} to join as your partner…`);
    return ok;
  },
  makeLead(leg) {
    leg = leg || el.lead.dataset.leg;
    if (!leg) return false;
    return sessionFrame('lead', { leg });
  },
  invite(to, channel) {
    to = String(to ?? el.inviteTo.value).trim();
    channel = channel ?? el.inviteChannel.value;
    const msg = {};
    if (to) msg.to = to;
    if (channel) msg.channel = channel;
    const ok = sessionFrame('escalate', msg);
    if (ok) el.inviteResult.textContent = 'Sending the deaf user a link…';
    return ok;
  },
  hangup() {
    if (callLive()) app.call.hangup();
    else if (app.offer) decline();
    render();
  },
};

el.dialForm.addEventListener('submit', (e) => { e.preventDefault(); api.dial(); });
el.dialTo.addEventListener('input', () => { app.dialTouched = true; });
el.release.addEventListener('click', () => api.release());
el.dtmfForm.addEventListener('submit', (e) => { e.preventDefault(); api.dtmf(); });
el.vco.addEventListener('click', () => { const i = interp(); api.carryOver({ vco: !(i && i.vco) }); });
el.hco.addEventListener('click', () => { const i = interp(); api.carryOver({ hco: !(i && i.hco) }); });
el.sidetalk.addEventListener('click', () => api.sideTalk());
el.lead.addEventListener('click', () => api.makeLead());
el.handoffForm.addEventListener('submit', (e) => { e.preventDefault(); api.handoff(); });
el.team.addEventListener('click', () => api.team());
el.handoffCancel.addEventListener('click', () => api.cancelHandoff());
el.inviteForm.addEventListener('submit', (e) => { e.preventDefault(); api.invite(); });
el.hangup.addEventListener('click', () => api.hangup());
el.sound.addEventListener('click', () => { el.remoteAudio.play().then(() => { el.sound.hidden = true; }).catch(() => {}); });
el.accept.addEventListener('click', () => accept());
el.decline.addEventListener('click', () => decline());
el.done.addEventListener('click', () => { if (app.client) app.client.ready(true); });

// Shortcuts: Alt+Shift+M (mute to phone), Alt+Shift+L (make lead), Alt+A / Alt+D (offer).
// None is a single printable key, so typing in "Your text" never triggers one.
document.addEventListener('keydown', (e) => {
  if (!e.altKey || e.ctrlKey || e.metaKey) return;
  const k = (e.code || '').replace(/^Key/, '') || e.key.toUpperCase();
  if (e.shiftKey && k === 'M' && !el.sidetalk.disabled) { e.preventDefault(); api.sideTalk(); return; }
  if (e.shiftKey && k === 'L' && !el.lead.disabled) { e.preventDefault(); api.makeLead(); return; }
  if (!e.shiftKey && app.offer && k === 'A') { e.preventDefault(); accept(); return; }
  if (!e.shiftKey && app.offer && k === 'D') { e.preventDefault(); decline(); }
});

// ---- connection ----------------------------------------------------------------------------------

function showScreen(name) {
  el.login.hidden = name !== 'login';
  el.console.hidden = name !== 'console';
}

function queuesParam() {
  const q = params.get('queues');
  return q ? q.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

function checkCodecs(hello) {
  const v = hello && hello.interpreter && hello.interpreter.video;
  const want = v && Array.isArray(v.codecs) ? v.codecs : [];
  if (want[0] !== 'H264') return;
  let has = true;
  try {
    const caps = (RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities('video')) || { codecs: [] };
    has = caps.codecs.some((c) => /h264/i.test(c.mimeType));
  } catch { /* unknown */ }
  el.codecWarning.hidden = has;
  el.codecWarning.textContent = has ? '' : 'This browser cannot send H.264 video, which the service prefers: calls may fail. Use another browser, or ask your administrator.';
}

async function connect(token) {
  if (app.client) app.client.close(1000, 'reconnecting');
  showError('');
  setStatus('Connecting…');
  const c = new SessionClient({ server, token });
  app.client = c;
  c.addEventListener('agent', () => render());
  c.addEventListener('offer', (e) => showOffer(e.detail));
  c.addEventListener('cancel', (e) => {
    const m = e.detail;
    if (app.offer && m.leg === app.offer.leg) {
      hideOffer();
      const why = { timeout: 'not answered in time', abandoned: 'the deaf user hung up', withdrawn: 'withdrawn by the lead interpreter', logout: 'you logged out' }[m.reason] || m.reason || 'withdrawn';
      setStatus(`The call was withdrawn: ${why}.`);
      el.lastEnded.textContent = `Offer withdrawn: ${why}`;
    }
    render();
  });
  c.addEventListener('session', () => render());
  c.addEventListener('rtt_backlog', (e) => onBacklog(e.detail));
  c.addEventListener('invited', (e) => { el.inviteResult.textContent = `Link ${e.detail.to ? `to ${e.detail.to} ` : ''}(${e.detail.delivery}): ${e.detail.url || ''}`; });
  c.addEventListener('delivery', (e) => { el.inviteResult.textContent = `Link delivery (${e.detail.channel}): ${e.detail.status}`; });
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
    showError('The connection to the hub was lost. Sign in again.');
    showScreen('login');
    render();
  });
  try {
    const hello = await c.connect();
    el.me.textContent = hello.identity || '';
    checkCodecs(hello);
    return hello;
  } catch (err) {
    if (c === app.client) {
      showError(err.message || String(err));
      setStatus('');
      showScreen('login');
    }
    throw err;
  }
}

async function start(token) {
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
    if (!agentState() || agentState() === 'logged_out') app.client.login(queuesParam());
    if (yes(params.get('ready'))) app.client.ready(true);
  }
  if (!agentState() || agentState() === 'logged_out') el.btnLogin.focus();
}

el.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const t = el.token.value.trim();
  if (t) start(t);
});
el.btnLogin.addEventListener('click', () => app.client && app.client.login(queuesParam()));
el.btnLogout.addEventListener('click', () => app.client && app.client.logout());
el.btnReady.addEventListener('click', () => app.client && app.client.ready(true));
el.btnNotready.addEventListener('click', () => app.client && app.client.ready(false));
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
window.addEventListener('pagehide', () => { if (app.client) app.client.close(1001, 'page closed'); });

// ---- automation hook -------------------------------------------------------------------------------

window.splitApp = {
  get client() { return app.client; },
  get call() { return app.call; },
  get agentState() { return agentState(); },
  get session() { return currentSession(); },
  get interp() { return interp(); },
  get offer() { return app.offer; },
  get ended() { return app.ended; },
  get error() { return app.error; },
  get summary() { return el.routing.textContent; },
  get sideTalkOn() { return !!(interp() && interp().side_talk); },
  get isLead() { return isLead(); },
  get minutes() { return el.minutes.textContent; },
  get videoIn() { return app.videoIn || null; },
  rtt: {
    get log() { return rttLog; },
    text(source) { const p = panes.get(source); return p ? p.text : null; },
    get sources() { return [...panes.keys()]; },
    get sent() { return input.sent; },
  },
  async stats() { return app.call ? app.call.getStats() : null; },
  accept: (leg) => accept(leg),
  decline: (leg) => decline(leg),
  login: (queues) => !!(app.client && app.client.login(queues || queuesParam())),
  setReady: (r) => { const c = app.client; if (!c) return false; if (r && (!c.agentState || c.agentState === 'logged_out')) c.login(queuesParam()); return c.ready(!!r); },
  connect: (token) => start(token),
  ...api,
};

// ---- start -------------------------------------------------------------------------------------------

{
  let token = params.get('token');
  if (!token) { try { token = sessionStorage.getItem(TOKEN_KEY); } catch { /* ignore */ } }
  if (token) {
    showScreen('console');
    start(token);
  } else {
    showScreen('login');
    setStatus('Sign in to take calls.');
    el.token.focus();
  }
}
