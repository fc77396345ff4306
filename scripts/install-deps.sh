#!/usr/bin/env bash
# Installs what SPLIT's tests need on a fresh Debian machine: the real peers
# (sipp, baresip, kamailio, coturn, sipvicious, Chromium, Firefox ESR, tshark, Pebble), pocketsphinx and
# flite (the example Copilot AI and its test), libopus
# for the cgo Opus backend, playwright-core (driving Debian's
# /usr/bin/chromium) and puppeteer-core (driving /usr/bin/firefox-esr over
# WebDriver BiDi); no browser is ever downloaded. Safe to run again: it
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have sipp      || need+=(sip-tester)
have baresip   || need+=(baresip-core baresip-ffmpeg)
have kamailio  || need+=(kamailio)
have turnserver || need+=(coturn)
have chromium  || need+=(chromium)
have firefox-esr || need+=(firefox-esr)
have svwar     || need+=(sipvicious)
have tshark    || need+=(tshark)
have unshare   || need+=(util-linux)
have ip        || need+=(iproute2)
have node      || need+=(nodejs npm)
have pkg-config || need+=(pkg-config)
pkg-config --exists opus 2>/dev/null || need+=(libopus-dev)
/usr/bin/python3 -c 'import icalendar' 2>/dev/null || need+=(python3-icalendar) # the ICS validity check
have pocketsphinx_continuous || need+=(pocketsphinx)                 # the example Copilot AI's speech engine
[ -d /usr/share/pocketsphinx/model/en-us/en-us ] || need+=(pocketsphinx-en-us)
have flite     || need+=(flite)                                       # speaks the example AI's test phrase
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql) # the store's PostgreSQL suite
have pebble    || need+=(pebble)                                      # Let's Encrypt's test ACME CA (http.acme)
have systemd-analyze || need+=(systemd)                               # verifies deploy/split.service
have docker-compose || docker compose version >/dev/null 2>&1 || need+=(docker-compose) # validates deploy/compose.yaml

if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  # tshark asks whether non-root users may capture; answer no, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ ! -d test/e2e/node_modules/playwright-core ] || [ ! -d test/e2e/node_modules/puppeteer-core ]; then
  (cd test/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
fi
go mod download
echo "install-deps: ok"
