// session.js — browser client for SPLIT sessions (protocol `split.session.v1`,
// docs/sessions.md): the customer widget, the agent console and the agent view.
//
// A dependency-free ES module (no build step), the sibling of split.js. One
// WebSocket to GET /v1/sessions/ws carries JSON frames; each leg this browser
// has in a session is one RTCPeerConnection to the hub (non-trickle: the SDP
// is sent once ICE gathering is complete, or after 2 s).
//
//   import { SessionClient } from './session.js';
//
//   // customer, anonymous, at a public entry point
//   const client = new SessionClient({ entry: 'support' });
//   await client.connect();                       // rejects with a readable Error
//   client.addEventListener('session', (e) => console.log(e.detail.state, e.detail.position));
//   const call = await client.startCall({ video: true, name: 'Ann', context: { order: '42' } });
//   video.srcObject = call.remoteStream;
//
//   // agent (token with role "agent")
//   const agent = new SessionClient({ token });
//   await agent.connect();
//   agent.login(); agent.ready(true);
//   agent.addEventListener('offer', (e) => agent.accept(e.detail.leg));
//
// SessionClient events (CustomEvent, the frame in `detail`): one per server
// frame type — hello, answer, offer, cancel, session, agent, ended, error,
// pong — plus message (every frame), call (a SessionCall was created),
// close ({code, reason, wasConnected}).
// SessionCall events: state ({state, code, reason}), track ({track, streams}),
// localstream ({stream}), connection ({state}: the RTCPeerConnection state),
// datachannel ({channel}: a channel the hub opened), error ({code, message}).
//
// Interpreter mode (docs/interpreter.md §6.2, §7.3), options of startCall()
// and accept(): t140 (create the page's own "t140" data channel: before the
// offer, or after the console's answer; it is call.t140), videoConstraints
// (merged into the camera request, e.g. {width: {ideal: 1280}}), contentHint
// ('motion'), videoSend ({max_bitrate, frame_rate}: sender parameters with
// degradationPreference 'maintain-framerate' once negotiated), videoCodecs
// (['H264', 'VP8']: setCodecPreferences, customers), fields (extra `start`
// fields such as sign_language and to), language: null (no `language` field).
//
// Nothing here throws asynchronously: background failures end the call and
// are reported as `error` events; the promises returned by connect(),
// startCall(), view() and accept() reject with an Error (with .code).

/** The video codecs this browser both sends and receives, by name ("H264", "VP8", …). */
function videoCodecs() {
  try {
    const names = (caps) => new Set(((caps && caps.codecs) || []).map((c) => String(c.mimeType || '').split('/')[1]).filter(Boolean).map((n) => n.toUpperCase()));
    const send = names(RTCRtpSender.getCapabilities('video'));
    const recv = names(RTCRtpReceiver.getCapabilities('video'));
    return ['H264', 'VP8', 'VP9', 'AV1'].filter((n) => send.has(n) && recv.has(n));
  } catch { return []; }
}

/** Protocol spoken by this client. */
export const PROTOCOL = 'split.session.v1';

/** Agent ACD states, as sent in `agent` frames. */
export const AGENT_STATES = Object.freeze(['logged_out', 'not_ready', 'ready', 'ringing', 'busy', 'wrap_up']);

// Server error codes → SIP-style numbers for calls that the error ends.
const ERROR_STATUS = { bad_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, conflict: 409, internal: 500, unavailable: 503 };

/** Resolve when ICE gathering completes or after `timeout` ms, whichever is first. */
function gatheringDone(pc, timeout) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete' || pc.signalingState === 'closed') finish(); };
    const timer = setTimeout(finish, timeout);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

function codecName(mimeType) {
  if (!mimeType) return '';
  const i = mimeType.indexOf('/');
  return i >= 0 ? mimeType.slice(i + 1) : mimeType;
}

function sdpHasMedia(sdp, kind) {
  return new RegExp(`^m=${kind} [1-9]`, 'm').test(sdp || '');
}

/**
 * Put the codecs named in `names` (e.g. ['H264', 'VP8']) first on a video
 * transceiver, in that order (H.264 Constrained Baseline first among H.264
 * profiles); other codecs (rtx, red, fec) stay after them. No-op where
 * setCodecPreferences is missing.
 */
function preferCodecs(transceiver, names) {
  try {
    if (!transceiver || !transceiver.setCodecPreferences || typeof RTCRtpReceiver === 'undefined' || !RTCRtpReceiver.getCapabilities) return;
    const caps = (RTCRtpReceiver.getCapabilities('video') || {}).codecs || [];
    const rank = (c) => {
      const n = codecName(c.mimeType).toUpperCase();
      const i = names.findIndex((x) => String(x).toUpperCase() === n);
      if (i < 0) return names.length * 2;
      const cb = n === 'H264' && /profile-level-id=42e0/i.test(c.sdpFmtpLine || '') && /packetization-mode=1/.test(c.sdpFmtpLine || '');
      return i * 2 + (n === 'H264' && !cb ? 1 : 0);
    };
    const sorted = caps.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i).map((x) => x.c);
    if (sorted.length) transceiver.setCodecPreferences(sorted);
  } catch (err) {
    console.warn('session.js: codec preferences not applied:', messageOf(err));
  }
}

function errorWithCode(message, code, extra = {}) {
  const err = new Error(message);
  err.code = code;
  Object.assign(err, extra);
  return err;
}

function messageOf(err) {
  if (!err) return 'unknown error';
  if (err.name === 'NotAllowedError') return 'permission to use the camera or microphone was denied';
  if (err.name === 'NotFoundError') return 'no camera or microphone was found';
  if (err.name === 'NotReadableError') return 'the camera or microphone is in use by another application';
  if (err.name === 'OverconstrainedError') return 'the selected camera or microphone is not available';
  return err.message || err.name || String(err);
}

/** HTTP origin of the hub from an http(s)/ws(s) URL or origin; default: this page's origin. */
function httpOrigin(server) {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  if (!server) {
    if (typeof location === 'undefined') throw new Error('SessionClient: server is required outside a browser page');
    return location.origin;
  }
  const u = new URL(server, base);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  return u.origin;
}

const READABLE_HTTP = {
  400: 'the hub refused the request',
  401: 'not authorised (the token is missing, invalid or expired)',
  403: 'not allowed',
  404: 'unknown entry point',
  429: 'too many connections, try again later',
  503: 'the service is not available right now',
};

