// SPLIT consoles: what the agent console (agent.js) and the interpreter
// console (interpreter.js) do the same way — the page parameters, the sign-in
// and the hub connection, the agent state bar, offers (ring, accept,
// decline), the status line and the call's video stage. Each page passes
// what is its own (texts, media options, extra frames) as options.
//
// Texts are the hub's catalog's (i18n.js, docs/i18n.md; keys agent.* here):
// the page's language is ?lang= (or #lang=), else the browser's.
import { SessionClient } from './session.js';
import { loadI18n, t, applyI18n, currentLang } from './i18n.js';

export const $ = (id) => document.getElementById(id);

// The page's parameters: the query string, then the fragment (keep tokens in
// the fragment so that they are not logged by servers and proxies).
export const params = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ''))) params.set(k, v);

export const yes = (v) => ['1', 'true', 'yes', 'on'].includes(String(v || '').toLowerCase());

// hubOrigin: the hub's http(s) origin (server=, which may be a ws(s) URL),
// default this page's.
export function hubOrigin() {
  const s = params.get('server');
  if (!s) return location.origin;
  try {
    const u = new URL(s, location.href);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    if (u.protocol === 'wss:') u.protocol = 'https:';
    return u.origin;
  } catch {
    return location.origin;
  }
}

// The language asked for: lang= of the query string or the fragment (a
// language tag), else none (the hub takes the browser's Accept-Language).
export function langParam() {
  const l = String(params.get('lang') || '').trim();
  return /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(l) ? l.replace(/^[A-Za-z]+/, (m) => m.toLowerCase()) : undefined;
}

// startI18n fetches the catalog and translates the page. It resolves when
// the texts are in (or after waitMs: the page then starts in English and
// is translated when the catalog comes, late() re-rendering what the
// scripts wrote meanwhile).
export function startI18n(late, waitMs = 3000) {
  let started = false;
  const load = loadI18n({ server: hubOrigin(), lang: langParam() })
    .catch(() => 'en')
    .then(() => {
      applyI18n();
      if (started && late) late();
    });
  return Promise.race([load, new Promise((r) => setTimeout(r, waitMs))]).then(() => { started = true; });
}

// The locale for dates and times: the browser's when it is of the page's
// language (en-GB keeps its clock), else the page's language.
export function locale() {
  const lang = currentLang();
  const nav = (typeof navigator !== 'undefined' && navigator.language) || '';
  return nav && nav.split('-')[0].toLowerCase() === lang ? nav : lang;
}

