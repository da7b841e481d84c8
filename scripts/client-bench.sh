#!/usr/bin/env bash
# The official SDK clients (interop/python_load.py and interop/ts_load.mjs:
# legacy session, closed loop, 2 in flight) against the Python SDK server:
# directly, through mcp-gateway, through mcp-gateway --json-response and,
# when scripts/peers-setup.sh has installed it, through mcp-proxy 0.6.0.
# Interleaved rounds of 5 s per client and target, then each gateway's RSS.
# Loopback only; not part of CI. Needs scripts/interop-setup.sh and
# `cargo build --release -p mcp-reconnect-gateway`.
#
#   bash scripts/client-bench.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
interop="$HOME/.cache/mcp-reconnect/interop"
python="$interop/bin/python"
node="$interop/bin/node"
gateway="${CARGO_TARGET_DIR:-$HOME/.cache/mcp-reconnect/target}/release/mcp-gateway"
mcp_proxy="$HOME/.cache/mcp-reconnect/tools/mcp-proxy/bin/mcp-proxy"
port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; exit 1; }

server_port=$(port); plain_port=$(port); json_port=$(port); proxy_port=$(port)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
"$python" interop/python_server.py --port "$server_port" >/dev/null 2>&1 & pids+=($!)
wait_port "$server_port"
upstream="http://127.0.0.1:$server_port/mcp"
"$gateway" --port "$plain_port" streamablehttp "$upstream" >/dev/null 2>&1 & plain=$!; pids+=($plain)
"$gateway" --port "$json_port" --json-response streamablehttp "$upstream" >/dev/null 2>&1 & json=$!; pids+=($json)
# target = name|url|tool
targets=("direct|$upstream|echo" "gateway|http://127.0.0.1:$plain_port/mcp|echo"
  "gateway --json-response|http://127.0.0.1:$json_port/mcp|echo")
if [ -x "$mcp_proxy" ]; then
  config=$(mktemp --suffix .toml)
  cat > "$config" <<TOML
[proxy]
name = "bench"
[proxy.listen]
host = "127.0.0.1"
port = $proxy_port
[[backends]]
name = "up"
transport = "http"
url = "$upstream"
[observability]
audit = false
log_level = "warn"
[observability.metrics]
enabled = false
TOML
  "$mcp_proxy" --config "$config" >/dev/null 2>&1 & proxy=$!; pids+=($proxy)
  targets+=("mcp-proxy 0.6.0|http://127.0.0.1:$proxy_port/|up/echo")
  wait_port "$proxy_port"
fi
wait_port "$plain_port"; wait_port "$json_port"
sleep 1
for round in $(seq "$rounds"); do
  for client in python typescript; do
    for target in "${targets[@]}"; do
      IFS='|' read -r name url tool <<<"$target"
      if [ "$client" = python ]; then
        line=$("$python" interop/python_load.py "$url" --seconds 5 --inflight 2 --tool "$tool")
      else
        line=$("$node" --no-warnings interop/ts_load.mjs "$url" --seconds 5 --inflight 2 --tool "$tool")
      fi
      echo "round $round $client | $name | $line"
    done
  done
done
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status"; }
echo "RSS: gateway $(rss "$plain"), gateway --json-response $(rss "$json")${proxy:+, mcp-proxy $(rss "$proxy")}"
