/*
 * SPLIT widget — a "talk to us" button that any web site can embed. It opens a
 * panel with the hub's customer page (customer.html) in an iframe, so the video
 * call runs on the hub's own origin.
 *
 *   <script src="https://hub.example.com/widget.js" data-entry="support" data-label="Talk to us" async></script>
 *
 * The hub is the one that served this script (its URL is derived from the
 * script's own src). Attributes, all optional:
 *   data-entry="support"        the hub's public entry point (default "default")
 *   data-label="Talk to us"     the button's text and the panel's title (as given: the site's
 *                               own words; without it the hub's text in the visitor's language)
 *   data-lang="es"              the language of the widget and the customer page (without it:
 *                               the entry point's, then the browser's; docs/i18n.md)
 *   data-video="0"              preset a voice call instead of a video call
 *   data-autostart="1"          start calling as soon as the panel opens
 *   data-name="Ann"             the customer's name, if the site knows it
 *   data-context-order="42"     context key/values sent with the call (any number)
 *   data-position="left"        bottom-left instead of bottom-right
 *   data-open="1"               open the panel when the page loads
 *
 * Theme it from the host page with CSS custom properties, e.g.
 *   :root { --split-widget-accent: #0a7d45; --split-widget-radius: 12px; }
 * Properties: --split-widget-accent, --split-widget-accent-text, --split-widget-bg,
 * --split-widget-text, --split-widget-border, --split-widget-radius, --split-widget-font,
 * --split-widget-offset, --split-widget-width, --split-widget-height, --split-widget-z,
 * --split-widget-focus.
 *
 * JavaScript: window.SplitWidget.open(), .close(), .toggle(), .isOpen, .state
 * (the call's state as reported by the page: idle, waiting, active, ended, …).
 * Nothing else is added to the page's globals; the UI lives in a shadow root.
 */
