// split.js — browser client for the SPLIT SIP<->WebRTC hub.
//
// A dependency-free ES module (no build step). It implements the SPLIT
// browser signalling protocol (docs/signalling.md): one WebSocket per
// identity carrying JSON messages, one RTCPeerConnection per call.
//
//   import { SplitClient } from './split.js';
//   const client = new SplitClient({ token });
//   await client.connect();
//   const call = client.call('1000', { audio: true, video: false });
//   call.addEventListener('state', (e) => console.log(e.detail.state));
//   client.addEventListener('incoming', (e) => e.detail.answer());
//
// SplitClient events:  hello, incoming (detail: Call), close ({code, reason}),
//                      error ({code, message, call}), message (raw message).
// Call events:         state ({state, code, reason}), track ({track, streams}),
//                      dtmf ({digit}), stats (server stats message),
//                      error ({code, message}), localstream ({stream}).

/** Protocol version spoken by this client (WebSocket sub-protocol name). */
export const PROTOCOL = 'split.v1';

/** Call states, in the order a call normally moves through them. */
export const STATES = Object.freeze(['new', 'trying', 'ringing', 'early', 'active', 'held', 'ended']);

const DTMF_RE = /^[0-9A-Da-d*#]+$/;

// Map server error codes to SIP-like numeric codes for synthesized "ended" states.
const ERROR_STATUS = {
  bad_request: 400,
  forbidden: 403,
  not_found: 404,
  internal: 500,
  unavailable: 503,
};

function randomId(prefix) {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += b.toString(36).padStart(2, '0');
  return `${prefix}-${s}`;
}

function defaultWsUrl() {
  if (typeof location === 'undefined') throw new Error('SplitClient: url is required outside a browser page');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/v1/ws`;
}

function wsUrlWithToken(url, token) {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  const u = new URL(url || defaultWsUrl(), base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (token) u.searchParams.set('token', token);
  return u.toString();
}

function httpBase(baseUrl) {
  if (baseUrl) {
    const u = new URL(baseUrl, typeof location !== 'undefined' ? location.href : undefined);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    else if (u.protocol === 'wss:') u.protocol = 'https:';
    return u.origin;
  }
  return location.origin;
}

/**
 * Mint a signalling token with an API key: POST /v1/tokens.
 * Resolves to {token, identity, expires_at}. Rejects with an Error carrying
 * .status and .code on failure.
 *
 * This is meant for trusted pages and tests; in production, mint tokens on
 * your own backend and never ship API keys to browsers.
 */
export async function mintToken({ baseUrl, apiKey, identity, ttl = '1h' } = {}) {
  const res = await fetch(`${httpBase(baseUrl)}/v1/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ identity, ttl }),
  });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((body && body.error && body.error.message) || `POST /v1/tokens failed: HTTP ${res.status}`);
    err.status = res.status;
    err.code = (body && body.error && body.error.code) || 'http_error';
    throw err;
  }
  return body;
}

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
    const check = () => { if (pc.iceGatheringState === 'complete') finish(); };
    const timer = setTimeout(finish, timeout);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

function codecName(mimeType) {
  if (!mimeType) return null;
  const i = mimeType.indexOf('/');
  return i >= 0 ? mimeType.slice(i + 1) : mimeType;
}

function sdpHasMedia(sdp, kind) {
  return new RegExp(`^m=${kind} [1-9]`, 'm').test(sdp || '');
}

/**
 * One call (outgoing or incoming). Created by SplitClient.call() or delivered
 * by the SplitClient "incoming" event; never constructed directly.
 */
