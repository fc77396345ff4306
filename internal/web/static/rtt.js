// rtt.js — real-time text (T.140 over WebRTC data channels, RFC 8865) for the
// Deaf Interpreter mode's two pages: the deaf user's layout of customer.html
// and the interpreter console (docs/interpreter.md §6).
//
// A dependency-free ES module. The first half is pure functions (no DOM), so
// that they can be unit-tested in Node (internal/web/jstest/rtt.test.mjs):
//
//   filterT140(text)            the §6.3 display filter: controls, ESC
//                               sequences, BOM removed; CR LF / CR / LF → U+2028
//   applyT140(state, text)      a source's text state {lines} after `text`
//                               (BS erases a grapheme cluster, U+2028 a new
//                               line, BEL counted); returns {state, completed, bells}
//   diffToT140(before, after)   what a typewriter field sends when its value
//                               changes: U+0008 per grapheme removed, then the
//                               new text (newlines as U+2028)
//   appendPending(pending, add) the 300 ms send buffer: a character typed and
//                               erased before it was sent is never sent
//   parseChannelLabel(label)    "<from>/<leg>" of a hub-opened channel
//   routingSummary(interp, leg) "Phone hears: you. Deaf user hears: nothing. You hear: phone."
//
// The second half binds them to the page: RttPane (one role="log" pane per
// source, completed lines announced through a polite live region, BEL flash at
// most 3 a second), RttInput (the typewriter field: caret at the end, nothing
// during IME composition, what was typed sent every 300 ms) and RttLink (the
// page's own "t140" channel and the hub-opened "<from>/<leg>" channels of one
// RTCPeerConnection, each routed to its pane).

export const BS = '\u0008';
export const BEL = '\u0007';
export const LS = '\u2028';
export const BOM = '\uFEFF';
export const LOST = '\uFFFD';
/** Lines a pane keeps (§6.3). */
export const MAX_LINES = 200;
/** Longest buffering of typed text before it is sent (§6.2). */
export const SEND_INTERVAL_MS = 300;
/** A data channel message is at most this many bytes (§6.2). */
export const MAX_MESSAGE_BYTES = 4096;
/** BEL flashes per second at most (WCAG 2.3.1). */
export const MAX_FLASHES_PER_SECOND = 3;

let segmenter = null;
try {
  segmenter = typeof Intl !== 'undefined' && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;
} catch { segmenter = null; }

/** The grapheme clusters of s (code points where Intl.Segmenter is missing). */
export function graphemes(s) {
  if (!s) return [];
  if (segmenter) return Array.from(segmenter.segment(s), (x) => x.segment);
  return Array.from(s);
}

/** s without its last grapheme cluster. */
export function dropLastGrapheme(s) {
  const g = graphemes(s);
  g.pop();
  return g.join('');
}

/**
 * The §6.3 filter: keeps printable text, BS (U+0008), BEL (U+0007) and U+FFFD;
 * CR LF, CR, LF and U+2028 become U+2028; removes U+FEFF, ESC sequences
 * (CSI `ESC [ … final`, and two-character `ESC x`) and every other C0/C1 control.
 * `text` is a JS string (invalid UTF-8 was already turned into U+FFFD by
 * decodeT140).
 */
export function filterT140(text) {
  if (typeof text !== 'string' || !text) return '';
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x1b) { // ESC
      const n = text.charCodeAt(i + 1);
      if (n === 0x5b) { // CSI: parameters and intermediates, then a final byte 0x40–0x7E
        let j = i + 2;
        while (j < text.length) {
          const k = text.charCodeAt(j);
          if (k >= 0x40 && k <= 0x7e) break;
          if (k < 0x20 || k > 0x3f) { j--; break; } // not a CSI byte: end the sequence before it
          j++;
        }
        i = Math.min(j, text.length);
      } else if (n >= 0x20 && n <= 0x7e) {
        i++; // ESC x
      }
      continue;
    }
    if (c === 0x0d) { // CR, CR LF
      out += LS;
      if (text.charCodeAt(i + 1) === 0x0a) i++;
      continue;
    }
    if (c === 0x0a || c === 0x2028) { out += LS; continue; }
    if (c === 0x08 || c === 0x07) { out += text[i]; continue; }
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) continue; // other C0, DEL, C1
    if (c === 0xfeff) continue; // BOM / keep-alive
    out += text[i];
  }
  return out;
}

/** Bytes of a binary message as text: each invalid UTF-8 sequence becomes U+FFFD. */
export function decodeT140(data) {
  if (typeof data === 'string') return data;
  try {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (!bytes) return '';
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  } catch {
    return LOST;
  }
}