// elements maps ids to camelCase keys: 'btn-login' → el.btnLogin.
export function elements(ids) {
  const el = {};
  for (const id of ids) el[id.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = $(id);
  return el;
}

// The elements both consoles have (agent.html, interpreter.html).
export const CONSOLE_IDS = ['me', 'agent-state', 'status', 'error', 'login', 'login-form', 'token', 'console',
  'state-text', 'state-since', 'btn-login', 'btn-ready', 'btn-notready', 'btn-logout', 'btn-disconnect',
  'offer', 'offer-title', 'offer-who', 'offer-details', 'offer-countdown', 'accept', 'decline', 'wrapup', 'done',
  'stage', 'remote-video', 'placeholder-text', 'local-video', 'remote-audio', 'sound', 'hangup',
  'invite-form', 'invite-to', 'invite-channel', 'invite-result', 'last-ended'];

// stateLabel: an agent state's text (the state itself stays the machine
// value: data-state, window.splitApp.agentState).
export function stateLabel(st) {
  switch (st) {
    case 'logged_out': return t('agent.state.logged_out');
    case 'not_ready': return t('agent.state.not_ready');
    case 'ready': return t('agent.state.ready');
    case 'ringing': return t('agent.state.ringing');
    case 'busy': return t('agent.state.busy');
    case 'wrap_up': return t('agent.state.wrap_up');
    case 'disconnected': return t('agent.state.disconnected');
    default: return st;
  }
}

// fill writes [key, value] pairs into a <dl> ("None" when there are none).
export function fill(dl, entries) {
  dl.textContent = '';
  if (!entries.length) {
    const dt = document.createElement('dt');
    dt.className = 'muted';
    dt.textContent = t('agent.none');
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

// setOptions makes a <datalist> hold names (untouched when it already does).
export function setOptions(list, names) {
  const want = [...names].join('\n');
  if ([...list.options].map((o) => o.value).join('\n') === want) return;
  list.textContent = '';
  for (const n of names) {
    const o = document.createElement('option');
    o.value = n;
    list.append(o);
  }
}

// queueTargets: queue:<name> for every queue of the hub and of the agent.
export function queueTargets(c) {
  const names = new Set();
  const qs = [
    ...((c && c.hello && c.hello.queues) || []), // every queue of the hub
    ...((c && c.agent && c.agent.queues) || []), // the agent's own
  ];
  for (const q of qs) {
    const n = typeof q === 'string' ? q : q && q.name;
    if (n) names.add(`queue:${n}`);
  }
  return names;
}

// The call's video stage: the remote video shows once frames arrive (a track
// can exist without media, e.g. a voice-only customer).
export function watchFrames(videoEl, stage, render) {
  const on = () => {
    if (videoEl.videoWidth > 0 && videoEl.srcObject) {
      stage.classList.add('has-remote-video');
      render();
    }
  };
  for (const ev of ['loadeddata', 'resize', 'playing']) videoEl.addEventListener(ev, on);
}

export function showLocal(stream, videoEl, stage) {
  const has = !!(stream && stream.getVideoTracks().length);
  videoEl.srcObject = has ? stream : null;
  if (has) videoEl.play().catch(() => {});
  stage.classList.toggle('has-local-video', has);
}

export function clearStage(stage, ...media) {
  for (const m of media) m.srcObject = null;
  stage.classList.remove('has-remote-video', 'has-local-video', 'held');
}

// playRemote plays the call's remote tracks: audio (audioEl, if any; the
// sound button shows where the browser blocks autoplay) and video.
// followMute: the stage drops the video while the track is muted.
export function playRemote(call, { audioEl, videoEl, stage, sound, replay = true, followMute = false }) {
  const audio = call.remoteStream.getAudioTracks();
  const video = call.remoteStream.getVideoTracks();
  if (audioEl && audio.length) {
    const changed = audioEl.srcObject?.getAudioTracks()[0] !== audio[0];
    if (changed) audioEl.srcObject = new MediaStream(audio);
    if (changed || replay) audioEl.play().then(() => { sound.hidden = true; }).catch(() => { sound.hidden = false; });
  }
  if (video.length && videoEl.srcObject?.getVideoTracks()[0] !== video[0]) {
    videoEl.srcObject = new MediaStream(video);
    videoEl.play().catch(() => {});
    if (followMute) {
      video[0].addEventListener('mute', () => stage.classList.remove('has-remote-video'));
      video[0].addEventListener('unmute', () => { if (videoEl.videoWidth) stage.classList.add('has-remote-video'); });
    }
  }
}

// createConsole: the shared behaviour of a console page.
//   el, app       the page's elements (see CONSOLE_IDS) and state ({client, call, offer, ended, error, sessionId})
//   tokenKey      sessionStorage key of the token
//   render()      the page's full render
//   withdrawn     cancel reason → () => text
//   ringing(left) countdown text; tickMs: its period
//   acceptMedia(offer) → {status, media, focus}: what accept() says, asks for and focuses
//   onAccepting(offer)  before accept() answers (e.g. clear the call's panes)
//   events        {frameType: handler(e, client)} the page's own client events
//   onClose()     true: the page handled a lost connection itself
//   onHello(hello), connectFailed(): after connect() (failed: false keeps the screen)
export function createConsole(o) {
  const { el, app } = o;
  let ringTimer = null;

  const con = {
    setStatus(text) {
      if (el.status.textContent !== text) el.status.textContent = text;
    },

    showError(text) {
      app.error = text || null;
      el.error.textContent = text || '';
      el.error.hidden = !text;
    },

    agentState() {
      return app.client ? app.client.agentState : null;
    },

    callLive() {
      return !!(app.call && app.call.live);
    },

    queuesParam() {
      const q = params.get('queues');
      return q ? q.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    },

    login(queues) {
      return !!(app.client && app.client.login(queues || con.queuesParam()));
    },

    logout() {
      return !!(app.client && app.client.logout());
    },

    setReady(ready) {
      const c = app.client;
      if (!c) return false;
      if (ready && (!c.agentState || c.agentState === 'logged_out')) c.login(con.queuesParam());
      return c.ready(!!ready);
    },

    showScreen(name) {
      el.login.hidden = name !== 'login';
      el.console.hidden = name !== 'console';
      if (el.viewer) el.viewer.hidden = name !== 'viewer';
    },

    disconnected() {
      el.agentState.dataset.state = 'disconnected';
      el.agentState.textContent = t('agent.state.disconnected');
    },

    // renderAgent: the state badge, the state bar and its buttons, wrap-up.
    renderAgent() {
      const c = app.client;
      const connected = !!(c && c.connected);
      const st = connected ? con.agentState() || 'logged_out' : 'disconnected';
      el.agentState.dataset.state = st;
      el.agentState.textContent = stateLabel(connected ? st : 'disconnected');
      el.stateText.textContent = connected ? stateLabel(st) : '—';
      const since = c && c.agent && c.agent.since;
      el.stateSince.textContent = since ? t('agent.since', { time: new Date(since).toLocaleTimeString(locale()) }) : '';
      el.btnLogin.hidden = st !== 'logged_out';
      el.btnLogout.hidden = st === 'logged_out' || st === 'disconnected';
      el.btnReady.hidden = st !== 'not_ready';
      el.btnNotready.hidden = !['ready', 'ringing', 'busy', 'wrap_up'].includes(st);
      for (const b of [el.btnLogin, el.btnReady, el.btnNotready, el.btnLogout]) b.disabled = !connected;
      el.wrapup.hidden = st !== 'wrap_up';
    },

    // renderStatus: the status line; inCall() and offered() give the page's
    // own texts for a live call and a ringing offer.
    renderStatus(inCall, offered) {
      if (!app.client || !app.client.connected) return;
      const st = con.agentState();
      if (con.callLive()) con.setStatus(inCall());
      else if (app.offer) con.setStatus(offered());
      else if (st === 'wrap_up') con.setStatus(t('agent.status.wrap_up'));
      else if (st === 'ready') con.setStatus(t('agent.status.ready'));
      else if (st === 'not_ready') con.setStatus(t('agent.status.not_ready'));
      else if (st === 'busy') con.setStatus(t('agent.status.busy'));
      else con.setStatus(t('agent.status.logged_out'));
    },

    // ring shows an offer card and counts down its ring timeout.
    ring(offer, { title, who, details }) {
      app.offer = offer;
      el.offerTitle.textContent = title;
      el.offerWho.textContent = who;
      fill(el.offerDetails, details);
      el.offer.hidden = false;
      clearInterval(ringTimer);
      const total = Number(offer.ring_timeout) || 0;
      const until = Date.now() + total * 1000;
      const tick = () => {
        if (!total) { el.offerCountdown.textContent = t('agent.offer.ringing_plain'); return; }
        const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        el.offerCountdown.textContent = left > 0 ? o.ringing(left) : t('agent.offer.expiring');
      };
      tick();
      ringTimer = setInterval(tick, o.tickMs || 1000);
      o.render();
    },

    hideOffer() {
      clearInterval(ringTimer);
      ringTimer = null;
      if (o.onHideOffer) o.onHideOffer();
      app.offer = null;
      el.offer.hidden = true;
    },

    async accept(leg) {
      const c = app.client;
      if (!c) return null;
      const offer = leg ? c.offers.get(leg) : app.offer;
      if (!offer) {
        con.showError(t('agent.error.no_offer'));
        return null;
      }
      con.hideOffer();
      con.showError('');
      app.sessionId = offer.session || null;
      if (o.onAccepting) o.onAccepting(offer);
      const { status, media, focus } = o.acceptMedia(offer);
      con.setStatus(status);
      try {
        const call = await c.accept(offer.leg, media);
        o.render();
        focus.focus();
        return call;
      } catch (err) {
        if (err.code !== 'ended') con.showError(t('agent.error.accept', { error: err.message || err }));
        o.render();
        return null;
      }
    },

    decline(leg) {
      const c = app.client;
      if (!c) return false;
      const l = leg || (app.offer && app.offer.leg);
      con.hideOffer();
      const ok = c.decline(l);
      o.render();
      return ok;
    },

    hangup() {
      if (con.callLive()) app.call.hangup();
      else if (app.offer) con.decline();
      o.render();
    },

    // callErrors shows a call's errors; texts: code → () => text (no_camera: the page's own).
    callErrors(call, texts) {
      const known = { no_microphone: () => t('agent.error.no_microphone'), ...texts };
      call.addEventListener('error', (e) => {
        const d = e.detail;
        con.showError((Object.hasOwn(known, d.code) && known[d.code]()) || d.message || d.code);
      });
    },

    // callEnded notes a call's end (app.ended, the "Last call ended" line).
    callEnded(call, detail) {
      if (!app.ended || app.ended.leg !== call.leg) {
        app.ended = { code: detail.code, reason: detail.reason, session: call.session, leg: call.leg };
      }
      el.lastEnded.textContent = app.ended.reason
        ? t('agent.last_ended_reason', { code: app.ended.code, reason: app.ended.reason })
        : t('agent.last_ended', { code: app.ended.code });
    },

    async connect(token) {
      if (app.client) app.client.close(1000, 'reconnecting');
      con.showError('');
      con.setStatus(t('agent.status.connecting'));
      const c = new SessionClient({ server: params.get('server') || undefined, token });
      app.client = c;
      c.addEventListener('agent', () => o.render());
      c.addEventListener('offer', (e) => o.showOffer(e.detail));
      c.addEventListener('cancel', (e) => {
        const m = e.detail;
        if (app.offer && m.leg === app.offer.leg) {
          con.hideOffer();
          const why = (Object.hasOwn(o.withdrawn, m.reason) && o.withdrawn[m.reason]()) || m.reason || t('agent.withdrawn.other');
          con.setStatus(t('agent.status.withdrawn', { reason: why }));
          el.lastEnded.textContent = t('agent.offer.withdrawn', { reason: why });
        }
        o.render();
      });
      c.addEventListener('ended', (e) => {
        app.ended = { code: e.detail.code, reason: e.detail.reason, session: e.detail.session, leg: e.detail.leg };
        if (app.offer && e.detail.leg === app.offer.leg) con.hideOffer();
        o.render();
      });
      c.addEventListener('call', (e) => o.watchCall(e.detail));
      c.addEventListener('error', (e) => {
        const m = e.detail;
        con.showError(`${m.message || m.code}${m.code && m.message ? ` (${m.code})` : ''}`);
      });
      for (const [type, fn] of Object.entries(o.events || {})) c.addEventListener(type, (e) => fn(e));
      c.addEventListener('close', () => {
        if (c !== app.client) return;
        con.hideOffer();
        if (o.onClose && o.onClose()) return;
        con.showError(t('agent.error.connection_lost'));
        con.showScreen('login');
        o.render();
        con.disconnected();
      });
      try {
        const hello = await c.connect();
        el.me.textContent = hello.identity ? `${hello.identity}` : '';
        if (o.onHello) o.onHello(hello);
        return hello;
      } catch (err) {
        if (c === app.client) {
          con.showError(err.message || String(err));
          con.setStatus('');
          if (!o.keepScreen || !o.keepScreen()) con.showScreen('login');
        }
        throw err;
      }
    },

    // start connects with a token, remembers it, and logs in / becomes
    // ready as the page's parameters ask (autologin=1, ready=1).
    async start(token) {
      try {
        await con.connect(token);
      } catch {
        try { sessionStorage.removeItem(o.tokenKey); } catch { /* ignore */ }
        return;
      }
      try { sessionStorage.setItem(o.tokenKey, token); } catch { /* ignore */ }
      con.showScreen('console');
      o.render();
      if (yes(params.get('autologin')) || yes(params.get('ready'))) {
        if (!con.agentState() || con.agentState() === 'logged_out') con.login();
        if (yes(params.get('ready'))) app.client.ready(true);
      }
      if (!con.agentState() || con.agentState() === 'logged_out') el.btnLogin.focus();
    },

    // wire connects the sign-in form, the state bar, the offer card, Done,
    // Enable sound and the page's closing.
    wire() {
      el.loginForm.addEventListener('submit', (e) => {
        e.preventDefault();
        const token = el.token.value.trim();
        if (token) con.start(token);
      });
      el.btnLogin.addEventListener('click', () => con.login());
      el.btnLogout.addEventListener('click', () => con.logout());
      el.btnReady.addEventListener('click', () => con.setReady(true));
      el.btnNotready.addEventListener('click', () => con.setReady(false));
      el.btnDisconnect.addEventListener('click', () => {
        try { sessionStorage.removeItem(o.tokenKey); } catch { /* ignore */ }
        const c = app.client;
        app.client = null;
        if (c) c.close(1000, 'signed out');
        con.hideOffer();
        con.showScreen('login');
        con.setStatus(t('agent.status.signed_out'));
        con.disconnected();
        el.token.focus();
      });
      el.accept.addEventListener('click', () => con.accept());
      el.decline.addEventListener('click', () => con.decline());
      el.done.addEventListener('click', () => { if (app.client) app.client.ready(true); });
      el.hangup.addEventListener('click', () => con.hangup());
      el.sound.addEventListener('click', () => {
        el.remoteAudio.play().then(() => { el.sound.hidden = true; }).catch(() => {});
      });
      window.addEventListener('pagehide', () => { if (app.client) app.client.close(1001, 'page closed'); });
    },

    // boot: the token of the page's parameters or of this tab's session,
    // otherwise the sign-in form.
    boot() {
      let token = params.get('token');
      if (!token) {
        try { token = sessionStorage.getItem(o.tokenKey); } catch { /* ignore */ }
      }
      if (token) {
        con.showScreen('console');
        con.start(token);
      } else {
        con.showScreen('login');
        con.setStatus(t('agent.status.sign_in'));
        el.token.focus();
      }
    },

    // hook: the window.splitApp properties both consoles have.
    hook(more) {
      const base = {
        get client() { return app.client; },
        get call() { return app.call; },
        get agentState() { return con.agentState(); },
        get offer() { return app.offer; },
        get ended() { return app.ended; },
        get error() { return app.error; },
        async stats() { return app.call ? app.call.getStats() : null; },
        accept: (leg) => con.accept(leg),
        decline: (leg) => con.decline(leg),
        login: (queues) => con.login(queues),
        setReady: (ready) => con.setReady(ready),
        connect: (token) => con.start(token),
      };
      return Object.defineProperties(base, Object.getOwnPropertyDescriptors(more));
    },
  };
  return con;
}
