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
//   lang=<tag>        the page's language (default: the browser's; docs/i18n.md)
//
// window.splitApp = {client, call, agentState, agent, session, offer, ended,
// mode, error, stats(), accept(leg?), decline(leg?), transfer(to), hangup(),
// hold(bool), mute(bool), setReady(bool), login(queues?), logout(), connect(token)}.
import { params, yes, elements, CONSOLE_IDS, fill, setOptions, queueTargets, watchFrames, showLocal, clearStage, playRemote, createConsole, startI18n } from './console.js';
import { t } from './i18n.js';

// The texts (agent.* of the hub's catalog) load first; the console starts
// when they are in (see the end of this file).
const i18nReady = startI18n(() => {
  if (mode === 'viewer') {
    if (viewerDone) viewerEnded(app.ended, true);
    else document.title = el.appTitle.textContent = t('agent.viewer.title');
  }
  render();
});

const viewToken = params.get('view');
const mode = viewToken ? 'viewer' : 'agent';
const autoanswer = yes(params.get('autoanswer'));
const TOKEN_KEY = 'split.agent.token';

const el = elements([...CONSOLE_IDS, 'app-title', 'connect', 'call', 'remote-placeholder', 'mute', 'hold',
  'transfer-form', 'transfer-to', 'transfer', 'transfer-targets', 'escalate-form', 'escalate-to', 'escalate', 'invite',
  'ctx-customer', 'ctx-queue', 'ctx-mode', 'ctx-state', 'ctx-session', 'ctx-context',
  'supervise', 'copilot', 'copilot-status', 'copilot-alerts', 'copilot-hints', 'copilot-transcript', 'copilot-form', 'copilot-service', 'copilot-attach', 'copilot-detach',
  'viewer', 'viewer-customer', 'viewer-stage', 'viewer-remote', 'viewer-placeholder', 'viewer-local', 'viewer-close']);

const app = {
  client: null,
  call: null, // current SessionCall (live or last)
  offer: null, // pending `offer` frame shown to the agent
  ended: null, // last `ended` {code, reason, session, leg}
  error: null,
  sessionId: null, // session of the current call / offer
};

let ringer = null;

const con = createConsole({
  el,
  app,
  tokenKey: TOKEN_KEY,
  render: () => render(),
  showOffer: (offer) => showOffer(offer),
  watchCall: (call) => watchCall(call),
  withdrawn: {
    timeout: () => t('agent.withdrawn.timeout'),
    abandoned: () => t('agent.withdrawn.abandoned'),
    answered_elsewhere: () => t('agent.withdrawn.answered_elsewhere'),
    logout: () => t('agent.withdrawn.logout'),
    overflow: () => t('agent.withdrawn.overflow'),
    not_ready: () => t('agent.withdrawn.not_ready'),
    ended: () => t('agent.withdrawn.ended'),
    cancelled: () => t('agent.withdrawn.cancelled'),
  },
  ringing: (left) => t('agent.offer.ringing', { left }),
  tickMs: 250,
  onHideOffer: () => stopRinger(),
  acceptMedia: (offer) => ({ status: t('agent.status.connecting_to', { name: customerName(offer) }), media: { video: true }, focus: el.hangup }),
  events: {
    invited: (e) => showInvited(e.detail),
    delivery: (e) => {
      app.delivery = e.detail;
      setStatus(t('agent.invite.delivery', { channel: e.detail.channel, status: e.detail.status }));
    },
    session: (e) => {
      if (mode === 'viewer') renderViewer(e.detail);
      else render();
    },
    copilot: (e) => onCopilot(e.detail),
    hello: (e) => renderCopilotServices(e.detail),
  },
  onClose: () => {
    if (mode !== 'viewer') return false;
    viewerEnded(app.ended || { code: 503, reason: t('agent.viewer.connection_closed') });
    return true;
  },
  keepScreen: () => mode === 'viewer',
});
const { setStatus, showError, callLive, accept, decline, hangup, logout, showScreen } = con;

