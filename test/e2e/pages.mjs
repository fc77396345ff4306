// Long-lived Playwright driver for SPLIT's session pages (customer.html,
// agent.html, admin.html). One headless Chromium (Debian's, fake camera and
// microphone); every named page gets its own BrowserContext (isolated
// storage) with camera and microphone permissions.
//
//   node pages.mjs            (CHROMIUM=/path overrides /usr/bin/chromium)
//   E2E_FAKE_AUDIO=/abs/speech.wav node pages.mjs   (the microphone plays the file)
//   E2E_BROWSER=firefox node pages.mjs
//                             the same protocol in Debian's Firefox ESR
//                             (firefox.mjs: puppeteer-core over WebDriver BiDi)
//
// stdin: one JSON command per line; stdout: exactly one JSON line per command,
//   {"id":<id>,"ok":true,"value":<json>}  or  {"id":<id>,"ok":false,"error":"…"}
// and nothing else (diagnostics go to stderr). Commands for one page run in
// order; commands for different pages run concurrently, so answers can come
// back out of order: match them by id.
//
//   {"id":1,"cmd":"open","page":"cust","url":"http://127.0.0.1:18080/customer.html?autostart=1",
//          "viewport":{"width":360,"height":740}?, "timeoutMs":30000?}   → {url, title}
//   {"id":2,"cmd":"click","page":"cust","selector":"role=button[name=\"Video call\"]","timeoutMs"?}
//   {"id":3,"cmd":"fill","page":"agent","selector":"#token","value":"…"}
//   {"id":31,"cmd":"press","page":"cust","key":"Tab","selector"?}  keyboard (on the focused element,
//          or on `selector`)
//   {"id":4,"cmd":"eval","page":"cust","js":"window.splitApp.state"}        (expression, or a
//          function source such as "async () => …", which is called) → its JSON value
//   {"id":5,"cmd":"waitFor","page":"cust","js":"window.splitApp.state === 'active'","timeoutMs":30000}
//          → the first truthy value (exceptions count as "not yet"; on timeout the error
//          names the last exception or value)
//   {"id":6,"cmd":"stats","page":"cust"}                 → await window.splitApp.stats()
//   {"id":7,"cmd":"screenshot","page":"cust","path":"/abs/file.png"}
//   {"id":71,"cmd":"resize","page":"cust","viewport":{"width":768,"height":1024}}  the page's
//          viewport, without loading it again (a call goes on)
//   {"id":8,"cmd":"console","page":"cust"}               → [errors…] (console errors and page
//          errors collected since the last call; the list is cleared)
//   {"id":9,"cmd":"close","page":"cust"}
//   {"id":10,"cmd":"pages"}                              → names of the open pages
// click, fill, eval, waitFor and stats also take "frame": a selector of an
// <iframe> to act in (e.g. "iframe" for the widget's customer page; open
// shadow roots are pierced).
// open also takes "isMobile": true (touch, mobile viewport behaviour), and
// "locale": "es-ES" (a browser in that language: navigator.language and
// Accept-Language; Chromium; set when the page is first opened).
//   {"id":11,"cmd":"quit"}                               → closes the browser and exits
// The driver exits on quit or at the end of stdin; a failing command never ends it.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const FIREFOX = process.env.E2E_BROWSER === 'firefox';
const engine = FIREFOX ? (await import('./firefox.mjs')).firefox : chromium;

// stdout carries the protocol only: route stray console output to stderr.
const out = process.stdout;
console.log = (...a) => console.error(...a);
console.info = (...a) => console.error(...a);
const debug = (...a) => { if (process.env.PAGES_DEBUG) console.error('[pages]', ...a); };

const LAUNCH = {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.*'],
};
// E2E_FAKE_AUDIO=<file.wav>: the fake microphone plays this file (looped)
// instead of a beep (Chromium only), e.g. a sentence for the example AI.
if (process.env.E2E_FAKE_AUDIO && !FIREFOX) LAUNCH.args.push(`--use-file-for-fake-audio-capture=${process.env.E2E_FAKE_AUDIO}`);
const DEFAULT_TIMEOUT = 30000;
const MAX_LOG = 500;

let browser = null;
let launching = null;
const pages = new Map(); // name -> {context, page, errors: []}
const inflight = new Set();
let quitting = false;

function reply(id, ok, valueOrError) {
  const msg = ok ? { id: id ?? null, ok: true, value: valueOrError === undefined ? null : valueOrError }
    : { id: id ?? null, ok: false, error: String(valueOrError || 'error') };
  let line;
  try {
    line = JSON.stringify(msg);
  } catch (err) {
    line = JSON.stringify({ id: id ?? null, ok: false, error: `result is not JSON: ${err.message}` });
  }
  out.write(line + '\n');
}

async function getBrowser() {
  if (browser && browser.isConnected()) return browser;
  if (!launching) {
    launching = engine.launch(LAUNCH).then((b) => {
      browser = b;
      b.on('disconnected', () => {
        debug('browser disconnected');
        if (browser === b) browser = null;
        pages.clear();
      });
      return b;
    }).finally(() => { launching = null; });
  }
  return launching;
}

