#!/usr/bin/env python3
"""A foreign MCP server: the official Python SDK (`mcp`, pinned in
requirements.lock) serving Streamable HTTP with stateful sessions.

    python_server.py --port P [--max-sessions N] [--calls FILE]
    python_server.py --stdio [--calls FILE]     # the same tools over stdio
    python_server.py --port P --sse [--calls FILE]  # the legacy HTTP+SSE transport (2024-11-05): GET /sse, POST /messages/

Tools: `echo {text}`, `add {a, b}`, `slow {ms}` (read-only), `increment
{key}` and `slow_increment {key, ms}` (not idempotent: they count, and
append `key` as a line to FILE so a harness can tell how often they ran
across restarts), and `fail {}` (a tool error, `isError`). Prints `READY <port>` once it listens. Loopback only.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

READ_ONLY = ToolAnnotations(readOnlyHint=True, idempotentHint=True)
UNSAFE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False)


def build(calls: str | None) -> MCPServer:
    server = MCPServer("python-sdk-server")
    counts: Counter[str] = Counter()

    @server.tool(annotations=READ_ONLY)
    def echo(text: str) -> str:
        """Echoes the text."""
        return text

    @server.tool(annotations=READ_ONLY)
    def add(a: int, b: int) -> str:
        """Adds two numbers."""
        return str(a + b)

    @server.tool(annotations=UNSAFE)
    def increment(key: str) -> str:
        """Counts calls per key (not idempotent)."""
        counts[key] += 1
        if calls:
            with open(calls, "a", encoding="utf-8") as log:
                log.write(key + "\n")
        return str(counts[key])

    @server.tool(annotations=READ_ONLY)
    async def slow(ms: int) -> str:
        """Sleeps `ms` milliseconds, then answers (read-only)."""
        await anyio.sleep(ms / 1000)
        return f"slept {ms} ms"

    @server.tool(annotations=UNSAFE)
    async def slow_increment(key: str, ms: int) -> str:
        """Counts like `increment`, then sleeps `ms` milliseconds (not idempotent)."""
        counts[key] += 1
        if calls:
            with open(calls, "a", encoding="utf-8") as log:
                log.write(key + "\n")
        await anyio.sleep(ms / 1000)
        return str(counts[key])

    @server.tool(annotations=READ_ONLY)
    def fail() -> str:
        """Always a tool error."""
        raise ValueError("this tool always fails")

    return server


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--stdio", action="store_true")
    parser.add_argument("--sse", action="store_true")
    parser.add_argument("--max-sessions", type=int, default=10_000)
    parser.add_argument("--calls", default=None)
    args = parser.parse_args()
    if args.stdio:
        await build(args.calls).run_stdio_async()
        return 0
    if args.port is None:
        parser.error("--port or --stdio is required")
    if args.sse:
        app = build(args.calls).sse_app(host="127.0.0.1")
    else:
        app = build(args.calls).streamable_http_app(max_sessions=args.max_sessions, host="127.0.0.1")
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    async def ready() -> None:
        while not server.started:
            await anyio.sleep(0.02)
        print(f"READY {args.port}", flush=True)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ready)
        await server.serve()
        tasks.cancel_scope.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