/**
 * One leg of this browser in a session: its RTCPeerConnection and media.
 * Created by SessionClient.startCall(), view() or accept(); never directly.
 */
export class SessionCall extends EventTarget {
  constructor(client, { role, leg = null, session = null, video = false, offer = null }) {
    super();
    /** 'customer' | 'agent' | 'viewer' */
    this.role = role;
    /** Leg id (from the server's `answer` or `offer`). */
    this.leg = leg;
    /** Session id. */
    this.session = session;
    /** Whether video is requested/offered. */
    this.video = !!video;
    /** 'new' (media setup) → 'signalling' (SDP sent) → 'connected' (SDP exchanged) → 'ended'. */
    this.state = 'new';
    /** The RTCPeerConnection (null until created). */
    this.pc = null;
    /** Every remote track (audio and video). */
    this.remoteStream = new MediaStream();
    /** What this browser sends (null until acquired / if nothing). */
    this.localStream = null;
    /** Latest `session` frame for this call's session. */
    this.info = null;
    this.muted = false;
    this.cameraOff = false;
    this.held = false;
    /** Final {code, reason} (null while live). */
    this.code = null;
    this.reason = null;
    this.startedAt = new Date();
    this.endedAt = null;
    /** Offer frame (agents). */
    this.offer = offer;
    /** This page's own T.140 sending channel (option t140), and the hub-opened ones. */
    this.t140 = null;
    this.dataChannels = [];

    this._client = client;
    this._ownsStream = false; // stop the local tracks at the end (we acquired them)
    this._answerWaiter = null; // resolves startCall()/view() when the answer is applied
    this._confirmed = false; // the hub took our SDP (answer received / session active)
    this._ended = false;
    this._lastStats = null;
    /** Completed ICE restarts (network changes survived on this connection). */
    this.restarts = 0;
    this._restarting = null; // the running restartIce() promise
    this._restartWaiter = null; // resolves with the hub's `restarted` frame
    this._restartTimer = null;
    this._failedOnce = false; // a restart was tried after the connection went 'failed'
    this._closed = new Promise((resolve) => { this._resolveClosed = resolve; });
  }

  /** Call id: the leg id. */
  get id() { return this.leg; }
  /** True until the call ends. */
  get live() { return !this._ended; }
  /** Resolves with {code, reason} when the call ends. */
  get closed() { return this._closed; }

  /** Leave: customers end the session, agents leave it, viewers close the view. */
  hangup() {
    if (this._ended) return;
    const msg = { type: 'hangup' };
    if (this.session) msg.session = this.session;
    if (this.leg) msg.leg = this.leg;
    if (this.state !== 'new' || this.leg) this._client.send(msg);
    this._end(200, 'Local hangup');
  }

  /** Stop (or resume) sending this browser's voice; also disables the local audio track. */
  mute(mute = true) {
    this.muted = !!mute;
    if (this.localStream) for (const t of this.localStream.getAudioTracks()) t.enabled = !this.muted;
    if (this._ended) return false;
    const msg = { type: 'mute', mute: this.muted };
    if (this.session) msg.session = this.session;
    return this._client.send(msg);
  }

  /** Camera on/off (local only: the video track sends black frames while off). */
  setCamera(on = true) {
    this.cameraOff = !on;
    if (this.localStream) for (const t of this.localStream.getVideoTracks()) t.enabled = !!on;
  }

  /** True when a camera track is being sent. */
  get sendingVideo() {
    return !!(this.localStream && this.localStream.getVideoTracks().some((t) => t.readyState === 'live'));
  }

  /**
   * Switch camera during the call: {deviceId} or {facingMode: 'user'|'environment'}.
   * Resolves true when the new track replaced the old one.
   */
  async switchCamera({ deviceId, facingMode } = {}) {
    if (this._ended || !this.pc) return false;
    const sender = this.pc.getSenders().find((s) => s.track && s.track.kind === 'video');
    if (!sender) return false;
    const video = deviceId ? { deviceId: { exact: deviceId } } : facingMode ? { facingMode: { ideal: facingMode } } : true;
    let stream;
    try {
      // Some phones cannot open two cameras at once: stop the old one first.
      const old = sender.track;
      old.stop();
      stream = await navigator.mediaDevices.getUserMedia({ video });
    } catch (err) {
      this._emitError('no_camera', `cannot switch camera: ${messageOf(err)}`);
      return false;
    }
    const track = stream.getVideoTracks()[0];
    if (this._ended) { track.stop(); return false; }
    track.enabled = !this.cameraOff;
    try {
      await sender.replaceTrack(track);
    } catch (err) {
      track.stop();
      this._emitError('no_camera', `cannot switch camera: ${messageOf(err)}`);
      return false;
    }
    if (this.localStream) {
      for (const t of this.localStream.getVideoTracks()) this.localStream.removeTrack(t);
      this.localStream.addTrack(track);
    } else {
      this.localStream = stream;
    }
    this.dispatchEvent(new CustomEvent('localstream', { detail: { stream: this.localStream } }));
    return true;
  }

  /**
   * Favour frame rate on the video sender (signing, docs/interpreter.md §7.3):
   * degradationPreference 'maintain-framerate' where supported, and
   * {maxBitrate, maxFramerate} from {max_bitrate, frame_rate}. Resolves true
   * when the browser took the parameters; never rejects.
   */
  async tuneVideoSender({ max_bitrate: maxBitrate, frame_rate: frameRate } = {}) {
    const sender = this.pc && this.pc.getSenders().find((x) => x.track && x.track.kind === 'video');
    if (!sender || !sender.getParameters || !sender.setParameters) return false;
    try {
      const p = sender.getParameters();
      p.degradationPreference = 'maintain-framerate';
      if (Array.isArray(p.encodings) && p.encodings.length) {
        const e = { ...p.encodings[0] };
        if (maxBitrate > 0) e.maxBitrate = maxBitrate;
        if (frameRate > 0) e.maxFramerate = frameRate;
        p.encodings = [e, ...p.encodings.slice(1)];
      }
      await sender.setParameters(p);
      return true;
    } catch (err) {
      try { // a browser that refuses degradationPreference still takes the encodings
        const p = sender.getParameters();
        if (Array.isArray(p.encodings) && p.encodings.length) {
          if (maxBitrate > 0) p.encodings[0].maxBitrate = maxBitrate;
          if (frameRate > 0) p.encodings[0].maxFramerate = frameRate;
          await sender.setParameters(p);
        }
      } catch { /* ignore */ }
      console.warn('session.js: video sender parameters not applied:', messageOf(err));
      return false;
    }
  }

