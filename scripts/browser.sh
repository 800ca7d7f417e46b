#!/usr/bin/env bash
# scripts/browser.sh: headless Chromium and its WebDriver (Debian's chromium and
# chromium-driver) for the browser tests, installed with apt-get when missing.
set -euo pipefail
if command -v chromedriver >/dev/null && command -v chromium >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The browser tests need Debian's chromium and chromium-driver: run as root, or install them." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