/** A new, empty text state of one source. */
export function newTextState() { return { lines: [''] }; }

/**
 * Apply received (or sent) T.140 text to a source's state. Returns
 * {state, completed: [lines finished by a line separator], bells: n}.
 * The state is not modified; at most MAX_LINES lines are kept.
 */
export function applyT140(state, text) {
  const lines = state && Array.isArray(state.lines) && state.lines.length ? state.lines.slice() : [''];
  const completed = [];
  let bells = 0;
  const t = filterT140(text);
  let buf = ''; // printable run, appended in one go
  const flush = () => { if (buf) { lines[lines.length - 1] += buf; buf = ''; } };
  for (const ch of t) {
    if (ch === BS) {
      flush();
      const cur = lines[lines.length - 1];
      if (cur) lines[lines.length - 1] = dropLastGrapheme(cur);
      else if (lines.length > 1) { lines.pop(); if (completed.length) completed.pop(); } // erases the line break
    } else if (ch === LS) {
      flush();
      completed.push(lines[lines.length - 1]);
      lines.push('');
    } else if (ch === BEL) {
      bells++;
    } else {
      buf += ch;
    }
  }
  flush();
  while (lines.length > MAX_LINES) lines.shift();
  return { state: { lines }, completed, bells };
}

/** The text of a state as one string, lines joined with "\n". */
export function stateText(state) { return state && state.lines ? state.lines.join('\n') : ''; }

/**
 * What a typewriter field sends when its value goes from `before` to
 * `after`: one U+0008 per grapheme cluster of `before` after the common
 * prefix, then the rest of `after` (CR LF / LF as U+2028). '' when equal.
 */
export function diffToT140(before, after) {
  before = before || '';
  after = after || '';
  if (before === after) return '';
  const a = graphemes(before);
  const b = graphemes(after);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const erase = BS.repeat(a.length - i);
  const add = b.slice(i).join('').replace(/\r\n|\r|\n/g, LS);
  return erase + add;
}

/**
 * The send buffer: `add` appended to `pending`, where a BS that erases a
 * grapheme still waiting in the buffer removes it instead of being sent.
 */
export function appendPending(pending, add) {
  let p = graphemes(pending || '');
  for (const g of graphemes(add || '')) {
    if (g === BS && p.length && p[p.length - 1] !== BS && p[p.length - 1] !== LS) p.pop();
    else p.push(g);
  }
  return p.join('');
}

/** Split text into chunks of at most `max` UTF-8 bytes, never inside a grapheme cluster. */
export function chunkUtf8(text, max = MAX_MESSAGE_BYTES) {
  const out = [];
  const enc = new TextEncoder();
  let cur = '';
  let size = 0;
  for (const g of graphemes(text)) {
    const n = enc.encode(g).length;
    if (size + n > max && cur) { out.push(cur); cur = ''; size = 0; }
    cur += g;
    size += n;
  }
  if (cur) out.push(cur);
  return out;
}

/** "<from>/<leg>" of a hub-opened channel → {from, leg}; null for another label. */
export function parseChannelLabel(label) {
  const m = /^(deaf-user|interpreter|phone)\/(.+)$/.exec(String(label || ''));
  return m ? { from: m[1], leg: m[2] } : null;
}

/**
 * The routing summary of docs/interpreter.md §9.2, from the `session`
 * frame's `interpreter` block as seen by the interpreter leg `myLeg`
 * (§4.2's matrix, with vco_mutes_interpreter off as configured by default).
 * Returns {phone, deaf, me, text} (each an English list, "nothing" when empty).
 */
export function routingSummary(interp, myLeg) {
  const i = interp || {};
  const ph = (i.phone && i.phone.state) || 'none';
  const phoneUp = ph === 'connected' || ph === 'ringing'; // early media counts (§4.2)
  const list = Array.isArray(i.interpreters) ? i.interpreters : [];
  const lead = list.find((x) => x && x.lead) || null;
  const meLead = !!(lead && lead.leg === myLeg);
  const others = list.filter((x) => x && x.leg !== myLeg);
  const leadName = meLead ? 'you' : lead ? lead.name || 'the lead interpreter' : '';
  const join = (a) => (a.length ? a.join(' and ') : 'nothing');
  const phone = [];
  if (phoneUp) {
    if (lead && !i.side_talk) phone.push(leadName);
    if (i.vco) phone.push('deaf user');
  }
  const deaf = [];
  if (phoneUp && i.hco) deaf.push('phone');
  if (lead && i.side_talk) deaf.push(leadName);
  const me = [];
  if (phoneUp) me.push('phone');
  if (i.vco) me.push('deaf user');
  for (const o of others) me.push(o.lead ? `${o.name || 'lead'} (lead)` : o.name || 'partner');
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const phoneText = ph === 'none' || ph === 'ended' ? 'no call' : ph === 'dialling' ? 'not connected yet' : join(phone);
  const r = { phone: phoneText, deaf: join(deaf), me: join(me) };
  r.text = `Phone hears: ${r.phone}. Deaf user hears: ${r.deaf}. You hear: ${r.me}.`;
  r.text = cap(r.text);
  return r;
}