  /**
   * Browser-side media statistics, summed over the RTP streams:
   * {audioIn: {packetsReceived, packetsLost, jitter (ms, max), bytesReceived, codec},
   *  audioOut: {packetsSent, bytesSent, codec},
   *  videoIn: {framesDecoded, frameWidth, frameHeight, packetsReceived, packetsLost, bytesReceived, codec},
   *  videoOut: {framesEncoded, packetsSent, bytesSent, frameWidth, frameHeight, codec},
   *  connectionState, roundTripTime (s | null), leg, session, live}
   * Numbers are 0 and codecs '' when absent. After the call ended: the last figures seen.
   */
  async getStats() {
    const out = {
      audioIn: { packetsReceived: 0, packetsLost: 0, jitter: 0, bytesReceived: 0, codec: '' },
      audioOut: { packetsSent: 0, bytesSent: 0, codec: '' },
      videoIn: { framesDecoded: 0, frameWidth: 0, frameHeight: 0, packetsReceived: 0, packetsLost: 0, bytesReceived: 0, codec: '' },
      videoOut: { framesEncoded: 0, packetsSent: 0, bytesSent: 0, frameWidth: 0, frameHeight: 0, codec: '' },
      connectionState: this.pc ? this.pc.connectionState : 'new',
      roundTripTime: null,
      leg: this.leg,
      session: this.session,
      live: !this._ended,
    };
    if (!this.pc || this.pc.signalingState === 'closed') {
      return this._lastStats ? Object.assign({}, this._lastStats, { live: !this._ended, connectionState: out.connectionState }) : out;
    }
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return this._lastStats || out;
    }
    const codecs = new Map();
    report.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s); });
    const codecOf = (s) => {
      const c = s.codecId && codecs.get(s.codecId);
      return c ? codecName(c.mimeType) : '';
    };
    report.forEach((s) => {
      const kind = s.kind || s.mediaType;
      if (s.type === 'inbound-rtp') {
        const m = kind === 'audio' ? out.audioIn : kind === 'video' ? out.videoIn : null;
        if (!m) return;
        m.packetsReceived += s.packetsReceived || 0;
        m.packetsLost += s.packetsLost || 0;
        m.bytesReceived += s.bytesReceived || 0;
        if (!m.codec) m.codec = codecOf(s);
        if (kind === 'audio') {
          if (typeof s.jitter === 'number') m.jitter = Math.max(m.jitter, Math.round(s.jitter * 10000) / 10);
        } else {
          m.framesDecoded += s.framesDecoded || 0;
          m.frameWidth = Math.max(m.frameWidth, s.frameWidth || 0);
          m.frameHeight = Math.max(m.frameHeight, s.frameHeight || 0);
        }
      } else if (s.type === 'outbound-rtp') {
        const m = kind === 'audio' ? out.audioOut : kind === 'video' ? out.videoOut : null;
        if (!m) return;
        m.packetsSent += s.packetsSent || 0;
        m.bytesSent += s.bytesSent || 0;
        if (!m.codec) m.codec = codecOf(s);
        if (kind === 'video') {
          m.framesEncoded += s.framesEncoded || 0;
          m.frameWidth = Math.max(m.frameWidth, s.frameWidth || 0);
          m.frameHeight = Math.max(m.frameHeight, s.frameHeight || 0);
        }
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        if (typeof s.currentRoundTripTime === 'number') out.roundTripTime = s.currentRoundTripTime;
      }
    });
    this._lastStats = out;
    return out;
  }

  // ---- internals ------------------------------------------------------------

  _createPeerConnection() {
    const pc = new RTCPeerConnection({
      iceServers: this._client.iceServers || [],
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    this.pc = pc;
    pc.addEventListener('track', (ev) => {
      if (this._ended) return;
      if (!this.remoteStream.getTracks().includes(ev.track)) this.remoteStream.addTrack(ev.track);
      this.dispatchEvent(new CustomEvent('track', { detail: { track: ev.track, streams: ev.streams, transceiver: ev.transceiver } }));
    });
    // Data channels the hub opens (interpreter mode: one receive-only T.140
    // channel per other source, labelled "<from>/<leg>").
    pc.addEventListener('datachannel', (ev) => {
      if (this._ended) return;
      this.dataChannels.push(ev.channel);
      this.dispatchEvent(new CustomEvent('datachannel', { detail: { channel: ev.channel } }));
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this._ended || pc !== this.pc) return;
      const state = pc.connectionState;
      this.dispatchEvent(new CustomEvent('connection', { detail: { state } }));
      if (state === 'connected') {
        clearTimeout(this._restartTimer);
        this._restartTimer = null;
        return;
      }
      if (state === 'disconnected' && this._confirmed && !this._restartTimer) {
        // The path is gone (a network change?): give it two seconds to come
        // back, then restart ICE on the same connection.
        this._restartTimer = setTimeout(() => {
          this._restartTimer = null;
          if (!this._ended && pc === this.pc && pc.connectionState !== 'connected') {
            this.restartIce().catch((err) => console.warn('session.js: ICE restart failed', messageOf(err)));
          }
        }, 2000);
        return;
      }
      if (state === 'failed') {
        if (this._confirmed && this._client.connected && !this._restarting && this.restarts < 3 && !this._failedOnce) {
          this._failedOnce = true;
          this.restartIce().catch(() => this._mediaLost());
          return;
        }
        if (!this._restarting) this._mediaLost();
      }
    });
    return pc;
  }

  /**
   * getUserMedia with fallbacks: without a camera the call goes on with audio
   * only (and still receives video); without a microphone it only receives.
   */
  async _acquire({ audio = true, video = false, audioDeviceId, videoDeviceId, facingMode, stream = null, videoConstraints = null, contentHint = '' }) {
    if (stream) {
      this.localStream = stream;
      this._ownsStream = false;
      return stream;
    }
    if (!audio && !video) return null;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw errorWithCode('camera and microphone need a secure page (https)', 'media_error');
    }
    const a = audio ? (audioDeviceId ? { deviceId: { ideal: audioDeviceId } } : true) : false;
    let v = false;
    if (video) {
      v = {};
      if (videoDeviceId) v.deviceId = { ideal: videoDeviceId };
      else if (facingMode) v.facingMode = { ideal: facingMode };
      v.width = { ideal: 1280 };
      v.height = { ideal: 720 };
      // e.g. the interpreter mode's {width, height, frameRate} as `ideal` (never min)
      if (videoConstraints && typeof videoConstraints === 'object') Object.assign(v, videoConstraints);
    }
    let s = null;
    try {
      s = await navigator.mediaDevices.getUserMedia({ audio: a, video: v });
    } catch (err) {
      if (video && audio) {
        try {
          s = await navigator.mediaDevices.getUserMedia({ audio: a, video: false });
          this._emitError('no_camera', `camera unavailable, continuing with audio only: ${messageOf(err)}`);
        } catch (err2) {
          if (this.role === 'customer') throw errorWithCode(messageOf(err2), 'media_error');
        }
      } else if (video && !audio) {
        this._emitError('no_camera', `camera unavailable: ${messageOf(err)}`);
      } else if (this.role === 'customer') {
        throw errorWithCode(messageOf(err), 'media_error');
      }
      if (!s && audio && this.role !== 'customer') {
        // An agent or a viewer without devices can still receive.
        this._emitError('no_microphone', `no local media, receiving only: ${messageOf(err)}`);
      }
    }
    this.localStream = s;
    this._ownsStream = true;
    if (s && this._ended) {
      this._stopLocal();
      return null;
    }
    if (s) {
      for (const t of s.getAudioTracks()) t.enabled = !this.muted;
      if (contentHint) for (const t of s.getVideoTracks()) { try { t.contentHint = contentHint; } catch { /* unsupported */ } }
      this.dispatchEvent(new CustomEvent('localstream', { detail: { stream: s } }));
    }
    return s;
  }

  // Customer/viewer: offer; the answer arrives as a frame.
  async _offer(type, opts) {
    const viewer = type === 'view';
    const stream = await this._acquire({
      audio: !viewer,
      video: viewer ? opts.video !== false : !!opts.video,
      audioDeviceId: opts.audioDeviceId,
      videoDeviceId: opts.videoDeviceId,
      facingMode: opts.facingMode,
      stream: opts.stream || null,
      videoConstraints: opts.videoConstraints,
      contentHint: opts.contentHint,
    });
    if (this._ended) throw errorWithCode(this.reason || 'call ended', 'ended');
    this._videoSend = opts.videoSend || null;
    const pc = this._createPeerConnection();
    const streams = stream ? [stream] : [];
    const at = !viewer && stream ? stream.getAudioTracks()[0] : null;
    const vt = stream && (viewer || opts.video) ? stream.getVideoTracks()[0] : null;
    // One audio m-line first (the hub requires it; a viewer only receives on
    // it and plays nothing), then video: sendrecv with a camera, else recvonly
    // so that the other side's video can be shown.
    pc.addTransceiver(at || 'audio', { direction: at ? 'sendrecv' : 'recvonly', streams });
    const vtr = pc.addTransceiver(vt || 'video', { direction: vt ? 'sendrecv' : 'recvonly', streams });
    this.video = !!vt || this.video;
    if (opts.videoCodecs) preferCodecs(vtr, opts.videoCodecs);
    // Real-time text (interpreter mode): the page's own T.140 channel exists
    // before the offer, so the offer has its m=application section (RFC 8865).
    if (opts.t140) this.t140 = pc.createDataChannel('t140', { protocol: 't140', ordered: true });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await gatheringDone(pc, this._client.gatherTimeout);
    if (this._ended) throw errorWithCode(this.reason || 'call ended', 'ended');
    const msg = { type, sdp: pc.localDescription.sdp };
    if (!viewer) {
      if (opts.name) msg.name = String(opts.name);
      if (opts.context && typeof opts.context === 'object') {
        const ctx = {};
        for (const [k, v] of Object.entries(opts.context)) if (v != null) ctx[k] = String(v);
        msg.context = ctx;
      }
      // language: null leaves it to the hub (the interpreter mode's default is the sign language's spoken one)
      if (opts.language !== null) msg.language = opts.language || (typeof navigator !== 'undefined' && navigator.language) || undefined;
      if (opts.video) msg.video = true;
      // Extra fields of the entry point's mode (interpreter: sign_language, to).
      if (opts.fields && typeof opts.fields === 'object') {
        for (const [k, v] of Object.entries(opts.fields)) if (v !== undefined && v !== null && v !== '' && !(k in msg)) msg[k] = v;
      }
    }
    const answered = new Promise((resolve, reject) => { this._answerWaiter = { resolve, reject }; });
    if (!this._client.send(msg)) {
      this._answerWaiter = null;
      this._end(503, 'Not connected to the hub');
      throw errorWithCode('not connected to the hub', 'not_connected');
    }
    this._setState('signalling');
    await answered;
    return this;
  }

  // Server `answer` for our start/view offer.
  async _onAnswer(msg) {
    if (this._ended || !this.pc || this._confirmed) return;
    if (msg.leg) this.leg = msg.leg;
    if (msg.session) this.session = msg.session;
    const waiter = this._answerWaiter;
    this._answerWaiter = null;
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      this._confirmed = true;
      this._setState('connected');
      if (this._videoSend) this.tuneVideoSender(this._videoSend);
      if (waiter) waiter.resolve(this);
    } catch (err) {
      const e = errorWithCode(`the hub's answer was not usable: ${messageOf(err)}`, 'bad_answer');
      this._fail(e);
      if (waiter) waiter.reject(e);
    }
  }

  // Agent: answer the hub's offer.
  async _answer(opts) {
    const offerSdp = this.offer && this.offer.sdp;
    if (!offerSdp) throw errorWithCode('the offer has no SDP', 'bad_request');
    const offerVideo = sdpHasMedia(offerSdp, 'video');
    const wantVideo = offerVideo && opts.video !== false;
    const pc = this._createPeerConnection();
    await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    if (this._ended) throw errorWithCode(this.reason || 'offer withdrawn', 'ended');
    const stream = await this._acquire({
      audio: sdpHasMedia(offerSdp, 'audio'),
      video: wantVideo,
      audioDeviceId: opts.audioDeviceId,
      videoDeviceId: opts.videoDeviceId,
      facingMode: opts.facingMode,
      stream: opts.stream || null,
      videoConstraints: opts.videoConstraints,
      contentHint: opts.contentHint,
    });
    if (this._ended) throw errorWithCode(this.reason || 'offer withdrawn', 'ended');
    const tracks = stream ? stream.getTracks() : [];
    for (const t of pc.getTransceivers()) {
      const kind = t.receiver.track && t.receiver.track.kind;
      const track = tracks.find((tr) => tr.kind === kind && (kind !== 'video' || wantVideo));
      if (track) {
        await t.sender.replaceTrack(track);
        if (t.sender.setStreams) t.sender.setStreams(stream);
        t.direction = 'sendrecv';
      } else {
        t.direction = 'recvonly';
      }
    }
    this.video = offerVideo;
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    // Real-time text (interpreter mode): the console opens its own T.140
    // channel once it has answered an offer with an m=application section.
    if (opts.t140 && sdpHasMedia(offerSdp, 'application')) this.t140 = pc.createDataChannel('t140', { protocol: 't140', ordered: true });
    await gatheringDone(pc, this._client.gatherTimeout);
    if (this._ended) throw errorWithCode(this.reason || 'offer withdrawn', 'ended');
    if (!this._client.send({ type: 'accept', leg: this.leg, sdp: pc.localDescription.sdp })) {
      this._end(503, 'Not connected to the hub');
      throw errorWithCode('not connected to the hub', 'not_connected');
    }
    this._setState('connected');
    if (opts.videoSend) this.tuneVideoSender(opts.videoSend);
    return this;
  }

  _onSession(msg) {
    this.info = msg;
    if (!this.session && msg.session) this.session = msg.session;
    this.held = !!msg.held;
    if (['active', 'held', 'transferring'].includes(msg.state)) this._confirmed = true;
  }

  _setState(state) {
    if (this._ended || this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, code: null, reason: null } }));
  }

  /**
   * Restart ICE on this call's connection, as after a network change (new
   * Wi-Fi, Wi-Fi to mobile data): a new offer with new ICE credentials goes
   * to the hub, which answers on the same connection; tracks, codecs and the
   * session stay. Done automatically when the connection is lost for two
   * seconds; resolves when the new answer is applied.
   */
  restartIce() {
    if (this._restarting) return this._restarting;
    this._restarting = this._doRestart().finally(() => { this._restarting = null; });
    return this._restarting;
  }

  async _doRestart() {
    const pc = this.pc;
    if (this._ended || !pc || !this._confirmed || !this.leg) throw errorWithCode('no connected call to restart', 'bad_state');
    if (!this._client.connected) throw errorWithCode('not connected to the hub', 'not_connected');
    this.dispatchEvent(new CustomEvent('restart', { detail: { state: 'restarting' } }));
    try {
      const offer = await pc.createOffer({ iceRestart: true });
      await pc.setLocalDescription(offer);
      await gatheringDone(pc, this._client.gatherTimeout);
      const answered = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(errorWithCode('the hub did not answer the ICE restart', 'timeout')), 10000);
        this._restartWaiter = {
          resolve: (m) => { clearTimeout(timer); resolve(m); },
          reject: (e) => { clearTimeout(timer); reject(e); },
        };
      });
      const msg = { type: 'restart', leg: this.leg, sdp: pc.localDescription.sdp };
      if (this.session) msg.session = this.session;
      if (!this._client.send(msg)) throw errorWithCode('not connected to the hub', 'not_connected');
      const ans = await answered;
      if (this._ended || pc !== this.pc) return this;
      await pc.setRemoteDescription({ type: 'answer', sdp: ans.sdp });
      this.restarts++;
      this.dispatchEvent(new CustomEvent('restart', { detail: { state: 'restarted', restarts: this.restarts } }));
      return this;
    } catch (err) {
      this._restartWaiter = null;
      if (!this._ended && pc.signalingState === 'have-local-offer') {
        try { await pc.setLocalDescription({ type: 'rollback' }); } catch { /* ignore */ }
      }
      this.dispatchEvent(new CustomEvent('restart', { detail: { state: 'failed', reason: messageOf(err) } }));
      throw err;
    }
  }

  // Server `restarted` (or an error) for our restart offer.
  _onRestarted(msg) {
    const w = this._restartWaiter;
    this._restartWaiter = null;
    if (w) w.resolve(msg);
  }

  _emitError(code, message) {
    if (this._restartWaiter && (code === 'bad_request' || code === 'not_found')) {
      const w = this._restartWaiter;
      this._restartWaiter = null;
      w.reject(errorWithCode(message || code, code));
    }
    const detail = { code, message, leg: this.leg, session: this.session };
    this.dispatchEvent(new CustomEvent('error', { detail }));
  }

  _fail(err) {
    if (this._ended) return;
    const code = (err && err.code) || 'media_error';
    const message = messageOf(err);
    this._emitError(code, message);
    if (this.state !== 'new' || (this.role === 'agent' && this.leg)) {
      if (this.role === 'agent' && !this._confirmed && this.state !== 'connected') this._client.send({ type: 'decline', leg: this.leg });
      else this._client.send({ type: 'hangup', session: this.session || undefined, leg: this.leg || undefined });
    }
    this._end(code === 'media_error' ? 488 : ERROR_STATUS[code] || 500, message);
  }

  // The media connection failed and restarting ICE did not bring it back.
  // Agents and viewers leave the session; a customer only drops the leg:
  // the hub keeps the session for sessions.resume_grace and the page comes
  // back with its resume token.
  _mediaLost() {
    if (this._ended) return;
    this._emitError('ice_failed', 'the media connection to the hub failed (ICE/DTLS)');
    if (this.role !== 'customer') {
      const msg = { type: 'hangup' };
      if (this.session) msg.session = this.session;
      if (this.leg) msg.leg = this.leg;
      this._client.send(msg);
    }
    this._end(503, 'Media connection lost');
  }

  _stopLocal() {
    if (this.localStream && this._ownsStream) for (const t of this.localStream.getTracks()) t.stop();
  }

  _end(code, reason) {
    if (this._ended) return;
    this._ended = true;
    clearTimeout(this._restartTimer);
    this._restartTimer = null;
    if (this._restartWaiter) {
      this._restartWaiter.reject(errorWithCode(reason || 'call ended', 'ended'));
      this._restartWaiter = null;
    }
    this.endedAt = new Date();
    this.code = code;
    this.reason = reason;
    this.state = 'ended';
    this._stopLocal();
    if (this.pc) {
      try { this.pc.close(); } catch { /* ignore */ }
    }
    for (const t of this.remoteStream.getTracks()) t.stop();
    if (this._answerWaiter) {
      this._answerWaiter.reject(errorWithCode(reason || 'call ended', 'ended', { status: code }));
      this._answerWaiter = null;
    }
    this._client._forget(this);
    const detail = { state: 'ended', code, reason };
    this.dispatchEvent(new CustomEvent('state', { detail }));
    this._resolveClosed({ code, reason });
  }
}