// ---- helpers ------------------------------------------------------------------

function currentSession() {
  const c = app.client;
  if (!c) return null;
  const id = (app.call && app.call.session) || app.sessionId || (app.offer && app.offer.session);
  return (id && c.sessions.get(id)) || (app.call && app.call.info) || null;
}

function customerName(x) {
  const c = x && x.customer;
  return (c && c.name) || t('agent.customer');
}

// A session state's text (created … ended; others as they are).
function sessionStateText(st) {
  switch (st) {
    case 'created': return t('agent.session_state.created');
    case 'routing': return t('agent.session_state.routing');
    case 'waiting': return t('agent.session_state.waiting');
    case 'ringing': return t('agent.session_state.ringing');
    case 'active': return t('agent.session_state.active');
    case 'transferring': return t('agent.session_state.transferring');
    case 'ended': return t('agent.session_state.ended');
    default: return st || '—';
  }
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
      for (const [f, at] of [[880, 0], [660, 0.25]]) {
        const o = ctx.createOscillator();
        const g = ctx.createGain();
        o.frequency.value = f;
        g.gain.value = 0.05;
        o.connect(g).connect(ctx.destination);
        o.start(ctx.currentTime + at);
        o.stop(ctx.currentTime + at + 0.2);
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
  con.renderAgent();
  renderTransferTargets();
}

function renderTransferTargets() {
  const names = queueTargets(app.client);
  const s = currentSession();
  if (s && s.queue) names.add(`queue:${s.queue}`);
  let recent = [];
  try { recent = JSON.parse(sessionStorage.getItem('split.agent.transfers') || '[]'); } catch { /* ignore */ }
  for (const r of recent) names.add(r);
  setOptions(el.transferTargets, names);
}

function renderSession() {
  const s = currentSession();
  const src = s || app.offer;
  el.ctxCustomer.textContent = src ? customerName(src) : '—';
  el.ctxQueue.textContent = (src && src.queue) || '—';
  el.ctxMode.textContent = src ? (src.mode || (src.video ? 'video' : 'voice')) : '—';
  let state = s ? sessionStateText(s.state) : app.offer ? sessionStateText('ringing') : '—';
  if (s && s.held) state = t('agent.session_state.on_hold', { state });
  if (s && app.call && !app.call.live && app.call.session === s.session && s.state !== 'ended') state = t('agent.session_state.ended_for_you');
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
    el.placeholderText.textContent = app.offer ? t('agent.call.incoming') : t('agent.call.no_call');
  } else if (!el.stage.classList.contains('has-remote-video')) {
    el.placeholderText.textContent = app.call.video ? t('agent.call.waiting_video') : t('agent.call.voice');
  }
}

// A supervisor's call: the listen mode (docs/copilot.md §8).
function renderSupervise() {
  const offer = app.call && app.call.live && app.call.offer;
  const mode = offer && offer.supervise ? (app.superviseMode && app.superviseSession === offer.session ? app.superviseMode : offer.supervise) : null;
  el.supervise.hidden = !mode;
  for (const b of el.supervise.querySelectorAll('button[data-mode]')) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
}

el.supervise.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-mode]');
  const offer = app.call && app.call.offer;
  if (!b || !offer || !app.client) return;
  if (app.client.send({ type: 'supervise', session: offer.session, mode: b.dataset.mode })) {
    app.superviseMode = b.dataset.mode;
    app.superviseSession = offer.session;
    const m = b.dataset.mode;
    setStatus(m === 'monitor' ? t('agent.supervise.status_monitor') : m === 'whisper' ? t('agent.supervise.status_whisper') : t('agent.supervise.status_barge'));
    renderSupervise();
  }
});

