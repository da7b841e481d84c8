#!/usr/bin/env python3
"""A foreign MCP client: the official Python SDK (`mcp`, pinned in
requirements.lock) over Streamable HTTP.

    python_client.py URL [--mode auto|legacy] [--restart-pause] [--timeout S]
                         [--deadline S] [--tool NAME --args JSON]...

Connects, lists the tools, calls `echo` and `add` (or the `--tool`/`--args`
pairs given), and prints one JSON summary on the last line of stdout.

`--mode` is the SDK's connect mode: `auto` (its default: `server/discover`,
falling back to `initialize`) or `legacy` (`initialize` + `Mcp-Session-Id`).

`--paced S`: after the first calls it prints `PACED` on its own line, then
for S seconds sends the calls in turn, one every 50 ms with at most 4 in
flight (an `increment` gets a key of its own, `<--key-prefix>-<n>`), while the harness
breaks the upstream; `paced` in the summary counts them (`ok`,
`maybe_run`: the gateway's "may have run" refusals, `failed` with reasons,
`keys_ok`: the increments that succeeded) and lists the session ids sent.

`--restart-pause`: after the first calls it prints `PAUSED` on its own line,
waits for a line on stdin (the harness restarts the upstream meanwhile), then
calls the same tools again on the same client and session, and reports in
`after` whether they succeeded and which session id they carried.

Exit code: 0 when every call of the first round succeeded (the second
round's outcome is data, not an exit code), 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from importlib.metadata import version
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

SESSION_HEADER = "mcp-session-id"
DEFAULT_CALLS = [("echo", {"text": "hello from python"}), ("add", {"a": 2, "b": 3})]


class Wire:
    """What the SDK put on the wire: the session id of each request, and statuses."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.marker = 0

    async def on_request(self, request: httpx2.Request) -> None:
        self.sent.append(
            {
                "method": request.method,
                "session": request.headers.get(SESSION_HEADER),
                "protocol": request.headers.get("mcp-protocol-version"),
            }
        )

    async def on_response(self, response: httpx2.Response) -> None:
        for entry in reversed(self.sent):
            if "status" not in entry:
                entry["status"] = response.status_code
                break

    def mark(self) -> None:
        self.marker = len(self.sent)

    def since_mark(self) -> list[dict[str, Any]]:
        return self.sent[self.marker :]

    @staticmethod
    def sessions(entries: list[dict[str, Any]]) -> list[str]:
        seen: list[str] = []
        for entry in entries:
            if entry["session"] and entry["session"] not in seen:
                seen.append(entry["session"])
        return seen


def text_of(result: Any) -> str:
    parts = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        if text is not None:
            parts.append(text)
    return "".join(parts)


async def call(client: Client, name: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
    try:
        with anyio.fail_after(timeout):
            result = await client.call_tool(name, arguments)
        is_error = bool(getattr(result, "is_error", False))
        return {"tool": name, "ok": not is_error, "is_error": is_error, "text": text_of(result)}
    except Exception as error:  # a foreign peer's failure is data
        return {"tool": name, "ok": False, "error": f"{type(error).__name__}: {error}"}


async def paced(client: Client, calls: list[tuple[str, Any]], args: argparse.Namespace, wire: Wire) -> dict[str, Any]:
    print("PACED", flush=True)
    wire.mark()
    report: dict[str, Any] = {"ok": 0, "maybe_run": 0, "failed": [], "keys_ok": [], "keys_failed": []}
    limiter = anyio.CapacityLimiter(4)

    async def one(n: int) -> None:
        async with limiter:
            name, arguments = calls[n % len(calls)]
            if name == "increment":
                arguments = {"key": f"{args.key_prefix}-{n}"}
            outcome = await call(client, name, arguments, args.timeout)
        key = arguments.get("key") if name == "increment" else None
        if outcome["ok"]:
            report["ok"] += 1
            if key:
                report["keys_ok"].append(key)
            return
        if key:
            report["keys_failed"].append(key)
        if "may have run" in outcome.get("error", ""):
            report["maybe_run"] += 1
        else:
            report["failed"].append(outcome)

    async with anyio.create_task_group() as tasks:
        start = anyio.current_time()
        n = 0
        while anyio.current_time() - start < args.paced:
            await limiter.acquire_on_behalf_of(n)
            limiter.release_on_behalf_of(n)
            tasks.start_soon(one, n)
            n += 1
            await anyio.sleep_until(start + n * 0.05)
    report["sessions"] = wire.sessions(wire.since_mark())
    return report


async def run(args: argparse.Namespace) -> dict[str, Any]:
    wire = Wire()
    summary: dict[str, Any] = {
        "client": "python",
        "sdk": f"mcp {version('mcp')}",
        "mode": args.mode,
        "url": args.url,
    }
    http = create_mcp_http_client()
    http.event_hooks = {"request": [wire.on_request], "response": [wire.on_response]}
    calls = [(name, json.loads(arguments)) for name, arguments in args.calls] or DEFAULT_CALLS
    async with http:
        transport = streamable_http_client(args.url, http_client=http)
        async with Client(transport, mode=args.mode) as client:
            summary["protocol_version"] = client.protocol_version
            info = client.server_info
            summary["server_name"] = info.name if info is not None else None
            with anyio.fail_after(args.timeout):
                listed = await client.list_tools()
            summary["tools"] = sorted(tool.name for tool in listed.tools)
            summary["calls"] = [await call(client, name, arguments, args.timeout) for name, arguments in calls]
            summary["sessions"] = wire.sessions(wire.sent)
            summary["ok"] = all(c["ok"] for c in summary["calls"])
            if args.paced:
                summary["paced"] = await paced(client, calls, args, wire)
            if args.restart_pause:
                print("PAUSED", flush=True)
                line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
                if not line:
                    raise RuntimeError("stdin closed while paused")
                wire.mark()
                after = [await call(client, name, arguments, args.timeout) for name, arguments in calls]
                sessions_after = wire.sessions(wire.since_mark())
                summary["after"] = {
                    "calls": after,
                    "ok": all(c["ok"] for c in after),
                    "sessions": sessions_after,
                    "same_session": bool(summary["sessions"]) and sessions_after[:1] == summary["sessions"][-1:],
                    "statuses": [e.get("status") for e in wire.since_mark()],
                }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--mode", default="auto", choices=["auto", "legacy"])
    parser.add_argument("--restart-pause", action="store_true")
    parser.add_argument("--paced", type=float, default=0.0, help="seconds of paced calls (see above)")
    parser.add_argument("--key-prefix", default="py", help="the paced increments' keys begin with it")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds for the whole run, pause included")
    parser.add_argument("--tool", dest="tools", action="append", default=[], help="a tool to call (repeatable)")
    parser.add_argument("--args", dest="arguments", action="append", default=[], help="its JSON arguments")
    args = parser.parse_args()
    if len(args.tools) != len(args.arguments):
        parser.error("give one --args per --tool")
    args.calls = list(zip(args.tools, args.arguments))
    async def bounded() -> dict[str, Any]:
        with anyio.fail_after(args.deadline):
            return await run(args)

    try:
        summary = anyio.run(bounded)
    except BaseException as error:  # noqa: BLE001 - report, do not crash without a summary
        traceback.print_exc(file=sys.stderr)
        summary = {"client": "python", "url": args.url, "mode": args.mode, "ok": False, "fatal": repr(error)}
    print(json.dumps(summary), flush=True)
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
