// SPLIT interpreter console (docs/interpreter.md §2.3, §5, §6, §9.2).
//
// URL parameters (fragment or query string; keep the token in the fragment):
//   #token=<agent token>   connect as an agent (otherwise: the sign-in form)
//   autologin=1            log in to the ACD after connecting; ready=1: and become ready
//   queues=a,b             queues to log in to (default: the agent's configured ones)
//   server=<url>           the hub (default: this page's origin)
//   lang=<tag>             the page's language (default: the browser's; docs/i18n.md)
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
import { elements, CONSOLE_IDS, setOptions, queueTargets, watchFrames, showLocal, clearStage, playRemote, createConsole, startI18n, locale } from './console.js';
import { RttPane, RttInput, RttLink, routingSummary, secondsSince, formatDuration, LS } from './rtt.js';
import { t } from './i18n.js';

// The texts (interpreter.* and agent.* of the hub's catalog) load first; the
// console starts when they are in (see the end of this file).
const i18nReady = startI18n(() => {
  if (!app.call) resetPanes();
  render();
});

const TOKEN_KEY = 'split.interpreter.token';

const el = elements([...CONSOLE_IDS, 'sidetalk-banner', 'codec-warning', 'rtt-announce',
  'routing', 'phone-state', 'deaf-state', 'interp-list', 'handoff-state', 'video-quality', 'rtt-panes', 'rtt-input', 'rtt-bell',
  'vco', 'hco', 'sidetalk', 'lead', 'lead-hint', 'dial-form', 'dial-to', 'dial', 'release',
  'dtmf-form', 'dtmf-digits', 'dtmf', 'handoff-form', 'handoff-to', 'handoff', 'team', 'handoff-cancel', 'handoff-targets', 'acd-note',
  'minutes']);

function purposeText(p) {
  switch (p) {
    case 'interpret': return t('interpreter.purpose.interpret');
    case 'handoff': return t('interpreter.purpose.handoff');
    case 'team': return t('interpreter.purpose.team');
    default: return p;
  }
}

function deafText(st) {
  switch (st) {
    case 'joined': return t('interpreter.deaf.joined');
    case 'disconnected': return t('interpreter.deaf.disconnected');
    case 'absent': return t('interpreter.deaf.absent');
    case 'invited': return t('interpreter.deaf.invited');
    case 'ringing': return t('interpreter.deaf.ringing');
    case 'declined': return t('interpreter.deaf.declined');
    default: return st;
  }
}

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
  withdrawn: {
    timeout: () => t('interpreter.withdrawn.timeout'),
    abandoned: () => t('interpreter.withdrawn.abandoned'),
    withdrawn: () => t('interpreter.withdrawn.withdrawn'),
    logout: () => t('interpreter.withdrawn.logout'),
    overflow: () => t('agent.withdrawn.overflow'),
    not_ready: () => t('agent.withdrawn.not_ready'),
    ended: () => t('agent.withdrawn.ended'),
    cancelled: () => t('agent.withdrawn.cancelled'),
  },
  ringing: (left) => t('interpreter.offer.ringing', { left }),
  tickMs: 1000,
  onAccepting: () => {
    app.dialTouched = false;
    app.seen.clear();
    resetPanes();
    input.clear();
    link.waiting = '';
  },
  acceptMedia: () => ({ status: t('agent.status.connecting'), media: mediaOptions(), focus: el.rttInput }),
  events: {
    session: () => render(),
    rtt_backlog: (e) => onBacklog(e.detail),
    invited: (e) => {
      const d = e.detail;
      const v = { to: d.to, delivery: d.delivery, url: d.url || '' };
      el.inviteResult.textContent = d.to ? t('interpreter.invite.link_to', v) : t('interpreter.invite.link', v);
    },
    delivery: (e) => { el.inviteResult.textContent = t('agent.invite.delivery', { channel: e.detail.channel, status: e.detail.status }); },
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
    const n = new Intl.DisplayNames([locale(), 'en'], { type: 'language' }).of(tag);
    if (n && n !== tag) return `${n} (${tag})`;
  } catch { /* unknown tag */ }
  return tag || '—';
}

function spokenName(tag) {
  if (!tag) return '—';
  try { return new Intl.DisplayNames([locale(), 'en'], { type: 'language' }).of(tag) || tag; } catch { return tag; }
}

function send(msg) {
  const c = app.client;
  if (!c || !c.connected) { showError(t('interpreter.error.not_connected')); return false; }
  return c.send(msg);
}