function renderStatus() {
  con.renderStatus(() => {
    const s = currentSession();
    const who = customerName(s || app.call.offer);
    if (s && s.state === 'transferring') return t('agent.status.transferring', { name: who });
    if (s && s.held) return t('agent.status.on_hold', { name: who });
    return t('agent.status.in_call', { name: who });
  }, () => {
    const o = app.offer;
    const v = { name: customerName(o), queue: o.queue };
    if (o.queue) return o.video ? t('agent.status.incoming_video_queue', v) : t('agent.status.incoming_queue', v);
    return o.video ? t('agent.status.incoming_video', v) : t('agent.status.incoming', v);
  });
}

function render() {
  if (mode === 'viewer') return;
  renderAgent();
  renderSession();
  renderCall();
  renderSupervise();
  renderStatus();
}

// ---- Copilot panel (docs/copilot.md) ---------------------------------------------------

const copilot = { session: null, partial: new Map(), attached: new Set() };

function renderCopilotServices(hello) {
  const names = (hello && hello.copilot) || [];
  el.copilotService.replaceChildren(...names.map((n) => new Option(n, n)));
  el.copilotForm.hidden = names.length === 0;
  el.copilot.hidden = names.length === 0 && copilot.session === null;
}

function copilotReset(session) {
  copilot.session = session;
  copilot.partial.clear();
  copilot.attached.clear();
  el.copilotAlerts.replaceChildren();
  el.copilotHints.replaceChildren();
  el.copilotTranscript.replaceChildren();
  el.copilotStatus.textContent = '';
}

function speaker(m) {
  if (m.name) return m.name;
  switch (m.role) {
    case 'customer': return t('agent.customer');
    case 'agent': return t('agent.role.agent');
    case 'phone-party': return t('agent.role.phone');
    case 'interpreter': return t('agent.role.interpreter');
    case 'supervisor': return t('agent.role.supervisor');
    default: return m.participant || '?';
  }
}

function safeURL(u) {
  try { const x = new URL(u); return x.protocol === 'https:' ? x.href : null; } catch { return null; }
}

function onCopilot(m) {
  if (!m || !m.session) return;
  if (copilot.session !== m.session) copilotReset(m.session);
  el.copilot.hidden = false;
  switch (m.event) {
    case 'transcript': {
      let li = copilot.partial.get(m.participant);
      if (!li) {
        li = document.createElement('li');
        const who = document.createElement('span');
        who.className = 'who';
        li.append(who, document.createElement('span'));
        el.copilotTranscript.append(li);
      }
      li.firstChild.textContent = `${speaker(m)}:`;
      li.lastChild.textContent = m.text || '';
      li.classList.toggle('partial', !m.final);
      li.dataset.final = String(!!m.final);
      if (m.final) copilot.partial.delete(m.participant);
      else copilot.partial.set(m.participant, li);
      el.copilotTranscript.scrollTop = el.copilotTranscript.scrollHeight;
      break;
    }
    case 'hint': {
      const li = document.createElement('li');
      if (m.title) { const strong = document.createElement('strong'); strong.textContent = m.title; li.append(strong); }
      const p = document.createElement('span');
      p.textContent = m.text || '';
      li.append(p);
      const href = m.url && safeURL(m.url);
      if (href) {
        const a = document.createElement('a');
        a.href = href; a.target = '_blank'; a.rel = 'noopener noreferrer'; a.textContent = t('agent.copilot.open');
        li.append(' ', a);
      }
      el.copilotHints.prepend(li);
      while (el.copilotHints.children.length > 5) el.copilotHints.lastChild.remove();
      break;
    }
    case 'alert': {
      const d = document.createElement('p');
      d.className = `alert ${m.severity || 'warning'}`;
      d.textContent = m.severity === 'critical' ? t('agent.copilot.critical', { reason: m.reason || '' }) : m.reason || '';
      el.copilotAlerts.prepend(d);
      while (el.copilotAlerts.children.length > 3) el.copilotAlerts.lastChild.remove();
      break;
    }
    case 'attached':
      copilot.attached.add(m.service);
      el.copilotStatus.textContent = t('agent.copilot.listening', { service: m.service });
      break;
    case 'up':
      el.copilotStatus.textContent = t('agent.copilot.listening', { service: m.service });
      break;
    case 'down':
      el.copilotStatus.textContent = t('agent.copilot.down', { service: m.service });
      break;
    default:
      break;
  }
}

