#!/usr/bin/env python3
"""A closed-loop load of the official Python SDK client (legacy session):
`--inflight` loops call the tool (`echo`) for `--seconds`, then one JSON
line: `{"calls": N, "calls_per_s": R, "p50_ms": M, "failed": F}`.

    python_load.py URL [--seconds S] [--inflight N] [--tool NAME]

Outside CI: BENCHMARKS.md's client-side comparisons run it (loopback only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def run(args: argparse.Namespace) -> dict[str, float]:
    latencies: list[float] = []
    failed = 0
    http = create_mcp_http_client()
    async with http:
        transport = streamable_http_client(args.url, http_client=http)
        async with Client(transport, mode="legacy") as client:
            await client.call_tool(args.tool, {"text": "warm"})
            end = time.perf_counter() + args.seconds

            async def loop() -> None:
                nonlocal failed
                while time.perf_counter() < end:
                    started = time.perf_counter()
                    try:
                        result = await client.call_tool(args.tool, {"text": "hello"})
                        if result.is_error:
                            failed += 1
                    except Exception:  # noqa: BLE001 - counted, the load goes on
                        failed += 1
                    latencies.append(time.perf_counter() - started)

            async with anyio.create_task_group() as tasks:
                for _ in range(args.inflight):
                    tasks.start_soon(loop)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0.0
    return {
        "calls": len(latencies),
        "calls_per_s": len(latencies) / args.seconds,
        "p50_ms": round(p50, 2),
        "failed": failed,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--inflight", type=int, default=2)
    parser.add_argument("--tool", default="echo")
    args = parser.parse_args()
    print(json.dumps(anyio.run(run, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
