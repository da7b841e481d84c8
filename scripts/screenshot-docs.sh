#!/usr/bin/env bash
# Opens the gateway's Swagger UI (/docs) in headless Chromium and saves a PNG.
#
#   scripts/screenshot-docs.sh [OUT.png] [DOCS_URL]
#
# Without DOCS_URL it builds mcp-gateway, runs `mcp-gateway demo` (a real MCP
# server and the gateway, all on 127.0.0.1) and shoots its /docs. Needs
# Debian's `chromium` (apt-get install -y chromium). Everything stays on
# 127.0.0.1; Chromium runs with a throwaway profile and no background traffic.
set -euo pipefail

out="${1:-docs-screenshot.png}"
url="${2:-}"
# How long the page gets to render (virtual time, ms) and the window size.
budget_ms=8000
window="1280,1400"
# How long the demo runs at most while the screenshot is taken (seconds).
demo_seconds=60
# How many times to look for the demo's address (0.2 s apart).
address_tries=300

chromium_bin="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chromium_bin" ]; then
    echo "chromium not found: apt-get install -y chromium" >&2
    exit 1
fi

workdir="$(mktemp -d)"
demo_pid=""
cleanup() {
    if [ -n "$demo_pid" ]; then
        kill "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

if [ -z "$url" ]; then
    root="$(cd "$(dirname "$0")/.." && pwd)"
    target="${CARGO_TARGET_DIR:-$root/target}"
    (cd "$root" && cargo build -q -p mcp-reconnect-gateway)
    "$target/debug/mcp-gateway" demo --duration "$demo_seconds" >"$workdir/demo.log" 2>&1 &
    demo_pid=$!
    for _ in $(seq "$address_tries"); do
        base="$(sed -n 's#^  gateway   \(http://127\.0\.0\.1:[0-9]*\)/mcp.*#\1#p' "$workdir/demo.log" | head -n 1)"
        [ -n "$base" ] && break
        sleep 0.2
    done
    if [ -z "${base:-}" ]; then
        echo "the demo did not start:" >&2
        cat "$workdir/demo.log" >&2
        exit 1
    fi
    url="$base/docs"
fi

"$chromium_bin" \
    --headless \
    --no-sandbox \
    --disable-gpu \
    --disable-background-networking \
    --no-first-run \
    --disable-component-update \
    --disable-sync \
    --user-data-dir="$workdir/profile" \
    --window-size="$window" \
    --hide-scrollbars \
    --virtual-time-budget="$budget_ms" \
    --screenshot="$out" \
    "$url" >"$workdir/chromium.log" 2>&1 || {
    echo "chromium failed:" >&2
    cat "$workdir/chromium.log" >&2
    exit 1
}
echo "saved $out ($url)"
