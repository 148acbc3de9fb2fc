#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is installed for the browser tests (the dashboard
# e2e drives it with puppeteer-core; browser builds downloaded by npm packages are not used).
# Prints the executable's path. CHROMIUM_PATH names another executable to use instead.
set -euo pipefail

want="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$want" ]; then
  echo "$want"
  exit 0
fi
if [ -n "${CHROMIUM_PATH:-}" ]; then
  echo "ensure-chromium: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "ensure-chromium: /usr/bin/chromium is missing and this user cannot install it" \
    "(not root, no password-less sudo). Run: sudo apt-get install -y chromium" \
    "or set CHROMIUM_PATH to a Chromium executable." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: /usr/bin/chromium is missing and there is no apt-get here;" \
    "install Chromium and set CHROMIUM_PATH to it." >&2
  exit 1
fi

# One installer at a time: parallel test workers may all find it missing.
exec 9>/tmp/cmis-ensure-chromium.lock
flock 9
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium: installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >&2; then
    echo "ensure-chromium: apt-get could not install chromium (are Debian's package mirrors reachable?)" >&2
    exit 1
  fi
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium: the chromium package installed no /usr/bin/chromium" >&2
  exit 1
fi
echo /usr/bin/chromium