/**
 * The session connection of one customer, agent or viewer: one WebSocket,
 * any number of legs (in practice one at a time).
 */
export class SessionClient extends EventTarget {
  /**
   * @param {object} [opts]
   * @param {string} [opts.server]  Hub URL (http(s) or ws(s)); default this page's origin.
   * @param {string} [opts.entry]   Public entry point (anonymous customers).
   * @param {string} [opts.token]   Token (agent, viewer, or customer with a join token).
   * @param {RTCIceServer[]} [opts.iceServers]  Overrides hello.ice_servers.
   * @param {number} [opts.gatherTimeout=2000]  Max ms of ICE gathering before sending SDP.
   * @param {number} [opts.pingInterval=25000]  Keep-alive period (0: off).
   * @param {number} [opts.helloTimeout=10000]  connect() fails after this.
   */
  constructor({ server, entry, token, iceServers = null, gatherTimeout = 2000, pingInterval = 25000, helloTimeout = 10000 } = {}) {
    super();
    this.server = httpOrigin(server);
    this.entry = entry || null;
    this.token = token || null;
    this.gatherTimeout = gatherTimeout;
    this.pingInterval = pingInterval;
    this.helloTimeout = helloTimeout;
    this._iceOverride = iceServers;
    this.iceServers = iceServers || [];
    /** The hello frame, and what it says. */
    this.hello = null;
    this.role = null;
    this.identity = null;
    /** Latest `agent` frame (agents), or hello.agent. */
    this.agent = null;
    /** Live calls by leg id (plus one pending start/view until its answer). */
    this.calls = new Map();
    /** The most recent call (live or ended). */
    this.call = null;
    /** Pending offers (agents) by leg id. */
    this.offers = new Map();
    /** Latest `session` frame by session id. */
    this.sessions = new Map();
    /** Last `ended` frame. */
    this.lastEnded = null;
    this.ws = null;
    this.connected = false;
    this.closeInfo = null;
    this._pending = null; // customer/viewer call waiting for its `answer`
    this._pingTimer = null;
    this._connecting = null;
    /** Sockets for one call each, opened on `remote_offer` (agents) or `remote_incoming` (deaf users), by session id. */
    this._sessionSockets = new Map();
    /** Leg id → session id of the frames that came on those sockets. */
    this._legSession = new Map();
  }