function sessionFrame(type, extra = {}) {
  const session = (app.call && app.call.session) || app.sessionId;
  if (!session || !callLive()) { showError(t('interpreter.error.no_call')); return false; }
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

const deafPane = () => pane('deaf-user', t('interpreter.deaf_user'), t('interpreter.pane.deaf_user_label'));
const phonePane = () => pane('phone', t('interpreter.phone'), t('interpreter.pane.phone_label'));
const ownPane = () => pane('you', t('interpreter.pane.you'), t('interpreter.text.yours'));

// resetPanes: the three fixed panes, empty (at the start, once the texts
// are in, and for every call accepted).
function resetPanes() {
  for (const p of panes.values()) p.section.remove();
  panes.clear();
  deafPane();
  phonePane();
  ownPane();
}

function partnerName(leg) {
  const i = interp();
  const x = i && Array.isArray(i.interpreters) ? i.interpreters.find((p) => p.leg === leg) : null;
  return x && x.name ? x.name : t('interpreter.pane.partner');
}

function sourcePane(from, leg, name) {
  if (from === 'deaf-user') return deafPane();
  if (from === 'phone') return phonePane();
  const n = name || partnerName(leg);
  return pane(`interpreter/${leg || n}`, t('interpreter.pane.partner_named', { name: n }), t('interpreter.pane.text_from', { name: n }));
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
  send: (text) => link.send(text),
  echo: (text) => ownPane().feed(text),
});
el.rttBell.addEventListener('click', () => input.bell());

function onBacklog(m) {
  if (!m || (app.call && app.call.session && m.session !== app.call.session)) return;
  for (const line of Array.isArray(m.lines) ? m.lines : []) {
    if (!line || typeof line.text !== 'string') continue;
    const title = line.name ? t('interpreter.pane.earlier_named', { name: line.name }) : t('interpreter.pane.earlier');
    const p = line.from === 'interpreter' ? pane('interpreter/backlog', title, t('interpreter.pane.earlier_label')) : sourcePane(line.from);
    p.feed(line.text + LS);
  }
}

// ---- rendering --------------------------------------------------------------------------

function renderAgent() {
  con.renderAgent();
  setOptions(el.handoffTargets, queueTargets(app.client));
}

function phoneText(ph) {
  if (!ph || !ph.state || ph.state === 'none') return ph && ph.to ? t('interpreter.phone.none_asked', { to: ph.to }) : t('interpreter.phone.none');
  const to = ph.to || t('interpreter.phone.the_number');
  switch (ph.state) {
    case 'dialling': return t('interpreter.phone.dialling', { to });
    case 'ringing': return t('interpreter.phone.ringing', { to });
    case 'connected': return t('interpreter.phone.connected', { to });
    case 'ended':
      if (!ph.code) return t('interpreter.phone.ended', { to });
      return ph.reason ? t('interpreter.phone.ended_code_reason', { to, code: ph.code, reason: ph.reason }) : t('interpreter.phone.ended_code', { to, code: ph.code });
    default: return t('interpreter.phone.other', { state: ph.state, to });
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
  el.routing.textContent = summary ? summary.text : live ? t('interpreter.routing.waiting') : t('interpreter.routing.no_call');
  el.phoneState.textContent = i ? phoneText(ph) : '—';
  el.deafState.textContent = i ? deafText(i.deaf_user) || '—' : '—';
  el.interpList.textContent = list.length
    ? list.map((x) => {
      const name = x.leg === me ? t('interpreter.list.you') : x.name || x.id || x.leg;
      return x.lead ? t('interpreter.list.lead', { name }) : name;
    }).join(', ')
    : '—';
  el.handoffState.textContent = i && i.handoff && i.handoff.state ? handoffText(i.handoff) : t('agent.none');

  for (const [b, on] of [[el.vco, !!(i && i.vco)], [el.hco, !!(i && i.hco)], [el.sidetalk, !!(i && i.side_talk)]]) b.setAttribute('aria-pressed', String(on));
  el.vco.textContent = i && i.vco ? t('interpreter.vco_on') : t('interpreter.vco_off');
  el.hco.textContent = i && i.hco ? t('interpreter.hco_on') : t('interpreter.hco_off');
  el.vco.disabled = !(live && i);
  el.hco.disabled = !(live && i);
  el.sidetalk.disabled = !(live && i && lead);
  el.sidetalkBanner.hidden = !(live && i && i.side_talk);
  // Make lead: a partner takes the lead; the lead passes it to the other interpreter.
  const leadTarget = !live || !i ? null : lead ? (other ? other.leg : null) : me;
  el.lead.disabled = !leadTarget;
  el.lead.dataset.leg = leadTarget || '';
  el.leadHint.textContent = !leadTarget ? t('interpreter.lead_hint.none') : lead
    ? t('interpreter.lead_hint.other', { name: other.name || t('interpreter.lead_hint.the_other') })
    : t('interpreter.lead_hint.me');

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
    if (x && x.name) p.setTitle(t('interpreter.pane.partner_named', { name: x.name }), t('interpreter.pane.text_from', { name: x.name }));
  }
  renderMinutes();
}

