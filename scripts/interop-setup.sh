#!/usr/bin/env bash
# Installs the foreign MCP peers that tests/foreign_peers.rs runs against the
# project, pinned, outside the clone:
#
#   $MCP_INTEROP_HOME (default $HOME/.cache/mcp-reconnect/interop)
#     venv/   the official Python SDK (interop/requirements.lock)
#     npm/    the TypeScript SDK, server-everything, the conformance suite, the
#             Inspector and a Node 22 binary (interop/package.json + lock)
#     bin/    python, node (22), conformance, mcp-inspector: wrappers that put
#             Node 22 first on PATH (the conformance suite and the Inspector
#             need it; the machine's Node may be older)
#
# Idempotent and fast when nothing changed: each part is redone only when its
# lock (or the interpreter) changed, and its stamp is written last, so an
# interrupted install is redone next time. Needs python3 (3.11), pip, npm and
# the package registries; nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

root="${MCP_INTEROP_HOME:-$HOME/.cache/mcp-reconnect/interop}"
python="${PYTHON:-python3}"
mkdir -p "$root"
started=$SECONDS

say() { printf 'interop-setup: %s\n' "$*"; }
digest() { sha256sum | cut -c1-32; }

# --- Python: the MCP SDK, exactly the locked set ----------------------------
py_stamp=$({ "$python" -c 'import sys; print(sys.version)'; cat interop/requirements.lock; } | digest)
if [ "$(cat "$root/venv/.stamp" 2>/dev/null)" != "$py_stamp" ]; then
  say "python: installing interop/requirements.lock into $root/venv"
  rm -rf "$root/venv"
  "$python" -m venv "$root/venv"
  "$root/venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: --no-deps -r interop/requirements.lock
  "$root/venv/bin/pip" check --disable-pip-version-check >/dev/null
  printf '%s\n' "$py_stamp" >"$root/venv/.stamp"
else
  say "python: up to date"
fi

# --- npm: SDK, servers, conformance, Inspector, Node 22 ---------------------
npm_stamp=$({ npm --version; cat interop/package.json interop/package-lock.json; } | digest)
if [ "$(cat "$root/npm/.stamp" 2>/dev/null)" != "$npm_stamp" ]; then
  say "npm: installing interop/package-lock.json into $root/npm"
  rm -rf "$root/npm"
  mkdir -p "$root/npm"
  cp interop/package.json interop/package-lock.json "$root/npm/"
  # allowScripts in package.json lets only `node` (it fetches its binary as an
  # npm package) run an install script.
  (cd "$root/npm" && npm ci --no-audit --no-fund --loglevel=error)
  "$root/npm/node_modules/node/bin/node" --version >/dev/null
  printf '%s\n' "$npm_stamp" >"$root/npm/.stamp"
else
  say "npm: up to date"
fi

# --- wrappers -----------------------------------------------------------------
mkdir -p "$root/bin"
node22="$root/npm/node_modules/node/bin"
wrapper() { # name target...
  local name=$1
  shift
  printf '#!/bin/sh\nPATH="%s:$PATH" exec %s "$@"\n' "$node22" "$*" >"$root/bin/$name"
  chmod +x "$root/bin/$name"
}
wrapper python "$root/venv/bin/python"
wrapper node "$node22/node"
wrapper conformance "$node22/node" "$root/npm/node_modules/@modelcontextprotocol/conformance/dist/index.js"
wrapper mcp-inspector "$node22/node" "$root/npm/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"

say "ready in $((SECONDS - started)) s: $("$root/bin/python" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))'), node $("$root/bin/node" --version), $root/bin"
