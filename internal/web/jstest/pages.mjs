// Browser test of the Deaf Interpreter mode's pages without the hub's
// interpreter frames (docs/interpreter.md §5 is being built in parallel):
//
//   node internal/web/jstest/pages.mjs <base URL of a server of internal/web/static>
//
// (TestInterpreterPagesBrowser in internal/web runs it against web.Handler()).
//
// What is real: the pages' own code (customer.js, interpreter.js, session.js,
// rtt.js) in headless Chromium (/usr/bin/chromium, fake camera and
// microphone), their RTCPeerConnections, SDP offers and answers, DTLS, media
// and SCTP data channels. What is fake: the hub's socket. Playwright's
// routeWebSocket answers the page's /v1/sessions/ws with the frames of
// docs/interpreter.md §5 written by this script, and the hub's media end is
// an RTCPeerConnection in a helper page of the same browser: it answers the
// deaf user's offer, makes the offer the console answers, opens the
// "<from>/<leg>" T.140 channels the hub would open, and reads what the pages
// send on their own "t140" channels.
//
// Checks: the frames each control sends (names and fields as in §5.1), the
// states rendered from §5.2 frames, RTT both ways, the forbidden number, the
// camera's motion hint; the project's a11y and layout audits (the JS of
// test/e2e/pages_test.go and pages_layout_test.go, read from those files) at
// 1280×800 and 390×844 in several states; no console errors. Exit status 1
// on any failure; one line per check on stdout.
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';

const require = createRequire(new URL('../../../test/e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const BASE = process.argv[2];
if (!BASE) { console.error('usage: node pages.mjs <base URL>'); process.exit(2); }

// The project's audits, from the Go tests that define them.
async function auditJS(file, name) {
  const src = await readFile(new URL(`../../../test/e2e/${file}`, import.meta.url), 'utf8');
  const m = new RegExp('const ' + name + ' = `([\\s\\S]*?)`\\n').exec(src);
  if (!m) throw new Error(`${name} not found in ${file}`);
  return m[1];
}
const AUDITS = [await auditJS('pages_test.go', 'a11yAuditJS'), await auditJS('pages_layout_test.go', 'layoutAuditJS')];

let failures = 0;
const check = (ok, what, detail = '') => {
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
};
async function eventually(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) { check(true, what); return last; } } catch (e) { last = e.message; }
    await new Promise((r) => setTimeout(r, 50));
  }
  check(false, what, `last: ${JSON.stringify(last)}`);
  return null;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
    '--disable-features=WebRtcHideLocalIpsWithMdns', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
});

// The hub's media end: one RTCPeerConnection per page under test.
const peerCtx = await browser.newContext({ permissions: ['camera', 'microphone'] });
const peer = await peerCtx.newPage();
await peer.goto(`${BASE}/rtt.js`); // any same-origin page
await peer.evaluate(() => {
  const gather = (pc) => new Promise((r) => {
    if (pc.iceGatheringState === 'complete') return r();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); });
    setTimeout(r, 2000);
  });
  window.P = {};
  window.hub = {
    async answer(name, offer) { // a page's offer (the deaf user's start)
      const pc = new RTCPeerConnection();
      const p = (window.P[name] = { pc, got: '', channels: {} });
      pc.ondatachannel = (e) => { if (e.channel.label === 't140') { p.own = e.channel; p.protocol = e.channel.protocol; e.channel.onmessage = (m) => { p.got += m.data; }; } };
      const st = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      for (const t of st.getTracks()) pc.addTrack(t, st);
      await pc.setLocalDescription(await pc.createAnswer());
      await gather(pc);
      return pc.localDescription.sdp;
    },
    async offer(name) { // the hub's offer to a console: audio, video, data channel
      const pc = new RTCPeerConnection();
      const p = (window.P[name] = { pc, got: '', channels: {} });
      pc.ondatachannel = (e) => { if (e.channel.label === 't140') { p.own = e.channel; p.protocol = e.channel.protocol; e.channel.onmessage = (m) => { p.got += m.data; }; } };
      const st = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      for (const t of st.getTracks()) pc.addTrack(t, st);
      p.boot = pc.createDataChannel('boot'); // the m=application section
      await pc.setLocalDescription(await pc.createOffer());
      await gather(pc);
      return pc.localDescription.sdp;
    },
    async accepted(name, sdp) { await window.P[name].pc.setRemoteDescription({ type: 'answer', sdp }); },
    open(name, label) { // a hub-opened T.140 channel "<from>/<leg>"
      const ch = window.P[name].pc.createDataChannel(label, { protocol: 't140', ordered: true });
      window.P[name].channels[label] = ch;
      return new Promise((r) => { ch.onopen = () => r(true); setTimeout(() => r(false), 5000); });
    },
    send(name, label, text) { window.P[name].channels[label].send(text); },
    got(name) { return window.P[name] ? { text: window.P[name].got, protocol: window.P[name].protocol || '' } : null; },
  };
});

