#!/usr/bin/env bash
# The official Python SDK client (interop/python_load.py: legacy session,
# closed loop, 2 in flight) against the Python SDK server directly, through
# mcp-gateway, and through mcp-gateway --json-response; 3 interleaved rounds
# of 5 s each, then each gateway's RSS. Loopback only; not part of CI.
# Needs scripts/interop-setup.sh and `cargo build --release -p mcp-reconnect-gateway`.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$HOME/.cache/mcp-reconnect/interop/bin/python"
gateway="${CARGO_TARGET_DIR:-$HOME/.cache/mcp-reconnect/target}/release/mcp-gateway"
port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
server_port=$(port); plain_port=$(port); json_port=$(port)
"$python" interop/python_server.py --port "$server_port" >/dev/null 2>&1 & server=$!
trap 'kill $server ${plain:-} ${json:-} 2>/dev/null || true' EXIT
sleep 3
"$gateway" --port "$plain_port" streamablehttp "http://127.0.0.1:$server_port/mcp" >/dev/null 2>&1 & plain=$!
"$gateway" --port "$json_port" --json-response streamablehttp "http://127.0.0.1:$server_port/mcp" >/dev/null 2>&1 & json=$!
sleep 2
for round in 1 2 3; do
  for target in "direct:$server_port" "gateway:$plain_port" "gateway --json-response:$json_port"; do
    name=${target%:*}; p=${target##*:}
    echo "round $round $name $("$python" interop/python_load.py "http://127.0.0.1:$p/mcp" --seconds 5 --inflight 2)"
  done
done
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status"; }
echo "RSS: gateway $(rss $plain), gateway --json-response $(rss $json)"