export class Call extends EventTarget {
  constructor(client, { id, direction, to = null, from = null, displayName = null, video = false, offer = null, headers = null }) {
    super();
    /** Call id shared with the server. */
    this.id = id;
    /** 'outgoing' | 'incoming' */
    this.direction = direction;
    /** Remote party: dialled target (outgoing) or caller URI (incoming). */
    this.to = to;
    this.from = from;
    this.displayName = displayName;
    /** Whether the call carries (or was offered) video. */
    this.video = !!video;
    /** Extra SIP headers sent with an outgoing offer. */
    this.headers = headers;
    /** Current state: new|trying|ringing|early|active|held|ended. */
    this.state = direction === 'incoming' ? 'ringing' : 'new';
    /** Last {state, code, reason} seen. */
    this.code = direction === 'incoming' ? 180 : null;
    this.reason = direction === 'incoming' ? 'Ringing' : null;
    /** The RTCPeerConnection (null until media setup starts). */
    this.pc = null;
    /** MediaStream holding every remote track (audio and video). */
    this.remoteStream = new MediaStream();
    /** MediaStream being sent (null until acquired). */
    this.localStream = null;
    /** Last `stats` message received from the server (SIP-side RTP stats). */
    this.sipStats = null;
    /** Date the call reached "active" for the first time. */
    this.connectedAt = null;
    this.endedAt = null;

    this._client = client;
    this._offerSdp = offer; // remote offer for incoming calls
    this._ownsStream = false; // stop local tracks on teardown only if we acquired them
    this._sentSdp = false; // offer/answer sent to the server
    this._remoteSdp = false; // answer (or offer) applied to the pc
    this._pendingCandidates = []; // remote candidates received before the remote description
    this._trickleDone = false; // end-of-candidates sent (or nothing left to trickle)
    this._answered = false;
    this._ended = false;
    this._endedPromise = new Promise((resolve) => { this._resolveEnded = resolve; });
  }

  /** Resolves with {state, code, reason} when the call ends. */
  get ended() { return this._endedPromise; }

  /** True while the call has not ended. */
  get live() { return !this._ended; }

  // ---- public API ---------------------------------------------------------

  /**
   * Accept an incoming call. Options: {stream, audio = true, video = <offered>}.
   * If no stream is given, getUserMedia is called for the requested kinds.
   * Resolves once the answer has been sent.
   */
  async answer({ stream = null, audio = true, video = undefined } = {}) {
    if (this.direction !== 'incoming') throw new Error('answer() is only valid for incoming calls');
    if (this._ended) throw new Error(`call ${this.id} has ended`);
    if (this._answered) throw new Error(`call ${this.id} already answered`);
    this._answered = true;
    const offerHasVideo = sdpHasMedia(this._offerSdp, 'video');
    const wantVideo = video === undefined ? offerHasVideo : !!video && offerHasVideo;
    const wantAudio = !!audio && sdpHasMedia(this._offerSdp, 'audio');
    try {
      await this._acquireMedia(stream, wantAudio, wantVideo);
      if (this._ended) return;
      const pc = this._createPeerConnection();
      await pc.setRemoteDescription({ type: 'offer', sdp: this._offerSdp });
      this._remoteSdp = true;
      await this._flushCandidates();
      const tracks = this.localStream ? this.localStream.getTracks() : [];
      for (const t of pc.getTransceivers()) {
        const kind = t.receiver.track && t.receiver.track.kind;
        const track = tracks.find((tr) => tr.kind === kind && (kind !== 'video' || wantVideo));
        if (track) {
          await t.sender.replaceTrack(track);
          if (this.localStream) t.sender.setStreams(this.localStream);
          t.direction = 'sendrecv';
        } else {
          t.direction = 'recvonly';
        }
      }
      this.video = wantVideo || offerHasVideo;
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await gatheringDone(pc, this._client.gatherTimeout);
      if (this._ended) return;
      this._sendSdp('answer');
    } catch (err) {
      this._fail('media_error', err);
      throw err;
    }
  }

  /** Decline an incoming call (default 486 Busy Here). */
  reject(code = 486) {
    if (this.direction !== 'incoming') throw new Error('reject() is only valid for incoming calls');
    if (this._ended) return;
    this._client._send({ type: 'reject', call: this.id, code });
    this._end(code, code === 486 ? 'Busy Here' : code === 603 ? 'Decline' : 'Rejected');
  }

