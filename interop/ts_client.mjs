#!/usr/bin/env node
// A foreign MCP client: the official TypeScript SDK (@modelcontextprotocol/sdk,
// pinned in package.json) over Streamable HTTP.
//
//   node ts_client.mjs URL [--restart-pause] [--timeout S] [--deadline S]
//                          [--tool NAME --args JSON]...
//
// Connects (the SDK's `initialize` handshake; this SDK line has no
// `server/discover`), lists the tools, calls `echo` and `add` (or the
// `--tool`/`--args` pairs given) and prints one JSON summary on the last line
// of stdout. `--restart-pause` prints `PAUSED`, waits for a line on stdin (the
// harness restarts the upstream meanwhile), calls again on the same client and
// session, and reports the outcome in `after`.
//
// The SDK is loaded from MCP_INTEROP_NODE_MODULES (default
// $HOME/.cache/mcp-reconnect/interop/npm/node_modules, where
// scripts/interop-setup.sh installs it), so this file needs no node_modules
// beside it. Exit code: 0 when every call of the first round succeeded, 1
// otherwise, 2 on bad arguments.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const SESSION_HEADER = "mcp-session-id";
const DEFAULT_CALLS = [
  ["echo", { text: "hello from typescript" }],
  ["add", { a: 2, b: 3 }],
];

function parseArgs(argv) {
  const args = { url: undefined, restartPause: false, timeout: 30, deadline: 120, tools: [], argsJson: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--restart-pause") args.restartPause = true;
    else if (arg === "--timeout") args.timeout = Number(value());
    else if (arg === "--deadline") args.deadline = Number(value());
    else if (arg === "--tool") args.tools.push(value());
    else if (arg === "--args") args.argsJson.push(value());
    else if (!arg.startsWith("--") && args.url === undefined) args.url = arg;
    else usage(`unknown argument ${arg}`);
  }
  if (!args.url) usage("URL missing");
  if (args.tools.length !== args.argsJson.length) usage("give one --args per --tool");
  args.calls = args.tools.length ? args.tools.map((name, i) => [name, JSON.parse(args.argsJson[i])]) : DEFAULT_CALLS;
  return args;
}

function usage(message) {
  process.stderr.write(`ts_client.mjs: ${message}\nusage: node ts_client.mjs URL [--restart-pause] [--timeout S] [--deadline S] [--tool NAME --args JSON]...\n`);
  process.exit(2);
}

function loadSdk() {
  const modules =
    process.env.MCP_INTEROP_NODE_MODULES || join(homedir(), ".cache", "mcp-reconnect", "interop", "npm", "node_modules");
  const require = createRequire(join(modules, "..", "package.json"));
  return {
    // (the package's exports map `./package.json` into dist/, so read the file itself)
    version: JSON.parse(readFileSync(join(modules, "@modelcontextprotocol", "sdk", "package.json"), "utf8")).version,
    Client: require("@modelcontextprotocol/sdk/client/index.js").Client,
    StreamableHTTPClientTransport: require("@modelcontextprotocol/sdk/client/streamableHttp.js")
      .StreamableHTTPClientTransport,
  };
}

/** Records what the SDK put on the wire: each request's method, session id and answer status. */
class Wire {
  constructor() {
    this.sent = [];
    this.marker = 0;
    this.fetch = async (url, init) => {
      const headers = new Headers(init?.headers);
      const entry = { method: init?.method ?? "GET", session: headers.get(SESSION_HEADER) };
      this.sent.push(entry);
      try {
        const response = await fetch(url, init);
        entry.status = response.status;
        return response;
      } catch (error) {
        entry.error = String(error);
        throw error;
      }
    };
  }
  mark() {
    this.marker = this.sent.length;
  }
  sinceMark() {
    return this.sent.slice(this.marker);
  }
  static sessions(entries) {
    return [...new Set(entries.map((e) => e.session).filter(Boolean))];
  }
}

function textOf(result) {
  return (result?.content ?? []).map((block) => block.text ?? "").join("");
}

async function call(client, name, args, timeoutSeconds) {
  try {
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: timeoutSeconds * 1000 });
    const isError = Boolean(result.isError);
    return { tool: name, ok: !isError, is_error: isError, text: textOf(result) };
  } catch (error) {
    return { tool: name, ok: false, error: `${error?.name ?? "Error"}: ${error?.message ?? error}` };
  }
}

function readLine() {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    let done = false;
    const finish = (line) => {
      if (done) return;
      done = true;
      lines.close();
      resolve(line);
    };
    lines.once("line", finish);
    lines.once("close", () => finish(null));
  });
}

async function run(args) {
  const sdk = loadSdk();
  const wire = new Wire();
  const summary = { client: "typescript", sdk: `@modelcontextprotocol/sdk ${sdk.version}`, node: process.version, url: args.url };
  const transport = new sdk.StreamableHTTPClientTransport(new URL(args.url), { fetch: wire.fetch });
  const client = new sdk.Client({ name: "mcp-reconnect-interop", version: "0.1.0" }, { capabilities: {} });
  const requestOptions = { timeout: args.timeout * 1000 };
  await client.connect(transport, requestOptions);
  try {
    summary.protocol_version = transport.protocolVersion ?? null;
    summary.server_name = client.getServerVersion()?.name ?? null;
    const listed = await client.listTools(undefined, requestOptions);
    summary.tools = listed.tools.map((tool) => tool.name).sort();
    summary.calls = [];
    for (const [name, callArgs] of args.calls) summary.calls.push(await call(client, name, callArgs, args.timeout));
    summary.sessions = Wire.sessions(wire.sent);
    summary.ok = summary.calls.every((c) => c.ok);
    if (args.restartPause) {
      process.stdout.write("PAUSED\n");
      const line = await readLine();
      if (line === null) throw new Error("stdin closed while paused");
      wire.mark();
      const after = [];
      for (const [name, callArgs] of args.calls) after.push(await call(client, name, callArgs, args.timeout));
      const sessionsAfter = Wire.sessions(wire.sinceMark());
      summary.after = {
        calls: after,
        ok: after.every((c) => c.ok),
        sessions: sessionsAfter,
        same_session: summary.sessions.length > 0 && sessionsAfter[0] === summary.sessions.at(-1),
        statuses: wire.sinceMark().map((e) => e.status ?? null),
      };
    }
  } finally {
    await Promise.race([client.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
  return summary;
}

const args = parseArgs(process.argv.slice(2));
const deadline = setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ client: "typescript", url: args.url, ok: false, fatal: `deadline of ${args.deadline} s passed` })}\n`);
  process.exit(1);
}, args.deadline * 1000);
let summary;
try {
  summary = await run(args);
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`);
  summary = { client: "typescript", url: args.url, ok: false, fatal: String(error?.message ?? error) };
}
clearTimeout(deadline);
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(summary.ok ? 0 : 1);
