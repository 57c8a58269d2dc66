#!/usr/bin/env bash
# Install headless Chromium and its driver for the report's browser test
# (tests/reports/test_browser.py) from the distribution's packages. CI runs this
# before the test command; run it once yourself (as root, or with sudo available)
# or the browser test is skipped outside CI.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "install-browser: chromium and chromedriver already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-browser: not root and no sudo; install chromium and" \
             "chromium-driver yourself" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get; install Chromium and chromedriver yourself" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium chromium-driver