function pageName(c) {
  const name = c.page;
  if (typeof name !== 'string' || !name) throw new Error('"page" (a name) is required');
  return name;
}

function entryOf(c) {
  const e = pages.get(pageName(c));
  if (!e || e.page.isClosed()) throw new Error(`no open page "${c.page}" (open it first)`);
  return e;
}

function pushError(e, text) {
  e.errors.push(text);
  if (e.errors.length > MAX_LOG) e.errors.splice(0, e.errors.length - MAX_LOG);
}

async function openPage(c) {
  const name = pageName(c);
  if (typeof c.url !== 'string' || !c.url) throw new Error('"url" is required');
  const timeout = c.timeoutMs ?? DEFAULT_TIMEOUT;
  let e = pages.get(name);
  if (!e || e.page.isClosed()) {
    const b = await getBrowser();
    const opts = { permissions: ['camera', 'microphone'], ignoreHTTPSErrors: true };
    if (c.viewport && c.viewport.width && c.viewport.height) opts.viewport = { width: c.viewport.width, height: c.viewport.height };
    if (c.isMobile) Object.assign(opts, { isMobile: true, hasTouch: true });
    // a browser in this language: navigator.language and Accept-Language
    if (typeof c.locale === 'string' && c.locale) {
      opts.locale = c.locale;
      opts.extraHTTPHeaders = { 'Accept-Language': `${c.locale},${c.locale.split('-')[0]};q=0.9` };
    }
    const context = await b.newContext(opts);
    const page = await context.newPage();
    e = { context, page, errors: [] };
    pages.set(name, e);
    const entry = e;
    page.on('console', (m) => {
      if (m.type() === 'error') pushError(entry, m.text());
      debug(`${name} console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => pushError(entry, `pageerror: ${err && (err.stack || err.message) || err}`));
    page.on('crash', () => pushError(entry, 'page crashed'));
    page.on('dialog', (d) => { d.accept().catch(() => {}); });
    page.setDefaultTimeout(timeout);
  } else if (c.viewport && c.viewport.width && c.viewport.height) {
    await e.page.setViewportSize({ width: c.viewport.width, height: c.viewport.height });
  }
  // Leave the current document first: a URL that differs only in its
  // fragment (agent.html#token=…) would otherwise not load the page again.
  if (e.page.url() !== 'about:blank') await e.page.goto('about:blank', { timeout }).catch(() => {});
  await e.page.goto(c.url, { waitUntil: 'load', timeout });
  return { url: e.page.url(), title: await e.page.title() };
}

// The page, or the frame of the <iframe> that c.frame selects (CSS/Playwright
// selector; open shadow roots are pierced, e.g. the widget's iframe).
async function target(c) {
  const e = entryOf(c);
  if (!c.frame) return e.page;
  const handle = await e.page.waitForSelector(c.frame, { state: 'attached', timeout: c.timeoutMs ?? DEFAULT_TIMEOUT });
  const frame = await handle.contentFrame();
  if (!frame) throw new Error(`${c.frame} is not a frame`);
  if (frame.url() === 'about:blank' || !frame.url()) await frame.waitForLoadState('load').catch(() => {});
  return frame;
}

// Evaluate an expression or function source in the page; functions are called.
function evalIn(page, js) {
  if (typeof js !== 'string' || !js.trim()) throw new Error('"js" is required');
  return page.evaluate(async (src) => {
    // Indirect eval: global scope, like a <script>.
    let v = (0, eval)(src);
    if (typeof v === 'function') v = v();
    v = await v;
    if (v === undefined) return null;
    // Make sure the value survives as JSON (Maps, DOM nodes, cycles…).
    try {
      return JSON.parse(JSON.stringify(v));
    } catch (err) {
      return String(v);
    }
  }, js);
}

async function waitFor(c) {
  const e = entryOf(c);
  const where = await target(c);
  const timeout = c.timeoutMs ?? DEFAULT_TIMEOUT;
  const interval = Math.max(20, c.pollMs ?? 100);
  const deadline = Date.now() + timeout;
  let last = 'never evaluated';
  for (;;) {
    if (e.page.isClosed()) throw new Error(`page "${c.page}" was closed`);
    try {
      const left = Math.max(1, deadline - Date.now());
      const v = await Promise.race([
        evalIn(where, c.js),
        new Promise((_, rej) => setTimeout(() => rej(new Error('evaluation did not finish')), Math.min(left, 10000))),
      ]);
      if (v) return v;
      last = `value ${JSON.stringify(v)}`;
    } catch (err) {
      const m = (err && err.message || String(err)).split('\n')[0];
      // An evaluation cut short by the deadline says nothing new.
      if (m !== 'evaluation did not finish' || last === 'never evaluated') last = `exception: ${m}`;
    }
    if (Date.now() >= deadline) throw new Error(`waitFor timed out after ${timeout} ms (last: ${last}): ${c.js}`);
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now()))));
  }
}

async function closePage(c) {
  const name = pageName(c);
  const e = pages.get(name);
  pages.delete(name);
  if (!e) return false;
  await e.context.close().catch(() => {});
  return true;
}

const COMMANDS = {
  open: openPage,
  async click(c) {
    if (!c.selector) throw new Error('"selector" is required');
    await (await target(c)).click(c.selector, { timeout: c.timeoutMs ?? DEFAULT_TIMEOUT });
    return true;
  },
  async fill(c) {
    if (!c.selector) throw new Error('"selector" is required');
    await (await target(c)).fill(c.selector, String(c.value ?? ''), { timeout: c.timeoutMs ?? DEFAULT_TIMEOUT });
    return true;
  },
  async press(c) {
    if (!c.key) throw new Error('"key" is required (e.g. "Enter", "Tab", "Escape")');
    const t = await target(c);
    if (c.selector) await t.press(c.selector, c.key, { timeout: c.timeoutMs ?? DEFAULT_TIMEOUT });
    else await entryOf(c).page.keyboard.press(c.key);
    return true;
  },
  async eval(c) { return evalIn(await target(c), c.js); },
  waitFor,
  async stats(c) {
    return evalIn(await target(c), 'window.splitApp && typeof window.splitApp.stats === "function" ? window.splitApp.stats() : Promise.reject(new Error("window.splitApp.stats is not available"))');
  },
  async screenshot(c) {
    const e = entryOf(c);
    if (!c.path) throw new Error('"path" is required');
    await e.page.screenshot({ path: c.path, fullPage: c.fullPage !== false });
    return c.path;
  },
  async resize(c) {
    const e = entryOf(c);
    if (!c.viewport || !c.viewport.width || !c.viewport.height) throw new Error('"viewport" {width, height} is required');
    await e.page.setViewportSize({ width: c.viewport.width, height: c.viewport.height });
    // two animation frames: media queries and layout have settled
    await e.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    return e.page.viewportSize();
  },
  async console(c) {
    const e = entryOf(c);
    const errs = e.errors.slice();
    e.errors.length = 0;
    return errs;
  },
  close: closePage,
  async pages() { return [...pages.keys()]; },
  // {"cmd":"browser"} → {name, version}
  async browser() {
    const b = await getBrowser();
    return { name: FIREFOX ? 'firefox' : 'chromium', version: await b.version() };
  },
};

// quit: answer what is in flight (briefly), then close everything. At the
// end of stdin every command already read still runs to its end (each is
// bounded by its timeout), so that `node pages.mjs < commands` works too.
async function quit(code = 0, graceMs = 2000) {
  if (quitting) return;
  quitting = true;
  await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, graceMs))]);
  const b = browser;
  browser = null;
  if (b) await Promise.race([b.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  await new Promise((r) => out.write('', r));
  process.exit(code);
}

function handle(line) {
  if (!line.trim()) return;
  let c;
  try {
    c = JSON.parse(line);
  } catch (err) {
    reply(null, false, `malformed JSON command: ${err.message}`);
    return;
  }
  if (!c || typeof c !== 'object' || Array.isArray(c)) {
    reply(null, false, 'a command is a JSON object');
    return;
  }
  const { id } = c;
  if (c.cmd === 'quit') {
    reply(id, true, true);
    quit(0);
    return;
  }
  if (quitting) {
    reply(id, false, 'quitting');
    return;
  }
  const fn = Object.hasOwn(COMMANDS, c.cmd) ? COMMANDS[c.cmd] : null;
  if (!fn) {
    reply(id, false, `unknown command ${JSON.stringify(c.cmd)}`);
    return;
  }
  const run = async () => {
    try {
      reply(id, true, await fn(c));
    } catch (err) {
      // Keep Playwright's call log, drop JavaScript stack frames and colours.
      const text = ((err && err.message) || String(err))
        .split('\n').filter((l) => !/^\s+at /.test(l)).join('\n')
        .replace(/\u001b\[[0-9;]*m/g, '').trim();
      reply(id, false, text || 'error');
    }
  };
  // One queue per page name keeps each page's commands in order.
  let p;
  if (typeof c.page === 'string' && c.page) {
    const name = c.page;
    p = (queues.get(name) || Promise.resolve()).then(run);
    queues.set(name, p);
    p.then(() => { if (queues.get(name) === p) queues.delete(name); });
  } else {
    p = run();
  }
  inflight.add(p);
  p.then(() => inflight.delete(p));
}
// Tail of each page name's command queue (run() never rejects).
const queues = new Map();

process.on('unhandledRejection', (err) => console.error('[pages] unhandled rejection:', err));
process.on('uncaughtException', (err) => console.error('[pages] uncaught exception:', err));
process.on('SIGTERM', () => quit(0));
process.on('SIGINT', () => quit(0));
out.on('error', () => quit(0)); // the reader went away

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', handle);
rl.on('close', () => quit(0, 10 * 60 * 1000));

// Start the browser now so that the first `open` is quick; a failure is
// reported by the first command that needs it.
getBrowser().catch((err) => console.error(`[pages] cannot launch ${FIREFOX ? 'Firefox' : 'Chromium'}:`, err && err.message));