  /** Hang up (or cancel, or decline) the call. Safe to call more than once. */
  hangup() {
    if (this._ended) return;
    if (this.direction === 'incoming' && !this._answered) {
      this.reject(603);
      return;
    }
    if (this._sentSdp || this.direction === 'incoming') {
      this._client._send({ type: 'hangup', call: this.id });
    }
    this._end(200, 'Local hangup');
  }

  /** Send DTMF digits (0-9, *, #, A-D) as RFC 4733 events on the SIP leg. */
  sendDTMF(digits) {
    digits = String(digits);
    if (!DTMF_RE.test(digits)) throw new TypeError(`invalid DTMF digits: ${JSON.stringify(digits)}`);
    if (this._ended) throw new Error(`call ${this.id} has ended`);
    this._client._send({ type: 'dtmf', call: this.id, digits: digits.toUpperCase() });
  }

  /** Put the SIP side on hold (the server re-INVITEs with a=sendonly). */
  hold() {
    if (this._ended) throw new Error(`call ${this.id} has ended`);
    this._client._send({ type: 'hold', call: this.id });
  }

  /** Take the SIP side off hold. */
  resume() {
    if (this._ended) throw new Error(`call ${this.id} has ended`);
    this._client._send({ type: 'resume', call: this.id });
  }

  /** Mute/unmute local audio and/or video (local only, no signalling). */
  setMuted({ audio, video } = {}) {
    if (!this.localStream) return;
    for (const t of this.localStream.getTracks()) {
      if (t.kind === 'audio' && audio !== undefined) t.enabled = !audio;
      if (t.kind === 'video' && video !== undefined) t.enabled = !video;
    }
  }

