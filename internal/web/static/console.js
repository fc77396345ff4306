// SPLIT consoles: what the agent console (agent.js) and the interpreter
// console (interpreter.js) do the same way — the page parameters, the sign-in
// and the hub connection, the agent state bar, offers (ring, accept,
// decline), the status line and the call's video stage. Each page passes
// what is its own (texts, media options, extra frames) as options.
import { SessionClient } from './session.js';

export const $ = (id) => document.getElementById(id);

// The page's parameters: the query string, then the fragment (keep tokens in
// the fragment so that they are not logged by servers and proxies).
export const params = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ''))) params.set(k, v);

export const yes = (v) => ['1', 'true', 'yes', 'on'].includes(String(v || '').toLowerCase());

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

export const STATE_LABEL = {
  logged_out: 'Logged out',
  not_ready: 'Not ready',
  ready: 'Ready',
  ringing: 'Ringing',
  busy: 'Busy',
  wrap_up: 'Wrap-up',
};

// fill writes [key, value] pairs into a <dl> ("None" when there are none).
export function fill(dl, entries) {
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
//   withdrawn     cancel reason → text
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
      el.agentState.textContent = 'Disconnected';
    },

    // renderAgent: the state badge, the state bar and its buttons, wrap-up.
    renderAgent() {
      const c = app.client;
      const connected = !!(c && c.connected);
      const st = connected ? con.agentState() || 'logged_out' : 'disconnected';
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
    },

    // renderStatus: the status line; inCall() and offered() give the page's
    // own texts for a live call and a ringing offer.
    renderStatus(inCall, offered) {
      if (!app.client || !app.client.connected) return;
      const st = con.agentState();
      if (con.callLive()) con.setStatus(inCall());
      else if (app.offer) con.setStatus(offered());
      else if (st === 'wrap_up') con.setStatus('Wrap-up: press Done when you are ready for the next call.');
      else if (st === 'ready') con.setStatus('Ready: waiting for calls.');
      else if (st === 'not_ready') con.setStatus('Not ready: you will not receive calls.');
      else if (st === 'busy') con.setStatus('Busy.');
      else con.setStatus('Logged out of the queues. Press Log in to take calls.');
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
        if (!total) { el.offerCountdown.textContent = 'Ringing…'; return; }
        const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        el.offerCountdown.textContent = left > 0 ? o.ringing(left) : 'Expiring…';
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
        con.showError('There is no call to accept (it may have been withdrawn).');
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
        if (err.code !== 'ended') con.showError(`Could not accept the call: ${err.message || err}`);
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

    // callErrors shows a call's errors; texts: code → text (no_camera: the page's own).
    callErrors(call, texts) {
      const t = { no_microphone: 'Your microphone could not be used.', ...texts };
      call.addEventListener('error', (e) => {
        const d = e.detail;
        con.showError(t[d.code] || d.message || d.code);
      });
    },

    // callEnded notes a call's end (app.ended, the "Last call ended" line).
    callEnded(call, detail) {
      if (!app.ended || app.ended.leg !== call.leg) {
        app.ended = { code: detail.code, reason: detail.reason, session: call.session, leg: call.leg };
      }
      el.lastEnded.textContent = `Last call ended: ${app.ended.code}${app.ended.reason ? ` ${app.ended.reason}` : ''}`;
    },

    async connect(token) {
      if (app.client) app.client.close(1000, 'reconnecting');
      con.showError('');
      con.setStatus('Connecting…');
      const c = new SessionClient({ server: params.get('server') || undefined, token });
      app.client = c;
      c.addEventListener('agent', () => o.render());
      c.addEventListener('offer', (e) => o.showOffer(e.detail));
      c.addEventListener('cancel', (e) => {
        const m = e.detail;
        if (app.offer && m.leg === app.offer.leg) {
          con.hideOffer();
          const why = o.withdrawn[m.reason] || m.reason || 'withdrawn';
          con.setStatus(`The call was withdrawn: ${why}.`);
          el.lastEnded.textContent = `Offer withdrawn: ${why}`;
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
        con.showError('The connection to the hub was lost. Sign in again.');
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
        const t = el.token.value.trim();
        if (t) con.start(t);
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
        con.setStatus('Signed out.');
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
        con.setStatus('Sign in to take calls.');
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
