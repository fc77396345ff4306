// Drives SPLIT's softphone page in Debian's headless Chromium (fake camera and
// microphone) and prints one JSON result line. Used by the Go e2e tests.
//
//   node browser.mjs '<json options>'
//
// options: { url, mode: "call"|"answer", to, video, talkMs, dtmf, hangup: "local"|"remote",
//            timeoutMs, screenshot, browser: "chromium"|"firefox" }
// (browser "firefox": Debian's Firefox ESR through firefox.mjs, same flow and result)
// result:  { states: [...], ended: {code, reason}, stats: {...}, dtmfReceived: "...",
//            audioPeakHz, errors: [...] }
import { chromium } from 'playwright-core';

const opt = JSON.parse(process.argv[2]);
const timeout = opt.timeoutMs ?? 30000;
const out = { states: [], errors: [], dtmfReceived: '' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const engine = opt.browser === 'firefox' ? (await import('./firefox.mjs')).firefox : chromium;
const browser = await engine.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
});
try {
  out.browserVersion = await browser.version();
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') out.errors.push(m.text()); });
  page.on('pageerror', (e) => out.errors.push(String(e)));
  await page.goto(opt.url);
  await page.waitForFunction(() => window.splitPhone && window.splitPhone.client && window.splitPhone.client.connected, null, { timeout });

  // Record every state change and DTMF digit of every call.
  await page.evaluate(() => {
    window.__states = [];
    window.__dtmf = '';
    const watch = (call) => {
      call.addEventListener('state', (e) => window.__states.push({ state: e.detail.state, code: e.detail.code, reason: e.detail.reason }));
      call.addEventListener('dtmf', (e) => { window.__dtmf += e.detail.digit; });
    };
    window.__watch = watch;
    const c = window.splitPhone.client;
    c.addEventListener('incoming', (e) => watch(e.detail));
    // Keep the latest stats of the live call: the far end may hang up before we ask.
    window.__lastStats = null;
    setInterval(async () => {
      const call = window.splitPhone.currentCall;
      if (call && (call.state === 'active' || call.state === 'held' || call.state === 'early')) {
        try { window.__lastStats = await call.getStats(); } catch (e) { /* call ending */ }
      }
    }, 500);
    const orig = c.call.bind(c);
    c.call = (...a) => { const call = orig(...a); watch(call); return call; };
  });

  await page.evaluate(() => { const c = window.splitPhone.currentCall; if (c) window.__watch && window.__watch(c); });
  console.log('READY');
  if (opt.mode === 'call') {
    await page.fill('#dial', opt.to);
    if (!!opt.video !== (await page.isChecked('#video-toggle'))) await page.click('#video-toggle');
    await page.click('#call');
  } else {
    await page.waitForFunction(() => window.__states.length > 0 || (window.splitPhone.currentCall && window.splitPhone.currentCall.state === 'ringing'), null, { timeout });
    if (opt.mode === 'ring') {
      opt.reject = true; // just ring until the caller gives up
    } else if (opt.reject) {
      await page.click('#reject');
    } else {
      await page.click('#answer');
    }
  }
  const ended = () => window.splitPhone.lastCall && window.splitPhone.lastCall.state === 'ended';
  if (opt.earlyStats) {
    await page.waitForFunction(() => window.__states.some((s) => s.state === 'early'), null, { timeout });
    await sleep(1500);
    out.earlyStats = await page.evaluate(() => (window.splitPhone.currentCall ? window.splitPhone.currentCall.getStats() : null));
  }
  if (!opt.reject) {
    await page.waitForFunction(() => {
      const c = window.splitPhone.currentCall || window.splitPhone.lastCall;
      return c && (c.state === 'active' || c.state === 'ended');
    }, null, { timeout });
  }
  const t0 = Date.now();
  if (opt.dtmf) {
    await sleep(1500);
    for (const d of opt.dtmf) {
      const id = d === '*' ? 'key-star' : d === '#' ? 'key-hash' : `key-${d}`;
      await page.click(`#${id}`);
      await sleep(400);
    }
  }
  if (opt.hold) {
    await sleep(1000);
    await page.click('#hold');
    await page.waitForFunction(() => window.__states.some((s) => s.state === 'held'), null, { timeout: 10000 });
    await sleep(1000);
    await page.click('#resume');
    await page.waitForFunction(() => window.__states.filter((s) => s.state === 'active').length >= 2, null, { timeout: 10000 });
  }
  const rest = (opt.talkMs ?? 4000) - (Date.now() - t0);
  if (rest > 0 && !opt.reject) {
    // Stop early if the far end hangs up.
    await page.waitForFunction(ended, null, { timeout: rest }).catch(() => {});
  }
  // Measure what the page hears: dominant frequency of the remote audio.
  const peak = await page.evaluate(async () => {
    const call = window.splitPhone.currentCall;
    if (!call) return { why: 'no current call' };
    const stream = call.remoteStream;
    if (!stream || stream.getAudioTracks().length === 0) return { why: 'no remote audio track' };
    const ctx = new AudioContext();
    await ctx.resume();
    const src = ctx.createMediaStreamSource(stream);
    const an = ctx.createAnalyser();
    an.fftSize = 8192;
    an.smoothingTimeConstant = 0;
    src.connect(an);
    const bins = new Float32Array(an.frequencyBinCount);
    let bestDb = -Infinity, bestHz = 0;
    // The fake microphone beeps; sample for 2.5 s and keep the strongest bin.
    for (let k = 0; k < 25; k++) {
      await new Promise((r) => setTimeout(r, 100));
      an.getFloatFrequencyData(bins);
      for (let i = 2; i < bins.length; i++) {
        if (bins[i] > bestDb) { bestDb = bins[i]; bestHz = (i * ctx.sampleRate) / an.fftSize; }
      }
    }
    ctx.close();
    return { hz: bestHz, db: bestDb };
  }).catch((e) => ({ why: String(e) }));
  out.audioPeak = peak;
  out.audioPeakHz = peak && peak.db > -80 ? peak.hz : null;
  const call = await page.evaluateHandle(() => window.splitPhone.currentCall || window.splitPhone.lastCall);
  out.stats = await page.evaluate((c) => (c && c.state !== 'ended' ? c.getStats() : window.__lastStats), call).catch((e) => { out.errors.push(String(e)); return null; });
  if (opt.screenshot) await page.screenshot({ path: opt.screenshot });
  if (opt.hangup === 'local' && !opt.reject) {
    await page.click('#hangup');
  }
  if (opt.hangup === 'close') {
    // The customer closes the tab: no hangup message, the socket just goes away.
    out.states = await page.evaluate(() => window.__states);
    await page.close();
    throw Object.assign(new Error('page closed'), { expected: true });
  }
  await page.waitForFunction(ended, null, { timeout }).catch((e) => out.errors.push('never ended: ' + e.message));
  Object.assign(out, await page.evaluate(() => {
    const c = window.splitPhone.lastCall;
    return { states: window.__states, dtmfReceived: window.__dtmf, ended: c ? { code: c.code, reason: c.reason } : null };
  }));
} catch (e) {
  if (!e.expected) out.errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
  console.log('RESULT ' + JSON.stringify(out));
}