  /**
   * A compact summary of the WebRTC statistics plus the last server stats:
   * {
   *   state, iceState, connectionState, roundTripTime (s) | null,
   *   audio: {codec, packetsReceived, packetsSent, packetsLost, jitter (ms),
   *           bytesReceived, bytesSent, audioLevel},
   *   video: {codec, packetsReceived, packetsSent, packetsLost, jitter (ms),
   *           bytesReceived, bytesSent, framesDecoded, framesEncoded,
   *           framesDropped, frameWidth, frameHeight, framesPerSecond},
   *   sip: <last server `stats` message> | null
   * }
   * Missing values are null; counters are 0 until media flows.
   */
  async getStats() {
    const blank = () => ({
      codec: null, packetsReceived: 0, packetsSent: 0, packetsLost: 0, jitter: null,
      bytesReceived: 0, bytesSent: 0,
    });
    const summary = {
      call: this.id,
      state: this.state,
      iceState: this.pc ? this.pc.iceConnectionState : null,
      connectionState: this.pc ? this.pc.connectionState : null,
      roundTripTime: null,
      audio: Object.assign(blank(), { audioLevel: null }),
      video: Object.assign(blank(), {
        framesDecoded: 0, framesEncoded: 0, framesDropped: 0,
        frameWidth: null, frameHeight: null, framesPerSecond: null,
      }),
      sip: this.sipStats,
    };
    if (!this.pc || this.pc.connectionState === 'closed') return summary;
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return summary;
    }
    const codecs = new Map();
    report.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s); });
    const codecOf = (s) => {
      const c = s.codecId && codecs.get(s.codecId);
      return c ? codecName(c.mimeType) : null;
    };
    report.forEach((s) => {
      const kind = s.kind || s.mediaType;
      const m = kind === 'audio' ? summary.audio : kind === 'video' ? summary.video : null;
      if (s.type === 'inbound-rtp' && m) {
        m.codec = codecOf(s) || m.codec;
        m.packetsReceived += s.packetsReceived || 0;
        m.packetsLost += s.packetsLost || 0;
        m.bytesReceived += s.bytesReceived || 0;
        if (typeof s.jitter === 'number') m.jitter = Math.round(s.jitter * 1000 * 10) / 10;
        if (kind === 'video') {
          m.framesDecoded += s.framesDecoded || 0;
          m.framesDropped += s.framesDropped || 0;
          if (s.frameWidth) m.frameWidth = s.frameWidth;
          if (s.frameHeight) m.frameHeight = s.frameHeight;
          if (typeof s.framesPerSecond === 'number') m.framesPerSecond = s.framesPerSecond;
        } else if (typeof s.audioLevel === 'number') {
          m.audioLevel = s.audioLevel;
        }
      } else if (s.type === 'outbound-rtp' && m) {
        if (!m.codec) m.codec = codecOf(s);
        m.packetsSent += s.packetsSent || 0;
        m.bytesSent += s.bytesSent || 0;
        if (kind === 'video') m.framesEncoded += s.framesEncoded || 0;
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        if (typeof s.currentRoundTripTime === 'number') summary.roundTripTime = s.currentRoundTripTime;
      }
    });
    return summary;
  }

  // ---- internals ----------------------------------------------------------

  async _acquireMedia(stream, audio, video) {
    if (stream) {
      this.localStream = stream;
      this._ownsStream = false;
    } else if (audio || video) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new Error('getUserMedia is not available (a secure context — https or localhost — is required)');
      }
      try {
        this.localStream = await navigator.mediaDevices.getUserMedia({ audio, video });
      } catch (err) {
        if (!video || !audio) throw err;
        // No camera (or camera refused): fall back to audio, still receive video.
        this.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
        this._emitError('no_camera', `camera unavailable, sending audio only: ${err.message || err}`);
      }
      this._ownsStream = true;
    }
    if (this._ended) {
      this._stopLocal();
      return;
    }
    if (this.localStream) this.dispatchEvent(new CustomEvent('localstream', { detail: { stream: this.localStream } }));
  }

  _createPeerConnection() {
    const pc = new RTCPeerConnection({
      iceServers: this._client.iceServers || [],
      iceTransportPolicy: this._client.iceTransportPolicy,
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    this.pc = pc;
    pc.addEventListener('track', (ev) => {
      if (!this.remoteStream.getTracks().includes(ev.track)) this.remoteStream.addTrack(ev.track);
      ev.track.addEventListener('ended', () => {
        try { this.remoteStream.removeTrack(ev.track); } catch { /* ignore */ }
      });
      this.dispatchEvent(new CustomEvent('track', { detail: { track: ev.track, streams: ev.streams, transceiver: ev.transceiver } }));
    });
    pc.addEventListener('icecandidate', (ev) => {
      // Candidates gathered before the SDP is sent are embedded in it; later
      // ones are trickled. ev.candidate === null means end-of-candidates.
      if (!this._sentSdp || this._ended || this._trickleDone) return;
      if (!ev.candidate) this._trickleDone = true;
      this._client._send({
        type: 'candidate',
        call: this.id,
        candidate: ev.candidate ? {
          candidate: ev.candidate.candidate,
          sdpMid: ev.candidate.sdpMid,
          sdpMLineIndex: ev.candidate.sdpMLineIndex,
        } : null,
      });
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this._ended) return;
      const cs = pc.connectionState;
      if (cs === 'connected' && this.direction === 'incoming' && this._answered &&
          (this.state === 'ringing' || this.state === 'new')) {
        // The server normally reports "active" itself; this covers the gap.
        this._setState('active', 200, 'OK', true);
      } else if (cs === 'failed') {
        this._emitError('ice_failed', 'media connection failed (ICE/DTLS)');
      }
    });
    return pc;
  }

  async _startOutgoing({ stream, audio, video }) {
    try {
      await this._acquireMedia(stream, audio, video);
      if (this._ended) return;
      const pc = this._createPeerConnection();
      const tracks = this.localStream ? this.localStream.getTracks() : [];
      const streams = this.localStream ? [this.localStream] : [];
      const at = audio ? tracks.find((t) => t.kind === 'audio') : null;
      const vt = video ? tracks.find((t) => t.kind === 'video') : null;
      // Always one audio m-line first; video second if requested.
      pc.addTransceiver(at || 'audio', { direction: at ? 'sendrecv' : 'recvonly', streams });
      if (video) pc.addTransceiver(vt || 'video', { direction: vt ? 'sendrecv' : 'recvonly', streams });
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await gatheringDone(pc, this._client.gatherTimeout);
      if (this._ended) return;
      this._sendSdp('offer');
    } catch (err) {
      this._fail('media_error', err);
    }
  }

  _sendSdp(type) {
    const msg = { type, call: this.id, sdp: this.pc.localDescription.sdp };
    if (type === 'offer') {
      msg.to = this.to;
      if (this.headers && Object.keys(this.headers).length) msg.headers = this.headers;
    }
    // Set synchronously with the send so that every candidate not in this
    // SDP is trickled afterwards.
    this._sentSdp = this._client._send(msg);
    if (!this._sentSdp) {
      this._end(503, 'Signalling connection not open');
      return;
    }
    // If gathering had finished, every candidate is in the SDP and nothing
    // is trickled; otherwise later candidates and the final null follow.
    if (this.pc.iceGatheringState === 'complete') this._trickleDone = true;
    if (type === 'offer' && this.state === 'new') this._setState('trying', 100, 'Trying', true);
  }

  async _flushCandidates() {
    const pending = this._pendingCandidates;
    this._pendingCandidates = [];
    for (const c of pending) await this._addRemoteCandidate(c);
  }

  async _addRemoteCandidate(c) {
    if (!this.pc || !this._remoteSdp) {
      this._pendingCandidates.push(c);
      return;
    }
    try {
      if (c == null) await this.pc.addIceCandidate(); // end-of-candidates
      else await this.pc.addIceCandidate(c);
    } catch (err) {
      this._emitError('bad_candidate', `addIceCandidate failed: ${err.message || err}`);
    }
  }

  // Message from the server addressed to this call.
  async _onMessage(msg) {
    switch (msg.type) {
      case 'answer':
        if (this.direction !== 'outgoing' || !this.pc || this._remoteSdp) return;
        try {
          await this.pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
          this._remoteSdp = true;
          await this._flushCandidates();
        } catch (err) {
          this._fail('bad_answer', err);
        }
        break;
      case 'candidate':
        await this._addRemoteCandidate(msg.candidate);
        break;
      case 'state':
        this._setState(msg.state, msg.code, msg.reason, false);
        break;
      case 'dtmf':
        this.dispatchEvent(new CustomEvent('dtmf', { detail: { digit: msg.digit } }));
        break;
      case 'stats':
        this.sipStats = msg;
        this.dispatchEvent(new CustomEvent('stats', { detail: msg }));
        break;
      case 'error': {
        this._emitError(msg.code, msg.message);
        // An error before the server answered our offer means the call
        // could not be placed: end it.
        if (this.direction === 'outgoing' && !this._remoteSdp && this._sentSdp) {
          this._end(ERROR_STATUS[msg.code] || 500, msg.message || msg.code || 'Error');
        }
        break;
      }
      default:
        break;
    }
  }

  _setState(state, code = null, reason = null, local = false) {
    if (this._ended) return;
    if (state === 'ended') {
      this._end(code == null ? 200 : code, reason || 'Ended');
      return;
    }
    // Drop repeats (e.g. the server's "trying" after the local one).
    if (state === this.state && (local || (code ?? null) === this.code)) return;
    const prev = this.state;
    this.state = state;
    this.code = code == null ? null : code;
    this.reason = reason == null ? null : reason;
    if (state === 'active' && !this.connectedAt) this.connectedAt = new Date();
    this.dispatchEvent(new CustomEvent('state', { detail: { state, code: this.code, reason: this.reason, previous: prev, local } }));
  }

  _emitError(code, message) {
    const detail = { code, message, call: this.id };
    this.dispatchEvent(new CustomEvent('error', { detail }));
    this._client._emit('error', detail);
  }

  _fail(code, err) {
    if (this._ended) return;
    const message = (err && (err.message || err.name)) || String(err);
    this._emitError(code, message);
    if (this._sentSdp) this._client._send({ type: 'hangup', call: this.id });
    else if (this.direction === 'incoming') this._client._send({ type: 'reject', call: this.id, code: 488 });
    this._end(code === 'media_error' ? 488 : 500, message);
  }

  _stopLocal() {
    if (this.localStream && this._ownsStream) {
      for (const t of this.localStream.getTracks()) t.stop();
    }
  }

  _end(code, reason) {
    if (this._ended) return;
    this._ended = true;
    this.endedAt = new Date();
    const prev = this.state;
    this.state = 'ended';
    this.code = code;
    this.reason = reason;
    this._stopLocal();
    if (this.pc) {
      try { this.pc.close(); } catch { /* ignore */ }
    }
    for (const t of this.remoteStream.getTracks()) t.stop();
    this._client._forget(this);
    const detail = { state: 'ended', code, reason, previous: prev };
    this.dispatchEvent(new CustomEvent('state', { detail }));
    this._resolveEnded(detail);
  }
}

