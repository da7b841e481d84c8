#!/usr/bin/env bash
# Checks what ARCHITECTURE.md says about dependencies ("Crates"): each layer
# crate (and the stdio and SSE connector, `link`), with its default features, builds on core
# and the small crates a tower layer needs, never on another layer, a client,
# TLS or MCP SDK.
set -euo pipefail
cd "$(dirname "$0")/.."

# Crates no layer crate may pull in (normal dependencies, default features).
forbidden='^(hyper|hyper-util|rustls|ring|webpki-roots|rmcp|axum|clap|redis|reqwest|criterion|mcp-reconnect-(classify|circuit|retry|health|session|upstream|gateway|testkit))$'
failed=0
for layer in core classify circuit retry health session link; do
  crate="mcp-reconnect-$layer"
  deps=$(cargo tree --locked -e normal -p "$crate" --prefix none --format '{p}' \
    | awk '{print $1}' | sort -u | grep -v "^$crate\$" || true)
  bad=$(grep -E "$forbidden" <<<"$deps" || true)
  if [ -n "$bad" ]; then
    echo "check-layering: $crate depends on: $(tr '\n' ' ' <<<"$bad")"
    failed=1
  else
    echo "check-layering: $crate: $(wc -l <<<"$deps") crates, none forbidden"
  fi
done
# A production gateway build (no `demo`) carries no test server and no MCP SDK.
prod=$(cargo tree --locked -e normal -p mcp-reconnect-gateway --no-default-features --prefix none --format '{p}' \
  | awk '{print $1}' | sort -u | grep -E '^(rmcp|mcp-reconnect-testkit)$' || true)
if [ -n "$prod" ]; then
  echo "check-layering: mcp-gateway without \`demo\` depends on: $(tr '\n' ' ' <<<"$prod")"
  failed=1
else
  echo "check-layering: mcp-gateway without \`demo\`: no rmcp, no testkit"
fi
# The layout in ARCHITECTURE.md names every crate directory.
for dir in crates/*/; do
  dir=${dir%/}
  if ! grep -q "^$dir " ARCHITECTURE.md; then
    echo "check-layering: ARCHITECTURE.md's layout does not list $dir"
    failed=1
  fi
done
exit "$failed"