function copilotSend(type) {
  const s = currentSession();
  const service = el.copilotService.value;
  if (!app.client || !s || !service) return;
  app.client.send({ type, session: s.session, service });
  if (type === 'copilot_detach') el.copilotStatus.textContent = t('agent.copilot.detached', { service });
}

el.copilotForm.addEventListener('submit', (e) => { e.preventDefault(); copilotSend('copilot_attach'); });
el.copilotDetach.addEventListener('click', () => copilotSend('copilot_detach'));

// ---- offers -----------------------------------------------------------------------

function showOffer(offer) {
  app.sessionId = offer.session || app.sessionId;
  const details = [];
  if (offer.queue) details.push([t('agent.session.queue'), offer.queue]);
  const ctx = (offer.customer && offer.customer.context) || {};
  for (const [k, v] of Object.entries(ctx)) details.push([k, v]);
  con.ring(offer, {
    title: offer.video ? t('agent.offer.title_video') : t('agent.offer.title'),
    who: `${customerName(offer)}${offer.from ? ` · ${offer.from}` : ''}`,
    details,
  });
  if (autoanswer) {
    accept(offer.leg);
  } else {
    startRinger();
    el.accept.focus();
  }
}

// ---- calls --------------------------------------------------------------------------

watchFrames(el.remoteVideo, el.stage, render);
watchFrames(el.viewerRemote, el.viewerStage, render);

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
    playRemote(call, { audioEl: viewer ? null : el.remoteAudio, videoEl: remoteVideo, stage, sound: el.sound, followMute: true });
    render();
  });
  con.callErrors(call, {
    no_camera: () => t('agent.error.no_camera'),
    ice_failed: () => t('agent.error.ice_failed'),
  });
  call.addEventListener('state', (e) => {
    if (e.detail.state !== 'ended') return;
    if (call !== app.call) return;
    clearStage(stage, remoteVideo, localVideo, el.remoteAudio);
    con.callEnded(call, e.detail);
    if (viewer) viewerEnded(app.ended);
    render();
  });
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
    setStatus(t('agent.status.transferring_to', { to }));
    try {
      const recent = JSON.parse(sessionStorage.getItem('split.agent.transfers') || '[]').filter((r) => r !== to);
      recent.unshift(to);
      sessionStorage.setItem('split.agent.transfers', JSON.stringify(recent.slice(0, 8)));
    } catch { /* ignore */ }
  }
  return ok;
}

// ---- agent view -------------------------------------------------------------------------

function renderViewer(s) {
  if (!s) return;
  const name = customerName(s);
  el.viewerCustomer.textContent = name;
  if (!el.viewerStage.classList.contains('has-remote-video')) {
    el.viewerPlaceholder.textContent = s.mode === 'voice' || s.mode === 'audio' ? t('agent.viewer.no_video') : t('agent.call.waiting_video');
  }
  setStatus(s.held ? t('agent.status.on_hold', { name }) : t('agent.viewer.viewing', { name }));
}

let viewerDone = false;
let viewerInfo = null;
function viewerEnded(info, again = false) {
  if (viewerDone && !again) return;
  viewerDone = true;
  if (!again) viewerInfo = info;
  info = viewerInfo;
  clearStage(el.viewerStage, el.viewerRemote, el.viewerLocal);
  el.viewerPlaceholder.textContent = t('agent.viewer.closed');
  setStatus(info && info.code && info.code !== 200 ? t('agent.viewer.closed_code', { code: info.code, reason: info.reason || '' }).replace(/ +\)/, ')') : t('agent.viewer.closed_done'));
  el.viewerClose.textContent = t('agent.viewer.close_window');
}