  /** The agent's ACD state ('logged_out', 'not_ready', 'ready', 'ringing', 'busy', 'wrap_up') or null. */
  get agentState() { return this.agent ? this.agent.state || null : null; }

  /** WebSocket URL: /v1/sessions/ws?entry=… or ?token=… */
  get wsUrl() {
    const u = new URL('/v1/sessions/ws', this.server);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.token) u.searchParams.set('token', this.token);
    else if (this.entry) u.searchParams.set('entry', this.entry);
    return u.toString();
  }

  /** Open the socket; resolves with the hello frame, rejects with a readable Error (.code, .status). */
  connect() {
    if (this.connected) return Promise.resolve(this.hello);
    if (this._connecting) return this._connecting;
    const p = new Promise((resolve, reject) => {
      let settled = false;
      let ws;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        this._connecting = null;
        reject(err);
      };
      if (!this.token && !this.entry) {
        fail(errorWithCode('an entry point or a token is required', 'bad_request'));
        return;
      }
      try {
        ws = new WebSocket(this.wsUrl);
      } catch (err) {
        fail(errorWithCode(`cannot open a connection to the hub: ${messageOf(err)}`, 'connection_failed'));
        return;
      }
      this.ws = ws;
      const timer = setTimeout(() => {
        if (settled) return;
        fail(errorWithCode('the hub did not answer in time', 'timeout'));
        try { ws.close(4000, 'hello timeout'); } catch { /* ignore */ }
      }, this.helloTimeout);
      ws.addEventListener('message', (ev) => {
        if (ws !== this.ws) return;
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          this._emit('error', { type: 'error', code: 'bad_message', message: 'the hub sent malformed JSON' });
          return;
        }
        if (!msg || typeof msg !== 'object') return;
        if (msg.type === 'hello' && !settled) {
          settled = true;
          clearTimeout(timer);
          this._onHello(msg);
          resolve(msg);
          this._emit('hello', msg);
          this._emit('message', msg);
          return;
        }
        this._onMessage(msg);
      });
      ws.addEventListener('close', (ev) => {
        clearTimeout(timer);
        if (ws !== this.ws) return;
        const wasConnected = this.connected;
        this._onClose(ev.code, ev.reason);
        if (!settled && !wasConnected) {
          // Browsers hide the HTTP status of a refused upgrade: ask the same
          // URL over plain HTTP for the hub's JSON error.
          this._probe().then((info) => {
            const why = info ? info.message : `the connection to the hub closed (code ${ev.code})`;
            fail(errorWithCode(`Cannot connect: ${why}`, info ? info.code : 'connection_failed', { status: info ? info.status : 0, closeCode: ev.code }));
          });
        }
      });
      ws.addEventListener('error', () => { /* no details in browsers; close follows */ });
    });
    this._connecting = p;
    return p;
  }

  /** Close the socket (ending every call). */
  close(code = 1000, reason = 'client closed') {
    for (const call of [...this.calls.values()]) call.hangup();
    if (this._pending) this._pending.hangup();
    for (const ws of this._sessionSockets.values()) {
      try { ws.close(code, reason); } catch { /* ignore */ }
    }
    if (this.ws) {
      try { this.ws.close(code, reason); } catch { /* ignore */ }
    }
  }

  // An agent's call waits on another hub node (the session's): open a
  // socket for that session with the same token (this node relays it there);
  // its frames are this client's, and frames about its call go back on it.
  // It closes when the session ends.
  _openSessionSocket(session) {
    if (!session || this._sessionSockets.has(session) || !this.token) return;
    const u = new URL(this.wsUrl);
    u.searchParams.set('session', session);
    let ws;
    try {
      ws = new WebSocket(u.toString());
    } catch (err) {
      this._emit('error', { type: 'error', code: 'connection_failed', session, message: `cannot open the call's connection: ${messageOf(err)}` });
      return;
    }
    this._sessionSockets.set(session, ws);
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== 'object' || msg.type === 'hello') return;
      if (msg.leg && msg.session === session) this._legSession.set(msg.leg, session);
      this._onMessage(msg);
    });
    ws.addEventListener('close', () => {
      if (this._sessionSockets.get(session) === ws) this._sessionSockets.delete(session);
      for (const [leg, sid] of [...this._legSession]) {
        if (sid !== session) continue;
        this._legSession.delete(leg);
        this.offers.delete(leg);
        const call = this.calls.get(leg);
        if (call) call._end(503, 'Connection to the hub closed');
      }
    });
  }

  /**
   * Send a frame; false if the socket is not open. A frame about a call
   * that came on its own session socket (a remote_offer) goes there.
   */
  send(msg) {
    const sid = (msg && (msg.session || (msg.leg && this._legSession.get(msg.leg)))) || null;
    const ws = (sid && this._sessionSockets.get(sid)) || this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  // ---- customer -----------------------------------------------------------

  /**
   * Customer: create a session at the entry point (or join the token's).
   * Options: {video, name, context, language, audioDeviceId, videoDeviceId,
   * facingMode, stream}. The SessionCall exists at once (client.call, the
   * `call` event); the promise resolves with it once the hub's answer is
   * applied, and rejects (the call ended) on failure.
   */
  startCall(opts = {}) { return this._startOffer('start', 'customer', opts); }

  /** Viewer: join the token's session as an agent view (customer's video, own camera). Options: {video = true, videoDeviceId, facingMode}. */
  view(opts = {}) { return this._startOffer('view', 'viewer', opts); }

  async _startOffer(type, role, opts) {
    if (!this.connected) throw errorWithCode('not connected to the hub', 'not_connected');
    if (this._pending) throw errorWithCode('a call is already being set up', 'conflict');
    const call = new SessionCall(this, { role, video: type === 'view' ? opts.video !== false : !!opts.video });
    this._pending = call;
    this.call = call;
    this._emit('call', call);
    try {
      await call._offer(type, opts);
      return call;
    } catch (err) {
      call._fail(err);
      throw err;
    } finally {
      if (this._pending === call) this._pending = null;
    }
  }

  /** Customer: send DTMF digits toward the ACD (IVR menus). */
  dtmf(digits) { return this.send({ type: 'dtmf', digits: String(digits) }); }

  // ---- agent ----------------------------------------------------------------

  /** Log in to the built-in ACD (state not_ready). `queues` optional. */
  login(queues) {
    const msg = { type: 'login' };
    if (Array.isArray(queues) && queues.length) msg.queues = queues;
    const vc = videoCodecs();
    if (vc.length) msg.video_codecs = vc; // what this browser both encodes and decodes (the interpreter mode's H.264 choice)
    return this.send(msg);
  }

  /** Ready / not ready; ready(true) during wrap-up ends it. */
  ready(ready = true) { return this.send({ type: 'ready', ready: !!ready }); }

  logout() { return this.send({ type: 'logout' }); }

  /**
   * Take an offered session: `leg` (default: the latest offer), options
   * {video (default: as offered), audioDeviceId, videoDeviceId, stream}.
   * Resolves with the SessionCall once `accept` is sent.
   */
  async accept(leg, opts = {}) {
    if (leg && typeof leg === 'object') leg = leg.leg;
    if (!leg) leg = [...this.offers.keys()].pop();
    const offer = leg && this.offers.get(leg);
    if (!offer) throw errorWithCode('no such offer (it may have been withdrawn)', 'not_found');
    if (this.calls.has(leg)) throw errorWithCode('this offer is already being accepted', 'conflict');
    this.offers.delete(leg);
    const call = new SessionCall(this, { role: 'agent', leg, session: offer.session || null, video: !!offer.video, offer });
    this.calls.set(leg, call);
    this.call = call;
    this._emit('call', call);
    try {
      return await call._answer(opts);
    } catch (err) {
      call._fail(err);
      throw err;
    }
  }

  /** Refuse an offer (the agent becomes not_ready). */
  decline(leg) {
    if (leg && typeof leg === 'object') leg = leg.leg;
    if (!leg) leg = [...this.offers.keys()].pop();
    if (!leg) return false;
    this.offers.delete(leg);
    const call = this.calls.get(leg);
    if (call && !call._confirmed) call._end(603, 'Declined');
    return this.send({ type: 'decline', leg });
  }

  /** Hold / resume the customer. */
  hold(hold = true, session) {
    session = session || this._currentSession();
    if (!session) return false;
    return this.send({ type: 'hold', session, hold: !!hold });
  }

  /** Mute / unmute this client's voice (and disable the local audio track). */
  mute(mute = true) {
    const call = this._liveCall();
    if (call) return call.mute(mute);
    return this.send({ type: 'mute', mute: !!mute });
  }

  /** Move the session: `queue:<name>`, `agent:<id>`, or a SIP URI/number. */
  transfer(to, session) {
    session = session || this._currentSession();
    if (!session || !to) return false;
    return this.send({ type: 'transfer', session, to: String(to).trim() });
  }

  /** Leave the current (or given) session; ends the local call. */
  hangup(session) {
    const call = session ? [...this.calls.values()].find((c) => c.session === session) : this._liveCall();
    if (call) {
      call.hangup();
      return true;
    }
    session = session || this._currentSession();
    return this.send(session ? { type: 'hangup', session } : { type: 'hangup' });
  }

  // ---- internals --------------------------------------------------------------

  _liveCall() {
    if (this.call && this.call.live) return this.call;
    for (const c of this.calls.values()) if (c.live) return c;
    return this._pending;
  }

  _currentSession() {
    const c = this._liveCall();
    return (c && c.session) || (this.call && this.call.session) || null;
  }

  _emit(type, detail) {
    try {
      this.dispatchEvent(new CustomEvent(type, { detail }));
    } catch (err) {
      console.error('session.js: event handler failed', err);
    }
  }

  _forget(call) {
    if (call.leg && this.calls.get(call.leg) === call) this.calls.delete(call.leg);
    if (this._pending === call) this._pending = null;
  }

  async _probe() {
    const u = new URL(this.wsUrl);
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    const ctrl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    const timer = setTimeout(() => ctrl && ctrl.abort(), 3000);
    try {
      const res = await fetch(u.toString(), { cache: 'no-store', credentials: 'omit', signal: ctrl ? ctrl.signal : undefined });
      let body = null;
      try { body = await res.json(); } catch { /* not JSON */ }
      const e = body && body.error;
      const base = res.status === 404 && this.token ? 'not found' : READABLE_HTTP[res.status] || `HTTP ${res.status}`;
      if (e && (e.code || e.message)) {
        const message = e.message && e.message !== base ? `${base} (${e.message})` : base;
        return { status: res.status, code: e.code || `http_${res.status}`, message };
      }
      if (READABLE_HTTP[res.status] && res.status !== 400) {
        return { status: res.status, code: res.status === 401 ? 'unauthorized' : res.status === 404 ? 'not_found' : `http_${res.status}`, message: base };
      }
      return null;
    } catch {
      return { status: 0, code: 'connection_failed', message: 'the hub cannot be reached' };
    } finally {
      clearTimeout(timer);
    }
  }

  _onHello(msg) {
    this.hello = msg;
    this.role = msg.role || null;
    this.identity = msg.identity || null;
    if (msg.agent && typeof msg.agent === 'object') this.agent = msg.agent;
    if (!this._iceOverride && Array.isArray(msg.ice_servers)) this.iceServers = msg.ice_servers;
    this.connected = true;
    this.closeInfo = null;
    if (this.pingInterval > 0) {
      clearInterval(this._pingTimer);
      this._pingTimer = setInterval(() => {
        this.send({ type: 'ping' });
        for (const ws of this._sessionSockets.values()) {
          if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ping' }));
        }
      }, this.pingInterval);
    }
  }

  // The live call a frame is about: by leg when the frame names one we know,
  // else by session (only calls whose leg is not known yet when it names a leg).
  _callFor(msg) {
    if (msg.leg && this.calls.has(msg.leg)) return this.calls.get(msg.leg);
    if (msg.session) {
      for (const c of this.calls.values()) if (c.session === msg.session && (!msg.leg || !c.leg)) return c;
      if (this._pending && this._pending.session === msg.session) return this._pending;
    }
    return null;
  }

  _onMessage(msg) {
    try {
      this._route(msg);
    } catch (err) {
      console.error('session.js: cannot handle frame', msg.type, err);
    }
    if (typeof msg.type === 'string' && msg.type && msg.type !== 'message' && msg.type !== 'call' && msg.type !== 'close') {
      this._emit(msg.type, msg);
    }
    this._emit('message', msg);
  }

  _route(msg) {
    switch (msg.type) {
      case 'answer': {
        const call = this._pending;
        if (!call) return;
        this._pending = null;
        if (msg.leg) {
          call.leg = msg.leg;
          this.calls.set(msg.leg, call);
        }
        if (msg.session) call.session = msg.session;
        const s = msg.session && this.sessions.get(msg.session);
        if (s) call._onSession(s);
        call._onAnswer(msg);
        break;
      }
      case 'offer':
        if (msg.leg) this.offers.set(msg.leg, msg);
        break;
      case 'remote_offer': // an agent's call waits on another hub node
      case 'remote_incoming': // a registered deaf user's call rings on another hub node
        this._openSessionSocket(msg.session);
        break;
      case 'restarted': {
        const call = msg.leg && this.calls.get(msg.leg);
        if (call) call._onRestarted(msg);
        break;
      }
      case 'cancel': {
        if (msg.leg) this.offers.delete(msg.leg);
        const call = msg.leg && this.calls.get(msg.leg);
        if (call && !call._confirmed) call._end(487, msg.reason || 'Offer withdrawn');
        break;
      }
      case 'session': {
        if (msg.session) this.sessions.set(msg.session, msg);
        // The session frame can precede the answer: remember it for the pending call.
        const call = this._callFor(msg) || (this._pending && !this._pending.session ? this._pending : null);
        if (call) call._onSession(msg);
        break;
      }
      case 'agent': {
        this.agent = msg;
        const call = msg.session && this._callFor({ session: msg.session });
        if (call && msg.state === 'busy') call._confirmed = true;
        break;
      }
      case 'ended': {
        this.lastEnded = msg;
        if (msg.leg) this.offers.delete(msg.leg);
        let call = this._callFor(msg);
        if (!call && !msg.leg && !msg.session) call = this._liveCall();
        if (!call && this._pending && (!msg.session || !this._pending.session)) call = this._pending;
        if (call) call._end(msg.code == null ? 200 : msg.code, msg.reason || 'Ended');
        break;
      }
      case 'error': {
        let call = this._callFor(msg);
        // An error while our start/view waits for its answer means it failed.
        if (!call && this._pending && this._pending.state === 'signalling' && !msg.session) call = this._pending;
        if (call) {
          call._emitError(msg.code, msg.message);
          // It ends a call the hub has not taken yet: a start/view without
          // answer, or an accept refused (the error names the offer's leg).
          const refused = call === this._pending || (!call._confirmed && call.role === 'agent' && msg.leg && msg.leg === call.leg);
          if (refused) call._end(ERROR_STATUS[msg.code] || 500, msg.message || msg.code || 'Error');
        }
        break;
      }
      default:
        break;
    }
  }

  _onClose(code, reason) {
    const wasConnected = this.connected;
    this.connected = false;
    this._connecting = null;
    this.closeInfo = { code, reason, wasConnected };
    clearInterval(this._pingTimer);
    this._pingTimer = null;
    this.offers.clear();
    if (this._pending) this._pending._end(503, 'Connection to the hub closed');
    for (const call of [...this.calls.values()]) call._end(503, 'Connection to the hub closed');
    for (const ws of this._sessionSockets.values()) {
      try { ws.close(1000, 'console closed'); } catch { /* ignore */ }
    }
    if (wasConnected) this._emit('close', { code, reason, wasConnected });
  }
}

export default SessionClient;
