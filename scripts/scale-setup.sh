#!/usr/bin/env bash
# Installs what the scale-out tests (crates/gateway/tests/scale.rs) run
# against: a real redis-server (the shared session store) and nginx (a
# round-robin L7 balancer in front of two gateway replicas), from Debian's
# packages. The tests start their own instances on free 127.0.0.1 ports from
# a temp dir; no system service is used or needed.
#
# Idempotent: does nothing when both binaries are already on PATH (or in
# /usr/sbin). Needs root (or sudo) and the Debian package mirror.
set -euo pipefail

say() { printf 'scale-setup: %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

if have redis-server && have nginx; then
  say "redis-server and nginx already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    say "need root (or sudo) to install redis-server and nginx"; exit 1
  fi
fi

# Debian's maintainer scripts would start the system services (redis on 6379,
# nginx on 80); the tests never use them, so keep them from starting.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

say "installing redis-server and nginx-light"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends redis-server nginx-light >/dev/null
have redis-server && have nginx
say "installed: $(redis-server --version | cut -d' ' -f1-3), $(/usr/sbin/nginx -v 2>&1)"