async function startViewer() {
  document.title = t('agent.viewer.title');
  el.appTitle.textContent = t('agent.viewer.title');
  el.agentState.hidden = true;
  showScreen('viewer');
  try {
    await con.connect(viewToken);
  } catch (err) {
    el.viewerPlaceholder.textContent = t('agent.viewer.connect_failed');
    return;
  }
  setStatus(t('agent.viewer.connecting_video'));
  try {
    await app.client.view({ video: true });
    const s = currentSession();
    if (s) renderViewer(s);
    else setStatus(t('agent.viewer.connected'));
  } catch (err) {
    showError(t('agent.viewer.open_failed', { error: err.message || err }));
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

con.wire();
el.hold.addEventListener('click', () => hold());
el.mute.addEventListener('click', () => mute());
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
  el.inviteResult.textContent = t('agent.invite.sending', { to });
  return c.send({ type: 'invite', to, channel: channel || undefined });
}

// Remote Viewer: the caller on the phone gets a link to add video.
function escalate(to) {
  const c = app.client;
  if (!c || !callLive()) return false;
  to = String(to ?? el.escalateTo.value).trim();
  setStatus(t('agent.status.escalating'));
  return c.send({ type: 'escalate', session: app.call.session, to: to || undefined });
}

function showInvited(m) {
  app.invited = m;
  if (m.channel === 'whatsapp-call') {
    // a WhatsApp voice call: no link; the console rings once the call can be placed
    const text = m.delivery === 'requested' ? t('agent.invite.wa_requested', { to: m.to }) : t('agent.invite.wa_calling', { to: m.to });
    el.inviteResult.textContent = text;
    setStatus(text);
    return;
  }
  let how = '';
  switch (m.channel) {
    case 'sms': how = t('agent.invite.by_sms'); break;
    case 'whatsapp': how = t('agent.invite.by_whatsapp'); break;
    case 'email': how = t('agent.invite.by_email'); break;
    case 'copy': how = t('agent.invite.by_copy'); break;
    default: break;
  }
  el.inviteResult.textContent = '';
  const text = document.createElement('span');
  const v = { how, to: m.to, delivery: m.delivery };
  text.textContent = `${(m.to ? t('agent.invite.link_to', v) : t('agent.invite.link', v)).replace(/\s+/g, ' ')} `;
  const a = document.createElement('a');
  a.href = m.url;
  a.textContent = m.url;
  a.target = '_blank';
  a.rel = 'noopener';
  el.inviteResult.append(text, a);
  setStatus(m.to ? t('agent.invite.sent_to', { to: m.to }) : t('agent.invite.sent'));
}
el.viewerClose.addEventListener('click', closeViewer);
document.addEventListener('keydown', (e) => {
  // Keyboard shortcuts while an offer rings: Alt+A accept, Alt+D decline.
  if (!app.offer || !e.altKey) return;
  if (e.key === 'a' || e.key === 'A') { e.preventDefault(); accept(); }
  if (e.key === 'd' || e.key === 'D') { e.preventDefault(); decline(); }
});

// ---- automation hook ------------------------------------------------------------------------

window.splitApp = con.hook({
  get agent() { return app.client ? app.client.agent : null; },
  get session() { return currentSession(); },
  get invited() { return app.invited || null; },
  get delivery() { return app.delivery || null; },
  invite: (to, channel) => invite(to, channel),
  escalate: (to) => escalate(to),
  get mode() { return mode; },
  transfer: (to) => transfer(to),
  hangup: () => hangup(),
  hold: (on) => hold(on),
  mute: (on) => mute(on),
  logout: () => logout(),
});

// ---- start ---------------------------------------------------------------------------------------

i18nReady.then(() => {
  if (mode === 'viewer') startViewer();
  else con.boot();
});
