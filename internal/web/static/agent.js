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
import { params, yes, elements, CONSOLE_IDS, fill, setOptions, queueTargets, watchFrames, showLocal, clearStage, playRemote, createConsole } from './console.js';

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
  withdrawn: { timeout: 'not answered in time', abandoned: 'the customer hung up', answered_elsewhere: 'answered by someone else', logout: 'you logged out' },
  ringing: (left) => `Ringing — ${left} s left to answer`,
  tickMs: 250,
  onHideOffer: () => stopRinger(),
  acceptMedia: (offer) => ({ status: `Connecting to ${customerName(offer)}…`, media: { video: true }, focus: el.hangup }),
  events: {
    invited: (e) => showInvited(e.detail),
    delivery: (e) => {
      app.delivery = e.detail;
      setStatus(`Link delivery (${e.detail.channel}): ${e.detail.status}`);
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
    viewerEnded(app.ended || { code: 503, reason: 'Connection to the hub closed' });
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
    setStatus({ monitor: 'Monitoring: nobody hears you.', whisper: 'Whispering: only the agent hears you.', barge: 'Barged in: everyone hears you.' }[b.dataset.mode]);
    renderSupervise();
  }
});

function renderStatus() {
  con.renderStatus(() => {
    const s = currentSession();
    const who = customerName(s || app.call.offer);
    if (s && s.state === 'transferring') return `Transferring ${who}…`;
    if (s && s.held) return `${who} is on hold.`;
    return `In a call with ${who}.`;
  }, () => `Incoming ${app.offer.video ? 'video ' : ''}call from ${customerName(app.offer)}${app.offer.queue ? ` (queue ${app.offer.queue})` : ''}.`);
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
  return { customer: 'Customer', agent: 'Agent', 'phone-party': 'Phone', interpreter: 'Interpreter', supervisor: 'Supervisor' }[m.role] || m.participant || '?';
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
      if (m.title) { const t = document.createElement('strong'); t.textContent = m.title; li.append(t); }
      const p = document.createElement('span');
      p.textContent = m.text || '';
      li.append(p);
      const href = m.url && safeURL(m.url);
      if (href) {
        const a = document.createElement('a');
        a.href = href; a.target = '_blank'; a.rel = 'noopener noreferrer'; a.textContent = ' Open';
        li.append(a);
      }
      el.copilotHints.prepend(li);
      while (el.copilotHints.children.length > 5) el.copilotHints.lastChild.remove();
      break;
    }
    case 'alert': {
      const d = document.createElement('p');
      d.className = `alert ${m.severity || 'warning'}`;
      d.textContent = `${m.severity === 'critical' ? 'Critical: ' : ''}${m.reason || ''}`;
      el.copilotAlerts.prepend(d);
      while (el.copilotAlerts.children.length > 3) el.copilotAlerts.lastChild.remove();
      break;
    }
    case 'attached':
      copilot.attached.add(m.service);
      el.copilotStatus.textContent = `${m.service} is listening.`;
      break;
    case 'up':
      el.copilotStatus.textContent = `${m.service} is listening.`;
      break;
    case 'down':
      el.copilotStatus.textContent = `${m.service} is unavailable; the call is not affected.`;
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
  if (type === 'copilot_detach') el.copilotStatus.textContent = `${service} detached.`;
}

el.copilotForm.addEventListener('submit', (e) => { e.preventDefault(); copilotSend('copilot_attach'); });
el.copilotDetach.addEventListener('click', () => copilotSend('copilot_detach'));

// ---- offers -----------------------------------------------------------------------

function showOffer(offer) {
  app.sessionId = offer.session || app.sessionId;
  const details = [];
  if (offer.queue) details.push(['Queue', offer.queue]);
  const ctx = (offer.customer && offer.customer.context) || {};
  for (const [k, v] of Object.entries(ctx)) details.push([k, v]);
  con.ring(offer, {
    title: offer.video ? 'Incoming video call' : 'Incoming call',
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
    no_camera: 'Your camera could not be used: the customer will not see you.',
    ice_failed: 'The media connection to the hub failed.',
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
    setStatus(`Transferring to ${to}…`);
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
    await con.connect(viewToken);
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

if (mode === 'viewer') startViewer();
else con.boot();
