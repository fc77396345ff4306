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
import { elements, CONSOLE_IDS, setOptions, queueTargets, watchFrames, showLocal, clearStage, playRemote, createConsole } from './console.js';
import { RttPane, RttInput, RttLink, routingSummary, secondsSince, formatDuration, LS } from './rtt.js';

const TOKEN_KEY = 'split.interpreter.token';

const el = elements([...CONSOLE_IDS, 'sidetalk-banner', 'codec-warning', 'rtt-announce',
  'routing', 'phone-state', 'deaf-state', 'interp-list', 'handoff-state', 'video-quality', 'rtt-panes', 'rtt-input', 'rtt-bell',
  'vco', 'hco', 'sidetalk', 'lead', 'lead-hint', 'dial-form', 'dial-to', 'dial', 'release',
  'dtmf-form', 'dtmf-digits', 'dtmf', 'handoff-form', 'handoff-to', 'handoff', 'team', 'handoff-cancel', 'handoff-targets', 'acd-note',
  'minutes']);

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

const con = createConsole({
  el,
  app,
  tokenKey: TOKEN_KEY,
  render: () => render(),
  showOffer: (o) => showOffer(o),
  watchCall: (call) => watchCall(call),
  withdrawn: { timeout: 'not answered in time', abandoned: 'the deaf user hung up', withdrawn: 'withdrawn by the lead interpreter', logout: 'you logged out' },
  ringing: (left) => `Ringing: ${left} s left to answer`,
  tickMs: 1000,
  onAccepting: () => {
    app.dialTouched = false;
    app.seen.clear();
    resetPanes();
    input.clear();
    link.waiting = '';
  },
  acceptMedia: () => ({ status: 'Connecting…', media: mediaOptions(), focus: el.rttInput }),
  events: {
    session: () => render(),
    rtt_backlog: (e) => onBacklog(e.detail),
    invited: (e) => { el.inviteResult.textContent = `Link ${e.detail.to ? `to ${e.detail.to} ` : ''}(${e.detail.delivery}): ${e.detail.url || ''}`; },
    delivery: (e) => { el.inviteResult.textContent = `Link delivery (${e.detail.channel}): ${e.detail.status}`; },
  },
  onHello: (hello) => checkCodecs(hello),
});
const { setStatus, showError, callLive, decline } = con;

// ---- helpers ----------------------------------------------------------------------

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
  con.renderAgent();
  setOptions(el.handoffTargets, queueTargets(app.client));
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
  // through the external ACD, the ACD owns hand-off and team (its transfer, its conference)
  el.handoffForm.hidden = !!(i && i.acd);
  el.acdNote.hidden = !(i && i.acd);
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
  con.renderStatus(() => {
    const i = interp();
    return i ? `In a call${isLead() ? ' (you are the lead)' : ''}. ${phoneText(i.phone)}.` : 'In a call.';
  }, () => `Incoming call: ${offerSummary(app.offer)}.`);
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
  const x = o.interpreter || {};
  const c = o.customer || {};
  const sl = x.sign_language || c.sign_language;
  const details = [
    ['Sign language', sl ? languageName(sl) : '—'],
    ['Spoken language', spokenName(x.language || c.language)],
    ['Purpose', x.purpose === 'handoff' ? `Hand-off from ${x.from_interpreter || 'another interpreter'}` : PURPOSE[x.purpose] || x.purpose || 'Call'],
    ['Number to call', x.to || 'None given'],
  ];
  if (o.queue) details.push(['Queue', o.queue]);
  con.ring(o, {
    title: x.purpose === 'handoff' ? 'Incoming hand-off' : x.purpose === 'team' ? 'Incoming team request' : 'Incoming interpreter call',
    who: `${c.name || o.from || 'Caller'}${o.from && o.from !== c.name ? ` · ${o.from}` : ''}`,
    details,
  });
  el.accept.focus();
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

// ---- the call -----------------------------------------------------------------------------------

watchFrames(el.remoteVideo, el.stage, render);

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
  call.addEventListener('localstream', (e) => showLocal(e.detail.stream, el.localVideo, el.stage));
  call.addEventListener('track', () => {
    playRemote(call, { audioEl: el.remoteAudio, videoEl: el.remoteVideo, stage: el.stage, sound: el.sound, replay: false });
    render();
  });
  call.addEventListener('datachannel', (e) => link.addRemote(e.detail.channel));
  con.callErrors(call, { no_camera: 'Your camera could not be used: the deaf user cannot see you.' });
  call.addEventListener('state', (e) => {
    if (call.t140 && link.own !== call.t140) link.setOwn(call.t140);
    if (e.detail.state !== 'ended' || call !== app.call) return;
    clearInterval(statsTimer);
    statsTimer = null;
    lastStats = null;
    clearStage(el.stage, el.remoteVideo, el.localVideo, el.remoteAudio);
    con.callEnded(call, e.detail);
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
  hangup: () => con.hangup(),
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
con.wire();

// Shortcuts: Alt+Shift+M (mute to phone), Alt+Shift+L (make lead), Alt+A / Alt+D (offer).
// None is a single printable key, so typing in "Your text" never triggers one.
document.addEventListener('keydown', (e) => {
  if (!e.altKey || e.ctrlKey || e.metaKey) return;
  const k = (e.code || '').replace(/^Key/, '') || e.key.toUpperCase();
  if (e.shiftKey && k === 'M' && !el.sidetalk.disabled) { e.preventDefault(); api.sideTalk(); return; }
  if (e.shiftKey && k === 'L' && !el.lead.disabled) { e.preventDefault(); api.makeLead(); return; }
  if (!e.shiftKey && app.offer && k === 'A') { e.preventDefault(); con.accept(); return; }
  if (!e.shiftKey && app.offer && k === 'D') { e.preventDefault(); decline(); }
});

// ---- connection ----------------------------------------------------------------------------------

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

// ---- automation hook -------------------------------------------------------------------------------

window.splitApp = con.hook({
  get session() { return currentSession(); },
  get interp() { return interp(); },
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
  ...api,
});

// ---- start -------------------------------------------------------------------------------------------

con.boot();