function handoffText(h) {
  let st = h.state;
  if (st === 'queued') st = t('interpreter.handoff.queued');
  else if (st === 'ringing') st = t('interpreter.handoff.ringing');
  else if (st === 'overlap') st = t('interpreter.handoff.overlap');
  return h.to ? t('interpreter.handoff.state_to', { state: st, to: h.to }) : st;
}

function renderMinutes() {
  if (!app.seen.size) { el.minutes.textContent = t('interpreter.minutes.none'); return; }
  const me = myLeg();
  let total = 0;
  const parts = [];
  for (const [leg, s] of app.seen) {
    const end = s.until || Date.now();
    const secs = s.since ? Math.max(0, secondsSince(s.since, end)) : 0;
    total += secs;
    parts.push(t('interpreter.minutes.part', { name: leg === me ? t('interpreter.minutes.you') : s.name || leg, duration: formatDuration(secs) }));
  }
  el.minutes.textContent = t('interpreter.minutes.total', { total: formatDuration(total), parts: parts.join(', ') });
}

function renderCall() {
  const live = callLive();
  el.stage.classList.toggle('in-call', live);
  if (!live) el.placeholderText.textContent = app.offer ? t('agent.call.incoming') : t('agent.call.no_call');
  else if (!el.stage.classList.contains('has-remote-video')) el.placeholderText.textContent = t('interpreter.call.waiting_video');
}

function renderStatus() {
  con.renderStatus(() => {
    const i = interp();
    if (!i) return t('interpreter.status.in_call_plain');
    return isLead() ? t('interpreter.status.in_call_lead', { phone: phoneText(i.phone) }) : t('interpreter.status.in_call', { phone: phoneText(i.phone) });
  }, () => t('interpreter.status.incoming', { summary: offerSummary(app.offer) }));
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
  const purpose = x.purpose === 'handoff' ? t('interpreter.offer.summary_handoff', { name: x.from_interpreter || t('interpreter.offer.another') })
    : x.purpose === 'team' ? t('interpreter.offer.summary_team') : t('interpreter.offer.summary_new');
  return t('interpreter.offer.summary', {
    language: sl ? languageName(sl) : t('interpreter.offer.summary_call'),
    purpose,
    caller: c.name || o.from || t('interpreter.offer.a_caller'),
  });
}

function showOffer(o) {
  const x = o.interpreter || {};
  const c = o.customer || {};
  const sl = x.sign_language || c.sign_language;
  const details = [
    [t('interpreter.offer.sign_language'), sl ? languageName(sl) : '—'],
    [t('interpreter.offer.spoken_language'), spokenName(x.language || c.language)],
    [t('interpreter.offer.purpose'), x.purpose === 'handoff' ? t('interpreter.offer.handoff_from', { name: x.from_interpreter || t('interpreter.offer.another') })
      : purposeText(x.purpose) || t('agent.call.title')],
    [t('interpreter.dial.label'), x.to || t('interpreter.offer.none_given')],
  ];
  if (o.queue) details.push([t('agent.session.queue'), o.queue]);
  con.ring(o, {
    title: x.purpose === 'handoff' ? t('interpreter.offer.title_handoff') : x.purpose === 'team' ? t('interpreter.offer.title_team') : t('interpreter.offer.title'),
    who: `${c.name || o.from || t('interpreter.offer.caller')}${o.from && o.from !== c.name ? ` · ${o.from}` : ''}`,
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
      (lowSince && now - lowSince >= 10000 ? ` ${t('interpreter.video.choppy')}` : '') : t('interpreter.video.none');
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
  con.callErrors(call, { no_camera: () => t('interpreter.error.no_camera') });
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
    if (!/^[0-9*#A-Da-d]{1,64}$/.test(digits)) { showError(t('interpreter.error.dtmf')); el.dtmfDigits.focus(); return false; }
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
    if (!/^(queue|agent):.+/.test(to)) { showError(t('interpreter.error.handoff')); el.handoffTo.focus(); return false; }
    const ok = sessionFrame('handoff', { to });
    if (ok) setStatus(t('interpreter.status.handing_off', { to }));
    return ok;
  },
  cancelHandoff() { return sessionFrame('handoff', { cancel: true }); },
  team(to) {
    to = String(to ?? el.handoffTo.value).trim();
    if (!/^(queue|agent):.+/.test(to)) { showError(t('interpreter.error.team')); el.handoffTo.focus(); return false; }
    const ok = sessionFrame('team', { to });
    if (ok) setStatus(t('interpreter.status.asking_team', { to }));
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
    if (ok) el.inviteResult.textContent = t('interpreter.invite.sending');
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
  el.codecWarning.textContent = has ? '' : t('interpreter.codec_warning');
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

i18nReady.then(() => {
  resetPanes();
  con.boot();
});
