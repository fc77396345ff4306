// Debian's Firefox ESR for SPLIT's end-to-end tests, driven by puppeteer-core
// over WebDriver BiDi (Playwright cannot drive a stock Firefox; no browser is
// ever downloaded). It exports `firefox`, whose launch() returns a browser
// with the subset of Playwright's API that pages.mjs and browser.mjs use, so
// both drivers speak the same protocol to the Go tests in Chromium and in
// Firefox: set E2E_BROWSER=firefox (pages.mjs) or "browser": "firefox"
// (browser.mjs's options).
//
// Selectors: CSS as in Playwright, and Playwright's role selectors
// `role=button[name="Video call"]` (the name matches case-insensitively as
// a substring; `[name="…"s]` matches exactly), resolved in the page.
//
// Not carried over: newContext's isMobile/hasTouch (BiDi has no device
// emulation here) and the page 'crash' event.
//
// Process clean-up: puppeteer starts Firefox detached, in its own process
// group. close() ends that group by PID; with FIREFOX_PIDFILE set, the PID
// is written there too, so that the Go test can end the group if node dies
// first. The profile is a temporary directory under $TMPDIR, removed by
// close() (the Go tests point TMPDIR at the test's own temporary directory).
//
// Environment: FIREFOX (default /usr/bin/firefox-esr), FIREFOX_PIDFILE,
// FIREFOX_DUMPIO=1 (Firefox's own output to stderr).
import puppeteer, { Puppeteer } from 'puppeteer-core';
import { writeFileSync } from 'node:fs';

// Prefs on top of puppeteer's own automation prefs (see
// ../../../shared/research/harness/firefox/README.md for why each is needed).
export const PREFS = {
  // fake camera (coloured frames) and microphone (1 kHz sine), no prompt
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Without a camera/microphone permission Firefox gathers only the address
  // of the default route, which a loopback-only netns does not have: every
  // origin gets both permissions, and a fake capture counts as capturing.
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.navigator.permission.fake': true,
  'media.peerconnection.ice.loopback': true, // 127.0.0.1 / ::1 candidates
  'media.peerconnection.ice.obfuscate_host_addresses': false, // no mDNS .local candidates
  'media.autoplay.default': 0, // <audio> and AudioContext without a gesture
  'media.cubeb.force_mock_context': true, // no sound card here: else an AudioContext stays suspended
  // Firefox's own traffic off (the netns blocks it anyway)
  'app.update.auto': false,
  'app.update.disabledForTesting': true,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.server': '',
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.usage.uploadEnabled': false,
  'datareporting.healthreport.documentServerURI': 'http://127.0.0.1:9/dummy/healthreport/',
  'browser.newtabpage.activity-stream.feeds.section.topstories': false,
  'browser.topsites.contile.enabled': false,
  'browser.crashReports.unsubmittedCheck.autoSubmit2': false,
  'breakpad.reportURL': '',
  'network.captive-portal-service.enabled': false,
  'captivedetect.canonicalURL': '',
  'network.connectivity-service.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.google4.gethashURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.safebrowsing.provider.mozilla.gethashURL': '',
  'app.normandy.enabled': false,
  'app.normandy.api_url': '',
  'app.shield.optoutstudies.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'extensions.systemAddon.update.url': '',
  'extensions.blocklist.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'media.gmp-manager.updateEnabled': false, // no OpenH264 download: Firefox here has no H.264
  'media.gmp-manager.url': '',
  'media.gmp-gmpopenh264.enabled': false,
  'media.gmp-widevinecdm.enabled': false,
  'media.eme.enabled': false,
  'dom.push.connection.enabled': false,
  'dom.push.serverURL': '',
  'identity.fxaccounts.enabled': false,
  'network.trr.mode': 5,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.http.speculative-parallel-limit': 0,
  'browser.urlbar.speculativeConnect.enabled': false,
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'geo.provider.network.url': '',
  'browser.translations.enable': false,
  'browser.ml.enable': false,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'security.remote_settings.intermediates.enabled': false,
  // effective only with MOZ_DISABLE_NONLOCAL_CONNECTIONS=1 (set at launch)
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
  'network.sntp.pools': '127.0.0.1',
};

// Playwright's role=…[name=…] resolved in the page (registered once).
let registered = false;
function registerRoleHandler() {
  if (registered) return;
  registered = true;
  Puppeteer.registerCustomQueryHandler('pwrole', {
    queryAll: (root, selector) => {
      const q = JSON.parse(selector);
      const implicit = {
        button: 'button, input[type=button], input[type=submit], input[type=reset], [role=button]',
        textbox: 'input:not([type]), input[type=text], input[type=email], input[type=tel], input[type=url], input[type=search], input[type=number], textarea, [role=textbox]',
        link: 'a[href], [role=link]',
        checkbox: 'input[type=checkbox], [role=checkbox]',
        radio: 'input[type=radio], [role=radio]',
        combobox: 'select, [role=combobox]',
        heading: 'h1, h2, h3, h4, h5, h6, [role=heading]',
        dialog: 'dialog, [role=dialog]',
      };
      const norm = (s) => String(s || '').replace(/\s+/g, ' ').trim();
      const doc = root.ownerDocument || root;
      const nameOf = (el) => {
        const by = el.getAttribute('aria-labelledby');
        if (by) return by.split(/\s+/).map((id) => (doc.getElementById(id) || {}).textContent || '').join(' ');
        if (el.getAttribute('aria-label')) return el.getAttribute('aria-label');
        if (el.tagName === 'INPUT' && ['button', 'submit', 'reset'].includes(el.type)) return el.value;
        if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) {
          if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(' ');
          return el.getAttribute('title') || el.getAttribute('placeholder') || '';
        }
        return el.textContent || el.getAttribute('title') || '';
      };
      const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[aria-hidden=true]');
      const out = [];
      for (const el of root.querySelectorAll(implicit[q.role] || `[role=${q.role}]`)) {
        const role = el.getAttribute('role');
        if (role && role !== q.role) continue;
        if (!visible(el)) continue;
        if (q.name != null) {
          const n = norm(nameOf(el));
          if (q.exact ? n !== q.name : !n.toLowerCase().includes(norm(q.name).toLowerCase())) continue;
        }
        out.push(el);
      }
      return out;
    },
  });
}

