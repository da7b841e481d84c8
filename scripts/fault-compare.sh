#!/usr/bin/env bash
# The same faults against mcp-gateway, Python mcpo 0.0.20 and mcp-proxy
# 0.6.0 (and with no gateway), in one command: installs the pinned peers and
# nginx, builds the release binaries, runs `mcp-bench faults` and prints
# RELIABILITY.md's comparison table. Loopback only; not part of CI (the
# mcp-proxy build alone takes several minutes on a cold machine).
#
#   bash scripts/fault-compare.sh        # MCP_BENCH_VERBOSE=1 adds failure reasons
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mcp-reconnect/target}"
bash scripts/peers-setup.sh
bash scripts/scale-setup.sh
cargo build --release --locked -p mcp-reconnect-gateway -p mcp-reconnect-bench
"$CARGO_TARGET_DIR/release/mcp-bench" faults --with-mcpo --with-mcp-proxy