(function () {
  'use strict';
  if (window.SplitWidget) return;

  var script = document.currentScript;
  if (!script || !script.src) {
    var all = document.querySelectorAll('script[src*="widget.js"]');
    script = all.length ? all[all.length - 1] : null;
  }
  if (!script) return;

  var data = script.dataset || {};
  var pageUrl = new URL('customer.html', new URL(script.src, location.href));
  var hubOrigin = pageUrl.origin;
  var entry = data.entry || 'default';
  var lang = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(data.lang || '') ? data.lang : '';
  var query = new URLSearchParams();
  query.set('entry', entry);
  query.set('embed', '1');
  if (lang) query.set('lang', lang);
  if (data.video === '0' || data.video === '1') query.set('video', data.video);
  if (data.autostart === '1' || data.autostart === 'true') query.set('autostart', '1');
  if (data.name) query.set('name', data.name);
  Object.keys(data).forEach(function (k) {
    // data-context-order-id → dataset.contextOrderId → ctx.orderId
    if (k.indexOf('context') === 0 && k.length > 7) {
      var key = k.charAt(7).toLowerCase() + k.slice(8);
      query.set('ctx.' + key, data[k]);
    }
  });
  pageUrl.search = query.toString();

  var CSS = [
    ':host { all: initial; }',
    '*, *::before, *::after { box-sizing: border-box; }',
    '.root { font: 15px/1.4 var(--split-widget-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);',
    '  color: var(--split-widget-text, #1b2330); }',
    '.launcher { position: fixed; bottom: var(--split-widget-offset, 20px); right: var(--split-widget-offset, 20px);',
    '  z-index: var(--split-widget-z, 2147483000); display: inline-flex; align-items: center; gap: 0.5em;',
    '  padding: 0.75em 1.2em; min-height: 48px; border: 0; border-radius: 999px; cursor: pointer;',
    '  font: inherit; font-weight: 600; background: var(--split-widget-accent, #1f6feb);',
    '  color: var(--split-widget-accent-text, #ffffff); box-shadow: 0 4px 16px rgba(0,0,0,0.25); }',
    '.left .launcher, .left .panel { right: auto; left: var(--split-widget-offset, 20px); }',
    '.launcher:hover { filter: brightness(1.08); }',
    '.launcher:focus-visible, .close:focus-visible { outline: 3px solid var(--split-widget-focus, #f0a500); outline-offset: 3px; }',
    '.launcher svg { width: 1.3em; height: 1.3em; flex: none; }',
    '.launcher .dot { width: 0.6em; height: 0.6em; border-radius: 50%; background: #3fb950; display: none; }',
    '.launcher.live .dot { display: inline-block; }',
    '.panel { position: fixed; bottom: calc(var(--split-widget-offset, 20px) + 64px); right: var(--split-widget-offset, 20px);',
    '  z-index: var(--split-widget-z, 2147483000); width: var(--split-widget-width, 400px);',
    '  height: var(--split-widget-height, 620px); max-height: calc(100vh - 110px); max-width: calc(100vw - 2 * var(--split-widget-offset, 20px));',
    '  display: flex; flex-direction: column; overflow: hidden;',
    '  background: var(--split-widget-bg, #ffffff); border: 1px solid var(--split-widget-border, #d8dee8);',
    '  border-radius: var(--split-widget-radius, 14px); box-shadow: 0 10px 40px rgba(0,0,0,0.3); }',
    '.panel[hidden] { display: none; }',
    '.head { display: flex; align-items: center; justify-content: space-between; gap: 0.5em;',
    '  padding: 0.5em 0.5em 0.5em 1em; background: var(--split-widget-accent, #1f6feb); color: var(--split-widget-accent-text, #ffffff); }',
    '.head h2 { margin: 0; font-size: 1em; font-weight: 600; }',
    '.close { font: inherit; font-size: 1.4em; line-height: 1; width: 44px; height: 44px; border: 0; border-radius: 8px;',
    '  background: transparent; color: inherit; cursor: pointer; }',
    '.close:hover { background: rgba(255,255,255,0.15); }',
    'iframe { flex: 1; width: 100%; border: 0; background: var(--split-widget-bg, #ffffff); }',
    '@media (max-width: 480px) {',
    '  .panel { inset: 0; width: 100vw; height: 100%; max-height: none; max-width: none; border-radius: 0; border: 0; }',
    '  .left .panel { left: 0; }',
    '  .open .launcher { display: none; }',
    '}',
    '@media (prefers-reduced-motion: no-preference) { .panel { animation: pop 0.15s ease-out; } }',
    '@keyframes pop { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }',
  ].join('\n');

  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 6a2 2 0 0 1 2-2h8a2 2 0 0 1 2 2v3.2l4-2.6v10.8l-4-2.6V18a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2z"/></svg>';

  // Texts: the hub's catalog (GET /i18n/catalog.json, the language chosen as
  // for the customer page), English until it comes or when it cannot.
  var EN = { 'widget.label': 'Talk to us', 'widget.return': 'Return to call', 'widget.close': 'Close' };
  var messages = null;
  var chosenLang = 'en';
  function t(key) {
    return messages && typeof messages[key] === 'string' ? messages[key] : EN[key] || key;
  }
  function label() { return data.label || t('widget.label'); }

  // loadCatalog calls done() once, with the catalog or without it (at most
  // CATALOG_WAIT_MS: the button is not held back longer).
  var CATALOG_WAIT_MS = 2500;
  function loadCatalog(done) {
    var finished = false;
    function finish() { if (!finished) { finished = true; done(); } }
    if (typeof fetch !== 'function') { finish(); return; }
    var q = new URLSearchParams();
    if (lang) q.set('lang', lang);
    q.set('entry', entry);
    setTimeout(finish, CATALOG_WAIT_MS);
    fetch(hubOrigin + '/i18n/catalog.json?' + q.toString(), { credentials: 'omit', headers: { Accept: 'application/json' } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (body) {
        if (body && body.messages && typeof body.messages === 'object') {
          messages = body.messages;
          chosenLang = typeof body.lang === 'string' && body.lang ? body.lang : 'en';
          relabel();
        }
      })
      .catch(function () { /* English */ })
      .then(finish);
  }

  var host, root, launcher, launcherText, panel, panelTitle, closeBtn, iframe;
  var state = 'idle';
  var open = false;

  function inCall() {
    return state !== 'idle' && state !== 'ended';
  }

  function build() {
    host = document.createElement('div');
    host.setAttribute('data-split-widget', '');
    var shadow = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    var style = document.createElement('style');
    style.textContent = CSS;
    root = document.createElement('div');
    root.className = 'root' + (data.position === 'left' ? ' left' : '');
    root.setAttribute('lang', chosenLang);

    launcher = document.createElement('button');
    launcher.type = 'button';
    launcher.className = 'launcher';
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-controls', 'split-widget-panel');
    launcher.setAttribute('aria-haspopup', 'dialog');
    launcher.innerHTML = ICON;
    launcherText = document.createElement('span');
    launcherText.textContent = label();
    var dot = document.createElement('span');
    dot.className = 'dot';
    dot.setAttribute('aria-hidden', 'true');
    launcher.appendChild(launcherText);
    launcher.appendChild(dot);
    launcher.addEventListener('click', toggle);

    panel = document.createElement('div');
    panel.id = 'split-widget-panel';
    panel.className = 'panel';
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', label());
    panel.hidden = true;
    var head = document.createElement('div');
    head.className = 'head';
    panelTitle = document.createElement('h2');
    panelTitle.textContent = label();
    closeBtn = document.createElement('button');
    closeBtn.type = 'button';
    closeBtn.className = 'close';
    closeBtn.setAttribute('aria-label', t('widget.close'));
    closeBtn.textContent = '\u00d7';
    closeBtn.addEventListener('click', close);
    head.appendChild(panelTitle);
    head.appendChild(closeBtn);
    panel.appendChild(head);
    panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.preventDefault(); close(); }
    });

    root.appendChild(launcher);
    root.appendChild(panel);
    shadow.appendChild(style);
    shadow.appendChild(root);
    document.body.appendChild(host);
  }

  function ensureFrame() {
    if (iframe) return;
    iframe = document.createElement('iframe');
    iframe.src = pageUrl.toString();
    iframe.title = label();
    iframe.setAttribute('allow', 'camera; microphone; autoplay; display-capture');
    iframe.setAttribute('referrerpolicy', 'origin');
    panel.appendChild(iframe);
  }

  function dropFrame() {
    if (!iframe) return;
    iframe.remove(); // ends the device preview (and any call) inside
    iframe = null;
    state = 'idle';
    updateLauncher();
  }

  function updateLauncher() {
    var live = inCall();
    launcher.classList.toggle('live', live);
    launcherText.textContent = live && !open ? t('widget.return') : label();
    launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
  }

  // The texts again, in the catalog's language.
  function relabel() {
    if (!launcher) return;
    root.setAttribute('lang', chosenLang);
    panel.setAttribute('aria-label', label());
    panelTitle.textContent = label();
    closeBtn.setAttribute('aria-label', t('widget.close'));
    if (iframe) iframe.title = label();
    updateLauncher();
  }

  var openWanted = false; // open() before the button exists

  function openPanel() {
    if (!launcher) { openWanted = true; return; }
    ensureFrame();
    open = true;
    panel.hidden = false;
    root.classList.add('open');
    updateLauncher();
    try { iframe.focus(); } catch (e) { /* ignore */ }
  }

  function close() {
    if (!launcher || !open) return;
    open = false;
    panel.hidden = true;
    root.classList.remove('open');
    // A call goes on while the panel is closed (audio keeps playing); without
    // one, drop the page so that the camera preview stops.
    if (!inCall()) dropFrame();
    updateLauncher();
    launcher.focus();
  }

  function toggle() {
    if (open) close();
    else openPanel();
  }

  window.addEventListener('message', function (e) {
    if (!iframe || e.source !== iframe.contentWindow || e.origin !== hubOrigin) return;
    var m = e.data;
    if (!m || m.source !== 'split' || typeof m.state !== 'string') return;
    state = m.state;
    updateLauncher();
  });

  function init() {
    loadCatalog(function () {
      build();
      if (openWanted || data.open === '1' || data.open === 'true') openPanel();
    });
  }

  window.SplitWidget = {
    open: function () { openPanel(); },
    close: function () { close(); },
    toggle: function () { toggle(); },
    get isOpen() { return open; },
    get state() { return state; },
  };

  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init);
})();