/**
 * The signalling connection for one identity. Holds one WebSocket and any
 * number of calls.
 */
export class SplitClient extends EventTarget {
  /**
   * @param {object} opts
   * @param {string} [opts.url]  WebSocket URL of /v1/ws (ws:, wss:, http: or
   *   https:, absolute or relative). Defaults to /v1/ws on the page's host.
   * @param {string} opts.token  Token minted by POST /v1/tokens.
   * @param {RTCIceServer[]} [opts.iceServers]  Overrides the hello's list.
   * @param {number} [opts.gatherTimeout=2000]  Max ms to wait for ICE
   *   gathering before sending SDP (later candidates are trickled).
   * @param {number} [opts.pingInterval=25000]  Keep-alive ping period (0 = off).
   * @param {number} [opts.helloTimeout=10000]  connect() fails after this.
   * @param {'all'|'relay'} [opts.iceTransportPolicy='all']  'relay' sends media only through the TURN servers.
   */
  constructor({ url, token, iceServers = null, gatherTimeout = 2000, pingInterval = 25000, helloTimeout = 10000, iceTransportPolicy = 'all' } = {}) {
    super();
    this.iceTransportPolicy = iceTransportPolicy;
    this.url = url || null;
    this.token = token || null;
    this.gatherTimeout = gatherTimeout;
    this.pingInterval = pingInterval;
    this.helloTimeout = helloTimeout;
    this._iceOverride = iceServers;
    /** Filled in from the server's hello. */
    this.identity = null;
    this.sipUri = null;
    this.iceServers = iceServers || [];
    this.serverVersion = null;
    this.hello = null;
    /** Map of call id -> Call for every live call. */
    this.calls = new Map();
    this.ws = null;
    this.connected = false;
    this._pingTimer = null;
    this._connecting = null;
  }

