#!/usr/bin/env bash
# The gateways mcp-reconnect is compared with, pinned, in the tools cache
# (not part of CI): Python mcpo 0.0.20 in a private venv, and the Rust peer
# mcp-proxy 0.6.0 built from crates.io. `mcp-bench run --with-mcpo
# --with-mcp-proxy` and `scripts/fault-compare.sh` use them. Prints the two
# paths on success.
set -euo pipefail
cache="$HOME/.cache/mcp-reconnect"
tools="$cache/tools"
mkdir -p "$tools"

# mcpo 0.0.20 needs an mcp 1.x and fastapi < 0.130 (the versions the bench pins).
if [ ! -x "$cache/mcpo-venv/bin/mcpo" ]; then
  python3 -m venv "$cache/mcpo-venv"
  "$cache/mcpo-venv/bin/pip" install --quiet --disable-pip-version-check \
    "mcpo==0.0.20" "mcp<2" "fastapi<0.130"
fi

# Its own target dir, so the build never contends for the workspace's lock.
if [ ! -x "$tools/mcp-proxy/bin/mcp-proxy" ]; then
  CARGO_TARGET_DIR="$tools/mcp-proxy-build" \
    cargo install mcp-proxy --version 0.6.0 --locked --root "$tools/mcp-proxy"
  rm -rf "$tools/mcp-proxy-build"
fi

echo "mcpo:      $cache/mcpo-venv/bin/mcpo"
echo "mcp-proxy: $tools/mcp-proxy/bin/mcp-proxy"