/** Seconds since an RFC 3339 time, at `now` (ms); 0 when unknown. */
export function secondsSince(since, now = Date.now()) {
  const t = Date.parse(since || '');
  return Number.isFinite(t) ? Math.max(0, Math.floor((now - t) / 1000)) : 0;
}

/** 125 → "2 min 05 s"; 3725 → "1 h 02 min". */
export function formatDuration(s) {
  s = Math.max(0, Math.floor(s || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h) return `${h} h ${String(m).padStart(2, '0')} min`;
  return `${m} min ${String(sec).padStart(2, '0')} s`;
}

// ---- DOM --------------------------------------------------------------------------

/**
 * One source's pane: a role="log" region (aria-live off: characters are not
 * read one by one) under a heading, its lines as paragraphs. Completed lines
 * and BEL go to `announce(text)` (the page's polite live region).
 */
export class RttPane {
  constructor({ parent, id, title, label, announce = () => {}, speaker = title, reduceMotion = false }) {
    this.title = title;
    this.speaker = speaker;
    this.announce = announce;
    this.state = newTextState();
    this.flashes = [];
    this.reduceMotion = reduceMotion;
    this.log = []; // {at, text} received, for tests (window.splitApp.rtt.log)
    const sec = document.createElement('section');
    sec.className = 'rtt-pane';
    sec.id = id;
    const h = document.createElement('h3');
    h.id = `${id}-title`;
    h.textContent = title;
    const box = document.createElement('div');
    box.className = 'rtt-lines';
    box.setAttribute('role', 'log');
    box.setAttribute('aria-live', 'off');
    box.setAttribute('aria-label', label || title);
    box.tabIndex = 0; // scrollable region: reachable by keyboard
    sec.append(h, box);
    parent.append(sec);
    this.section = sec;
    this.box = box;
    this.heading = h;
  }

  setTitle(title, label) {
    this.title = title;
    this.speaker = title;
    this.heading.textContent = title;
    if (label) this.box.setAttribute('aria-label', label);
  }

  /** Apply T.140 text (received from the source, or sent by this page). */
  feed(text) {
    const before = this.state.lines.length;
    const r = applyT140(this.state, text);
    this.state = r.state;
    this.log.push({ at: Date.now(), text });
    if (this.log.length > 2000) this.log.splice(0, 1000);
    this.render(before);
    for (const line of r.completed) if (line.trim()) this.announce(`${this.speaker}: ${line}`);
    for (let i = 0; i < r.bells; i++) this.bell();
    return r;
  }

  get text() { return stateText(this.state); }

  render() {
    const stick = this.box.scrollTop + this.box.clientHeight >= this.box.scrollHeight - 4;
    const lines = this.state.lines;
    const kids = this.box.children;
    while (kids.length > lines.length) this.box.removeChild(this.box.lastChild);
    while (kids.length < lines.length) {
      const p = document.createElement('p');
      p.className = 'rtt-line';
      this.box.append(p);
    }
    for (let i = 0; i < lines.length; i++) if (kids[i].textContent !== lines[i]) kids[i].textContent = lines[i];
    if (stick) this.box.scrollTop = this.box.scrollHeight;
  }

  bell() {
    const now = Date.now();
    this.flashes = this.flashes.filter((t) => now - t < 1000);
    if (this.flashes.length >= MAX_FLASHES_PER_SECOND) return false;
    this.flashes.push(now);
    this.announce(`${this.speaker} is calling your attention`);
    this.section.classList.remove('bell');
    void this.section.offsetWidth; // restart the flash
    this.section.classList.add('bell');
    setTimeout(() => this.section.classList.remove('bell'), 300);
    return true;
  }

  /** The source left: the text stays; the heading says so. */
  closed() { this.section.classList.add('rtt-closed'); }
}

/**
 * The typewriter input (§6.3, sending side) on a <textarea>: the caret stays
 * at the end; each change of the value is sent as diffToT140; Enter sends
 * U+2028 and starts an empty line; nothing during IME composition; what was
 * typed goes to `send(text)` at most every 300 ms. `echo(text)` sees the same
 * text (the "You" pane).
 */
export class RttInput {
  constructor(field, { send, echo = () => {}, interval = SEND_INTERVAL_MS }) {
    this.field = field;
    this.sendFn = send;
    this.echo = echo;
    this.interval = interval;
    this.value = field.value || '';
    this.pending = '';
    this.timer = null;
    this.composing = false;
    this.sent = 0; // characters handed to send()
    const end = () => {
      const n = field.value.length;
      if (field.selectionStart !== n || field.selectionEnd !== n) {
        // a selection reaching the end can be replaced (§6.3); anything else moves to the end
        if (field.selectionEnd !== n) field.setSelectionRange(n, n);
      }
    };
    field.addEventListener('compositionstart', () => { this.composing = true; });
    field.addEventListener('compositionend', () => { this.composing = false; this._changed(); });
    field.addEventListener('input', (e) => { if (!this.composing && !e.isComposing) this._changed(); });
    field.addEventListener('keydown', (e) => {
      if (e.isComposing || this.composing) return;
      if (e.key === 'Enter' && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        this.newLine();
        return;
      }
      if (['ArrowLeft', 'ArrowUp', 'Home', 'PageUp'].includes(e.key)) e.preventDefault(); // T.140 erases from the end only
    });
    for (const ev of ['click', 'focus', 'mouseup', 'keyup', 'select']) field.addEventListener(ev, () => { if (!this.composing) end(); });
  }

  _changed() {
    const next = this.field.value;
    const t = diffToT140(this.value, next);
    this.value = next;
    if (t) this.queue(t);
  }

  newLine() {
    this._changed();
    this.field.value = '';
    this.value = '';
    this.queue(LS);
  }

  /** Queue text (already T.140) for sending; shown at once in the echo pane. */
  queue(t) {
    this.echo(t);
    this.pending = appendPending(this.pending, t);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.interval);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    const p = this.pending;
    if (!p) return;
    this.pending = '';
    for (const chunk of chunkUtf8(p)) {
      this.sendFn(chunk);
      this.sent += chunk.length;
    }
  }

  /** Send a BEL (the pages' "Call attention" button). */
  bell() { this.queue(BEL); }

  clear() {
    clearTimeout(this.timer);
    this.timer = null;
    this.pending = '';
    this.field.value = '';
    this.value = '';
  }
}