  /** Open the WebSocket; resolves with the hello message. */
  connect() {
    if (this._connecting) return this._connecting;
    this._connecting = new Promise((resolve, reject) => {
      let settled = false;
      let ws;
      try {
        ws = new WebSocket(wsUrlWithToken(this.url, this.token));
      } catch (err) {
        this._connecting = null;
        reject(err);
        return;
      }
      this.ws = ws;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new Error('timed out waiting for hello'));
        try { ws.close(4000, 'hello timeout'); } catch { /* ignore */ }
      }, this.helloTimeout);
      ws.addEventListener('message', (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          this._emit('error', { code: 'bad_message', message: 'server sent malformed JSON' });
          return;
        }
        if (!msg || typeof msg !== 'object') return;
        if (msg.type === 'hello' && !settled) {
          settled = true;
          clearTimeout(timer);
          this._onHello(msg);
          resolve(msg);
          return;
        }
        this._onMessage(msg);
      });
      ws.addEventListener('close', (ev) => {
        clearTimeout(timer);
        this._onClose(ev.code, ev.reason);
        if (!settled) {
          settled = true;
          const err = new Error(`signalling connection closed before hello (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}); the token may be invalid or expired`);
          err.code = ev.code;
          reject(err);
        }
      });
      ws.addEventListener('error', () => {
        // Browsers give no details; the close event follows.
      });
    });
    return this._connecting;
  }

  /** Close the connection and end every call. */
  close(code = 1000, reason = 'client closed') {
    for (const call of [...this.calls.values()]) call.hangup();
    if (this.ws) {
      try { this.ws.close(code, reason); } catch { /* ignore */ }
    }
  }

  /**
   * Place an outgoing call. Returns the Call immediately; media and
   * signalling proceed in the background (watch its "state" events).
   * @param {string} to  SIP URI ("sip:1000@pbx.example.com") or a bare
   *   number/user ("1000") for the server's default trunk.
   * @param {object} [opts]
   * @param {boolean} [opts.audio=true]
   * @param {boolean} [opts.video=true]  Offer video (sendrecv with a camera
   *   track, recvonly if none is available).
   * @param {MediaStream} [opts.stream]  Media to send; otherwise getUserMedia.
   *   A stream you pass is not stopped when the call ends.
   * @param {Object<string,string>} [opts.headers]  Extra SIP headers (X-...).
   * @param {string} [opts.id]  Call id (default "c-<random>").
   */
  call(to, { audio = true, video = true, stream = null, headers = null, id = null } = {}) {
    if (!this.connected) throw new Error('not connected: await connect() first');
    if (!to || typeof to !== 'string') throw new TypeError('call(to): destination is required');
    const callId = id || randomId('c');
    if (this.calls.has(callId)) throw new Error(`duplicate call id ${callId}`);
    const call = new Call(this, { id: callId, direction: 'outgoing', to: to.trim(), video, headers });
    this.calls.set(callId, call);
    call._startOutgoing({ stream, audio: !!audio, video: !!video });
    return call;
  }

  /** Send a raw protocol message. Returns false if the socket is not open. */
  send(msg) { return this._send(msg); }

  // ---- internals ----------------------------------------------------------

  _send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _forget(call) {
    if (this.calls.get(call.id) === call) this.calls.delete(call.id);
  }

  _onHello(msg) {
    this.hello = msg;
    this.identity = msg.identity || null;
    this.sipUri = msg.sip_uri || null;
    this.serverVersion = msg.server || null;
    if (!this._iceOverride && Array.isArray(msg.ice_servers)) this.iceServers = msg.ice_servers;
    this.connected = true;
    if (this.pingInterval > 0) {
      this._pingTimer = setInterval(() => this._send({ type: 'ping' }), this.pingInterval);
    }
    this._emit('hello', msg);
  }

  _onMessage(msg) {
    this._emit('message', msg);
    if (msg.type === 'incoming') {
      this._onIncoming(msg);
      return;
    }
    if (msg.type === 'pong' || msg.type === 'hello') return;
    const call = msg.call != null ? this.calls.get(msg.call) : null;
    if (msg.type === 'error') {
      if (call) call._onMessage(msg); // also re-emitted on the client
      else this._emit('error', { code: msg.code, message: msg.message, call: msg.call || null });
      return;
    }
    if (call) call._onMessage(msg);
  }

  _onIncoming(msg) {
    if (!msg.call || this.calls.has(msg.call)) return;
    const call = new Call(this, {
      id: msg.call,
      direction: 'incoming',
      from: msg.from || null,
      to: msg.to || null,
      displayName: msg.display_name || null,
      video: !!msg.video || sdpHasMedia(msg.sdp, 'video'),
      offer: msg.sdp,
    });
    this.calls.set(call.id, call);
    this._emit('incoming', call);
  }

  _onClose(code, reason) {
    const wasConnected = this.connected;
    this.connected = false;
    this._connecting = null;
    clearInterval(this._pingTimer);
    this._pingTimer = null;
    for (const call of [...this.calls.values()]) call._end(503, 'Signalling connection closed');
    this._emit('close', { code, reason, wasConnected });
  }
}

export default SplitClient;
