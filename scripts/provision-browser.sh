#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (test/browser), unless it
# is already there. Playwright's own browser download cannot be used here:
# the test drives /usr/bin/chromium through playwright-core.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "provision: chromium present ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "provision: no apt-get; install Chromium at /usr/bin/chromium to run the browser test (it is skipped outside CI)" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
echo "provision: installing chromium (for the browser test)"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null
echo "provision: $(/usr/bin/chromium --version)"