/**
 * The T.140 channels of one RTCPeerConnection: `own` is the page's sending
 * channel ("t140", created before the offer, or after the answer on the
 * console); hub-opened channels "<from>/<leg>" are receive-only and go to
 * onText({from, leg, label}, text). Text sent before `own` opens waits.
 */
export class RttLink {
  constructor({ onText, onOpen = () => {}, onClose = () => {} }) {
    this.onText = onText;
    this.onOpen = onOpen;
    this.onClose = onClose;
    this.own = null;
    this.waiting = '';
    this.channels = new Map(); // label → channel
  }

  /** The page's own channel. */
  setOwn(ch) {
    if (!ch) return;
    this.own = ch;
    ch.addEventListener('open', () => {
      if (this.waiting) { const w = this.waiting; this.waiting = ''; this.send(w); }
      this.onOpen(ch);
    });
    // What the hub might send on the page's channel is not from another party: ignored.
  }

  /** A channel the hub opened (RTCPeerConnection "datachannel"). */
  addRemote(ch) {
    if (!ch || (this.own && ch === this.own)) return;
    const src = parseChannelLabel(ch.label);
    if (!src) { console.warn('rtt.js: channel with an unknown label ignored'); return; }
    const info = { ...src, label: ch.label };
    this.channels.set(ch.label, ch);
    ch.binaryType = 'arraybuffer';
    ch.addEventListener('message', (e) => this.onText(info, decodeT140(e.data)));
    ch.addEventListener('close', () => { this.channels.delete(ch.label); this.onClose(info); });
  }

  send(text) {
    if (!text) return true;
    if (!this.own || this.own.readyState !== 'open') {
      this.waiting = appendPending(this.waiting, text);
      return false;
    }
    try {
      this.own.send(text);
      return true;
    } catch (err) {
      console.warn('rtt.js: send failed', err && err.message);
      return false;
    }
  }
}