// translate maps a Playwright selector to puppeteer's.
export function translate(sel) {
  const m = /^role=([a-z]+)(?:\[name=(["'])(.*)\2([si]?)\])?$/.exec(String(sel).trim());
  if (m) return 'pwrole/' + JSON.stringify({ role: m[1], name: m[3] ?? null, exact: m[4] === 's' });
  return sel;
}

// PWPage: a puppeteer Page (or Frame) behind Playwright's method names.
class PWPage {
  constructor(p, isFrame = false) {
    this.p = p;
    this.isFrame = isFrame;
    this.timeout = 30000;
    this.keyboard = { press: (k) => (isFrame ? p.page() : p).keyboard.press(k) };
  }

  on(ev, fn) {
    if (this.isFrame) return;
    if (ev === 'console') this.p.on('console', (m) => fn({ type: () => m.type(), text: () => m.text() }));
    else if (ev === 'pageerror' || ev === 'dialog') this.p.on(ev, fn);
    // 'crash': not reported over BiDi
  }

  setDefaultTimeout(t) {
    this.timeout = t;
    if (!this.isFrame) this.p.setDefaultTimeout(t);
  }

  url() { return this.p.url(); }
  title() { return this.p.title(); }
  isClosed() { return this.isFrame ? this.p.detached : this.p.isClosed(); }
  goto(url, o = {}) { return this.p.goto(url, { waitUntil: 'load', timeout: o.timeout ?? this.timeout }); }
  setViewportSize({ width, height }) { return this.p.setViewport({ width, height }); }
  evaluate(fn, arg) { return this.p.evaluate(fn, arg); }
  evaluateHandle(fn, arg) { return this.p.evaluateHandle(fn, arg); }
  waitForFunction(fn, arg, o = {}) {
    return this.p.waitForFunction(fn, { timeout: o.timeout ?? this.timeout, polling: 100 }, arg);
  }

  locator(sel, o = {}) { return this.p.locator(translate(sel)).setTimeout(o.timeout ?? this.timeout); }
  click(sel, o) { return this.locator(sel, o).click(); }
  fill(sel, value, o) { return this.locator(sel, o).fill(String(value)); }
  async press(sel, key, o) {
    const h = await this.locator(sel, o).waitHandle();
    try { await h.press(key); } finally { await h.dispose(); }
  }

  async isChecked(sel) { return this.p.$eval(translate(sel), (el) => !!el.checked); }

  async waitForSelector(sel, o = {}) {
    const h = await this.p.waitForSelector(translate(sel), { timeout: o.timeout ?? this.timeout });
    return {
      contentFrame: async () => {
        const f = await h.contentFrame();
        return f ? new PWPage(f, true) : null;
      },
    };
  }

  async waitForLoadState() {
    await this.p.waitForFunction(() => document.readyState === 'complete', { timeout: this.timeout, polling: 100 });
  }

  screenshot(o) { return (this.isFrame ? this.p.page() : this.p).screenshot({ path: o.path, fullPage: o.fullPage !== false }); }
  close() { return this.p.close(); }
}

const VIEWPORT = { width: 1280, height: 720 }; // Playwright's default

class PWBrowser {
  constructor(b) {
    this.b = b;
    this.pid = b.process()?.pid ?? null;
  }

  isConnected() { return this.b.connected; }
  on(ev, fn) { if (ev === 'disconnected') this.b.on('disconnected', fn); }
  version() { return this.b.version(); }

  // newContext: an isolated user context (storage); camera and microphone
  // are granted by prefs for every page, so opts.permissions is implied.
  async newContext(opts = {}) {
    const ctx = await this.b.createBrowserContext();
    return {
      newPage: async () => {
        const p = await ctx.newPage();
        await p.setViewport(opts.viewport || VIEWPORT);
        return new PWPage(p);
      },
      close: () => ctx.close(),
    };
  }

  async newPage() {
    const p = await this.b.newPage();
    await p.setViewport(VIEWPORT);
    return new PWPage(p);
  }

  // close ends Firefox; whatever is left of its process group is killed.
  async close() {
    try {
      await Promise.race([this.b.close(), new Promise((r) => setTimeout(r, 5000))]);
    } catch { /* already gone */ }
    killGroup(this.pid);
  }
}

function killGroup(pid) {
  if (!pid) return;
  try { process.kill(-pid, 'SIGKILL'); } catch { /* no such group: already ended */ }
}

export const firefox = {
  async launch() {
    registerRoleHandler();
    const b = await puppeteer.launch({
      browser: 'firefox',
      executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
      headless: true,
      acceptInsecureCerts: true,
      extraPrefsFirefox: PREFS,
      dumpio: process.env.FIREFOX_DUMPIO === '1',
      timeout: 60000,
      protocolTimeout: 180000,
      // Firefox's own test switch: the network stack refuses non-local
      // connections (and it makes services.settings.server take effect).
      env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1', MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1' },
    });
    const pw = new PWBrowser(b);
    if (process.env.FIREFOX_PIDFILE && pw.pid) writeFileSync(process.env.FIREFOX_PIDFILE, String(pw.pid));
    process.on('exit', () => killGroup(pw.pid));
    return pw;
  },
};