// A fake hub socket for one page: frames the page sends are kept in `sent`.
async function fakeHub(page, onFrame) {
  const hub = { ws: null, sent: [], push(m) { this.ws.send(JSON.stringify(m)); } };
  await page.routeWebSocket(/\/v1\/sessions\/ws/, (ws) => {
    hub.ws = ws;
    ws.onMessage(async (data) => {
      const m = JSON.parse(String(data));
      if (m.type === 'ping') { ws.send(JSON.stringify({ type: 'pong' })); return; }
      hub.sent.push(m);
      try { await onFrame(m, hub); } catch (e) { check(false, `fake hub handling ${m.type}`, e.message); }
    });
    onFrame({ type: '_open' }, hub);
  });
  hub.last = (type) => [...hub.sent].reverse().find((m) => m.type === type);
  hub.wait = (what, type, pred = () => true) => eventually(what, () => hub.sent.find((m) => m.type === type && pred(m)));
  return hub;
}

async function audit(page, label) {
  for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(50); // layout settles (one frame)
    const problems = [];
    for (const js of AUDITS) problems.push(...(await page.evaluate(`(${js})()`)));
    check(problems.length === 0, `audit ${label} at ${size.width}×${size.height}`, problems.join('; '));
    await page.screenshot({ path: `${process.env.SCREENS || '/tmp'}/${label}-${size.width}.png`, fullPage: true }).catch(() => {});
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

function consoleErrors(page) {
  const errs = [];
  page.on('console', (m) => { if (m.type() === 'error') errs.push(m.text()); });
  page.on('pageerror', (e) => errs.push(String(e)));
  return errs;
}

const VIDEO = { codecs: ['H264', 'VP8'], width: 1280, height: 720, frame_rate: 30, max_bitrate: 1500000, min_fps: 20, min_width: 640, min_height: 480 };
const LANGS = [{ tag: 'ase', name: 'American Sign Language', spoken: 'en' }, { tag: 'bfi', name: 'British Sign Language', spoken: 'en' }];
const INTERP = { languages: LANGS, dial: { country_code: '1', allow_international: false }, video: VIDEO, rtt: { cps: 30 } };
const SID = '01a2-sess';

// ---- the deaf user's page -------------------------------------------------------------------

{
  const ctx = await browser.newContext({ permissions: ['camera', 'microphone'], viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errs = consoleErrors(page);
  const interp = { sign_language: 'ase', language: 'en', vco: false, hco: false, side_talk: false, deaf_user: 'joined', phone: { state: 'none', to: '+15551230000' }, interpreters: [] };
  const hub = await fakeHub(page, async (m, h) => {
    if (m.type === '_open') h.push({ type: 'hello', role: 'customer', identity: 'customer', ice_servers: [], server: 'split/test', interpreter: INTERP });
    if (m.type === 'start' && m.to === '112') h.push({ type: 'error', code: 'forbidden', message: 'forbidden: This service cannot place emergency calls. Use your country\'s emergency text or video service.' });
    else if (m.type === 'start') {
      const sdp = await peer.evaluate(([o]) => window.hub.answer('deaf', o), [m.sdp]);
      h.push({ type: 'answer', leg: 'rtc_d1', session: SID, sdp, resume: 'resume-token' });
      h.push({ type: 'session', session: SID, state: 'waiting', mode: 'interpreter', queue: 'interp-ase-en', position: 2, ewt: 30, held: false, interpreter: interp });
    }
    if (m.type === 'carry_over') {
      if ('vco' in m) interp.vco = m.vco;
      if ('hco' in m) interp.hco = m.hco;
      h.push({ type: 'session', session: SID, state: 'active', mode: 'interpreter', held: false, agent: { id: '', name: 'Ana' }, interpreter: interp });
    }
    if (m.type === 'hangup') h.push({ type: 'ended', session: SID, leg: 'rtc_d1', code: 200, reason: 'Customer hung up' });
  });
  await page.goto(`${BASE}/customer.html?entry=sign`);
  await eventually('deaf: the layout follows hello.interpreter', () => page.evaluate(() => window.splitApp.deaf.on && !document.querySelector('#deaf-setup').hidden && document.querySelector('#setup').hidden));
  check(await page.evaluate(() => [...document.querySelectorAll('#sign-language option')].map((o) => o.textContent).join('|')) === 'American Sign Language (ase)|British Sign Language (bfi)', 'deaf: the chooser lists the languages by name and tag');
  const to = await page.evaluate(() => { const i = document.querySelector('#deaf-to'); return [i.type, i.inputMode, i.autocomplete, i.getAttribute('aria-describedby')].join(' '); });
  check(to === 'tel tel off deaf-to-hint deaf-to-error', 'deaf: the number field', to);
  await page.click('#deaf-check');
  await eventually('deaf: self-view before the call', () => page.evaluate(() => document.querySelector('#deaf-preview').videoWidth > 0));
  await audit(page, 'deaf-chooser');

  // A refused number: the server's words next to the field, no call.
  await page.selectOption('#sign-language', 'bfi');
  await page.fill('#deaf-to', '112');
  await page.fill('#deaf-name', 'Luis');
  await page.getByRole('button', { name: 'Call an interpreter' }).click();
  const st1 = await hub.wait('deaf: start sent', 'start');
  if (st1) {
    check(st1.sign_language === 'bfi' && st1.to === '112' && st1.name === 'Luis' && !('language' in st1), 'deaf: start {sdp, sign_language, to, name}, no language', JSON.stringify({ ...st1, sdp: undefined }));
    check(/^m=video [1-9]/m.test(st1.sdp) && /^m=application /m.test(st1.sdp), 'deaf: the offer has video and a data channel');
  }
  await eventually('deaf: forbidden shown next to the number', () => page.evaluate(() => {
    const e = document.querySelector('#deaf-to-error');
    return !e.hidden && /emergency/.test(e.textContent) && !/^forbidden/.test(e.textContent) && window.splitApp.state === 'idle' && !document.querySelector('#deaf-setup').hidden
      && document.querySelector('#deaf-to').getAttribute('aria-invalid') === 'true';
  }));
  await audit(page, 'deaf-forbidden');

  // A real call: waiting, then the interpreter joins.
  await page.fill('#deaf-to', '+15551230000');
  await page.getByRole('button', { name: 'Call an interpreter' }).click();
  await eventually('deaf: waiting with position and EWT', () => page.evaluate(() => document.querySelector('#status').textContent === 'Waiting for an interpreter, you are number 2 (less than a minute).'));
  check(hub.sent.filter((m) => m.type === 'start').length === 2, 'deaf: one start per press');
  interp.interpreters = [{ leg: 'rtc_i1', id: '', name: 'Ana', lead: true, since: new Date().toISOString() }];
  hub.push({ type: 'session', session: SID, state: 'active', mode: 'interpreter', held: false, agent: { id: '', name: 'Ana' }, interpreter: interp });
  await eventually('deaf: "Interpreter Ana has joined"', () => page.evaluate(() => /Interpreter Ana has joined/.test(document.querySelector('#status').textContent)));
  await eventually('deaf: interpreter video decoded', () => page.evaluate(() => document.querySelector('#remote-video').videoWidth > 0));
  const media = await page.evaluate(() => {
    const c = window.splitApp.call;
    const v = c.localStream.getVideoTracks()[0];
    const s = c.pc.getSenders().find((x) => x.track && x.track.kind === 'video');
    return { hint: v.contentHint, mic: window.splitApp.deaf.micEnabled, dp: s.getParameters().degradationPreference || '', maxfr: (s.getParameters().encodings[0] || {}).maxFramerate || 0 };
  });
  check(media.hint === 'motion', 'deaf: camera contentHint motion', JSON.stringify(media));
  check(media.mic === false, 'deaf: microphone track disabled while VCO is off');
  check(media.maxfr === 30, 'deaf: sender maxFramerate from hello.interpreter.video', `${media.maxfr} (degradationPreference read back: "${media.dp}")`);
  await eventually('deaf: own t140 channel reached the hub (protocol t140)', () => peer.evaluate(() => window.hub.got('deaf')?.protocol === 't140'));

  // RTT: from the interpreter (a hub-opened channel), and typed by D.
  check(await peer.evaluate(() => window.hub.open('deaf', 'interpreter/rtc_i1')), 'deaf: hub-opened channel interpreter/rtc_i1 opens');
  await peer.evaluate(() => window.hub.send('deaf', 'interpreter/rtc_i1', 'Hello Luis\u2028How can I hx\u0008elp?'));
  await eventually('deaf: interpreter text in the Interpreter pane', () => page.evaluate(() => window.splitApp.deaf.rtt.text('interpreter/rtc_i1') === 'Hello Luis\nHow can I help?'));
  check(await page.evaluate(() => document.querySelector('#rtt-interpreter-rtc-i1 h3').textContent) === 'Interpreter: Ana', 'deaf: the pane is named after the interpreter');
  await eventually('deaf: the completed line announced politely', () => page.evaluate(() => document.querySelector('#rtt-announce').textContent === 'Interpreter: Ana: Hello Luis'));
  await page.getByRole('button', { name: 'Type' }).click();
  check(await page.evaluate(() => document.activeElement.id) === 'rtt-input', 'deaf: Type moves to the text field');
  const t0 = Date.now();
  await page.keyboard.type('hi thx');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('ere');
  await page.keyboard.press('Enter');
  const got = await eventually('deaf: typed text reaches the hub as T.140', () => peer.evaluate(() => { const g = window.hub.got('deaf').text; return g.includes('\u2028') ? g : null; }));
  if (got) {
    // what a receiver shows: the text with each BS applied
    const shown = [...got].reduce((a, c) => (c === '\u0008' ? a.slice(0, -1) : a + c), '');
    check(shown === 'hi there\u2028', 'deaf: the receiver would show "hi there"', JSON.stringify(got).replace(/\u2028/g, '\\u2028').replace(/\u0008/g, '\\b'));
    check(Date.now() - t0 < 3000, 'deaf: typed text arrived', `${Date.now() - t0} ms after the first key`);
  }
  check(await page.evaluate(() => window.splitApp.deaf.rtt.text('you')) === 'hi there\n', 'deaf: You pane shows what was sent');

  // VCO / HCO toggles.
  await page.getByRole('button', { name: 'Voice to phone (VCO)' }).click();
  const co = await hub.wait('deaf: carry_over sent', 'carry_over');
  check(co && co.vco === true && !('session' in co) && !('hco' in co), 'deaf: carry_over {vco: true}, no session field', JSON.stringify(co));
  await eventually('deaf: VCO on: pressed, microphone enabled, said in text', () => page.evaluate(() => document.querySelector('#vco').getAttribute('aria-pressed') === 'true'
    && window.splitApp.deaf.micEnabled === true && /VCO on/.test(document.querySelector('#status').textContent)));
  interp.phone = { state: 'connected', to: '+15551230000', leg: 'sip_p1' };
  hub.push({ type: 'session', session: SID, state: 'active', mode: 'interpreter', held: false, agent: { id: '', name: 'Ana' }, interpreter: interp });
  await eventually('deaf: phone state in text', () => page.evaluate(() => document.querySelector('#status').textContent === 'Connected to +15551230000.' && /Connected to/.test(document.querySelector('#phone-line').textContent)));
  await page.getByRole('button', { name: 'Larger text' }).click();
  check(await page.evaluate(() => window.splitApp.deaf.textScale) > 1, 'deaf: A+ enlarges the text');
  await page.getByRole('button', { name: 'Smaller text' }).click();
  await audit(page, 'deaf-active');
  await page.getByRole('button', { name: 'Hang up' }).click();
  await hub.wait('deaf: hangup sent', 'hangup');
  check(errs.length === 0, 'deaf: no console errors', errs.join(' | '));
  await ctx.close();
}

// ---- the interpreter console -----------------------------------------------------------------

{
  const ctx = await browser.newContext({ permissions: ['camera', 'microphone'], viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errs = consoleErrors(page);
  let agent = { type: 'agent', id: 'int1', name: 'Ana', state: 'logged_out', since: new Date().toISOString(), queues: [] };
  const interp = { sign_language: 'ase', language: 'en', vco: false, hco: false, side_talk: false, deaf_user: 'joined', phone: { state: 'none', to: '+15551230000' },
    interpreters: [{ leg: 'rtc_i1', id: 'int1', name: 'Ana', lead: true, since: new Date(Date.now() - 65000).toISOString() }] };
  const session = () => ({ type: 'session', session: SID, state: 'active', mode: 'interpreter', held: false, agent: { id: 'int1', name: 'Ana' },
    customer: { name: 'Luis', sign_language: 'ase', language: 'en' }, interpreter: interp });
  const hub = await fakeHub(page, async (m, h) => {
    const set = (state) => { agent = { ...agent, state, queues: ['interp-ase-en'], since: new Date().toISOString() }; h.push(agent); };
    if (m.type === '_open') h.push({ type: 'hello', role: 'agent', identity: 'int1', ice_servers: [], server: 'split/test', queues: ['interp-ase-en', 'interp-bfi-en'], agent, interpreter: INTERP });
    if (m.type === 'login') set('not_ready');
    if (m.type === 'ready') set(m.ready ? 'ready' : 'not_ready');
    if (m.type === 'accept') { await peer.evaluate(([s]) => window.hub.accepted('console', s), [m.sdp]); set('busy'); h.push(session()); }
    if (m.type === 'dial') { interp.phone = { state: 'connected', to: m.to, leg: 'sip_p1' }; h.push(session()); }
    if (m.type === 'side_talk') { interp.side_talk = m.side_talk; h.push(session()); }
    if (m.type === 'carry_over') { Object.assign(interp, 'vco' in m ? { vco: m.vco } : {}, 'hco' in m ? { hco: m.hco } : {}); h.push(session()); }
    if (m.type === 'release') { interp.phone = { ...interp.phone, state: 'ended', code: 200, reason: 'Hung up' }; h.push(session()); }
    if (m.type === 'hangup') { h.push({ type: 'ended', session: SID, leg: 'rtc_i1', code: 200, reason: 'Interpreter hung up' }); set('wrap_up'); }
  });
  await page.goto(`${BASE}/interpreter.html#token=fake-agent-token`);
  await eventually('console: connected, logged out', () => page.evaluate(() => window.splitApp.agentState === 'logged_out' && !document.querySelector('#console').hidden));
  await page.getByRole('button', { name: 'Log in' }).click();
  await hub.wait('console: login sent', 'login');
  await page.getByRole('button', { name: 'Ready', exact: true }).click();
  await eventually('console: ready', () => page.evaluate(() => window.splitApp.agentState === 'ready'));
  await audit(page, 'console-ready');

  const sdp = await peer.evaluate(() => window.hub.offer('console'));
  hub.push({ type: 'offer', leg: 'rtc_i1', session: SID, sdp, queue: 'interp-ase-en', from: 'Luis', video: true, ring_timeout: 20,
    customer: { name: 'Luis', sign_language: 'ase', language: 'en' }, interpreter: { purpose: 'interpret', sign_language: 'ase', language: 'en', to: '+15551230000' } });
  await eventually('console: the offer card in text', () => page.evaluate(() => {
    const t = document.querySelector('#offer').innerText;
    return !document.querySelector('#offer').hidden && t.includes('American Sign Language (ase)') && t.includes('English') && t.includes('New call')
      && t.includes('+15551230000') && /Ringing: \d+ s left/.test(t) ? t : null;
  }));
  await audit(page, 'console-offer');
  await page.getByRole('button', { name: 'Accept' }).click();
  const acc = await hub.wait('console: accept sent', 'accept');
  check(acc && acc.leg === 'rtc_i1' && /^m=application /m.test(acc.sdp), 'console: accept {leg, sdp} keeps the data channel');
  await eventually('console: video of D decoded', () => page.evaluate(() => document.querySelector('#remote-video').videoWidth > 0));
  await eventually('console: routing summary without a phone call', () => page.evaluate(() => document.querySelector('#routing').textContent === 'Phone hears: no call. Deaf user hears: nothing. You hear: nothing.'));
  check(await page.evaluate(() => document.querySelector('#dial-to').value) === '+15551230000', 'console: the number defaults to offer.interpreter.to');
  await eventually('console: own t140 channel reached the hub', () => peer.evaluate(() => window.hub.got('console')?.protocol === 't140'));

  await page.fill('#dial-to', '+1 555 123 0001');
  await page.getByRole('button', { name: 'Dial' }).click();
  const dial = await hub.wait('console: dial sent', 'dial');
  check(dial && dial.session === SID && dial.to === '+1 555 123 0001', 'console: dial {session, to} with the edited number', JSON.stringify(dial));
  await eventually('console: phone connected, summary "Phone hears: you…"', () => page.evaluate(() => document.querySelector('#routing').textContent === 'Phone hears: you. Deaf user hears: nothing. You hear: phone.'
    && /Connected to \+1 555 123 0001/.test(document.querySelector('#phone-state').textContent)));

  // Mute to phone by its shortcut, while the RTT field has focus.
  await page.focus('#rtt-input');
  check(await page.evaluate(() => document.querySelector('#sidetalk').getAttribute('aria-keyshortcuts')) === 'Alt+Shift+M', 'console: Mute to phone has aria-keyshortcuts');
  await page.keyboard.press('Alt+Shift+KeyM');
  const st = await hub.wait('console: side_talk sent by Alt+Shift+M', 'side_talk');
  check(st && st.session === SID && st.side_talk === true, 'console: side_talk {session, side_talk: true}');
  await eventually('console: banner "The phone cannot hear you", pressed, summary', () => page.evaluate(() => !document.querySelector('#sidetalk-banner').hidden
    && document.querySelector('#sidetalk-banner').textContent === 'The phone cannot hear you' && document.querySelector('#sidetalk').getAttribute('aria-pressed') === 'true'
    && document.querySelector('#routing').textContent === 'Phone hears: nothing. Deaf user hears: you. You hear: phone.'));
  check(await page.evaluate(() => document.querySelector('#rtt-input').value) === '', 'console: the shortcut typed nothing');
  await audit(page, 'console-sidetalk');
  await page.getByRole('button', { name: 'Mute to phone' }).click();
  await eventually('console: side talk off again', () => page.evaluate(() => document.querySelector('#sidetalk-banner').hidden));

  await page.getByRole('button', { name: /^VCO/ }).click();
  const co = await hub.wait('console: carry_over sent', 'carry_over');
  check(co && co.session === SID && co.vco === true && !('hco' in co), 'console: carry_over {session, vco: true}');
  await page.getByRole('button', { name: /^HCO/ }).click();
  await hub.wait('console: carry_over {hco} sent', 'carry_over', (m) => m.hco === true && !('vco' in m));
  await page.fill('#dtmf-digits', '1#');
  await page.getByRole('button', { name: 'Send tones' }).click();
  const dt = await hub.wait('console: dtmf sent', 'dtmf');
  check(dt && dt.session === SID && dt.digits === '1#', 'console: dtmf {session, digits}');
  check(await page.evaluate(() => document.querySelector('#lead').disabled), 'console: Make lead disabled with no other interpreter');
  await page.fill('#handoff-to', 'queue:interp-ase-en');
  await page.getByRole('button', { name: 'Add team interpreter' }).click();
  const tm = await hub.wait('console: team sent', 'team');
  check(tm && tm.session === SID && tm.to === 'queue:interp-ase-en', 'console: team {session, to}');
  interp.interpreters = [...interp.interpreters, { leg: 'rtc_i2', id: 'int2', name: 'Ben', lead: false, since: new Date().toISOString() }];
  hub.push(session());
  await eventually('console: Make lead passes the lead to the partner', () => page.evaluate(() => !document.querySelector('#lead').disabled && /Ben becomes the lead/.test(document.querySelector('#lead-hint').textContent)));
  await page.keyboard.press('Alt+Shift+KeyL');
  const ld = await hub.wait('console: lead sent by Alt+Shift+L', 'lead');
  check(ld && ld.session === SID && ld.leg === 'rtc_i2', 'console: lead {session, leg}');
  await page.getByRole('button', { name: 'Hand off' }).click();
  const ho = await hub.wait('console: handoff sent', 'handoff');
  check(ho && ho.session === SID && ho.to === 'queue:interp-ase-en', 'console: handoff {session, to}');
  await eventually('console: interpreter minutes shown', () => page.evaluate(() => /Interpreter time this session: \d+ min \d+ s \(you 1 min/.test(document.querySelector('#minutes').textContent)));

  // RTT from the deaf user and from the partner; the console's own text.
  check(await peer.evaluate(() => window.hub.open('console', 'deaf-user/rtc_d1')), 'console: channel deaf-user/rtc_d1 opens');
  check(await peer.evaluate(() => window.hub.open('console', 'interpreter/rtc_i2')), 'console: channel interpreter/rtc_i2 opens');
  await peer.evaluate(() => { window.hub.send('console', 'deaf-user/rtc_d1', 'call my bank\r\n\x1b[1mplease\x1b[0m\u0007'); window.hub.send('console', 'interpreter/rtc_i2', 'I take over'); });
  await eventually('console: D\'s text in the Deaf user pane (filtered)', () => page.evaluate(() => window.splitApp.rtt.text('deaf-user') === 'call my bank\nplease'));
  await eventually('console: the partner\'s text in its own pane', () => page.evaluate(() => window.splitApp.rtt.text('interpreter/rtc_i2') === 'I take over' && document.querySelector('#rtt-interpreter-rtc-i2 h3').textContent === 'Partner: Ben'));
  await eventually('console: BEL flashes the pane', () => page.evaluate(() => /calling your attention/.test(document.querySelector('#rtt-announce').textContent)));
  check(await page.evaluate(() => document.querySelectorAll('[role=log][aria-live=off]').length) >= 4, 'console: panes are role=log, not read per character');
  await page.focus('#rtt-input');
  await page.keyboard.type('one moment');
  await eventually('console: typed text reaches the hub', () => peer.evaluate(() => window.hub.got('console').text === 'one moment'));
  await audit(page, 'console-team-rtt');

  await page.getByRole('button', { name: 'Hang up phone' }).click();
  const rl = await hub.wait('console: release sent', 'release');
  check(rl && rl.session === SID, 'console: release {session}');
  await eventually('console: the phone ended, in text', () => page.evaluate(() => /ended \(200 Hung up\)/.test(document.querySelector('#phone-state').textContent)));
  await page.getByRole('button', { name: 'End call' }).click();
  const hu = await hub.wait('console: hangup sent', 'hangup');
  check(hu && hu.session === SID, 'console: End call is hangup {session}');
  await eventually('console: wrap-up after the call', () => page.evaluate(() => window.splitApp.agentState === 'wrap_up' && !window.splitApp.call.live));
  check(errs.length === 0, 'console: no console errors', errs.join(' | '));
  await ctx.close();
}

await browser.close();
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
