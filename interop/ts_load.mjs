#!/usr/bin/env node
// A closed-loop load of the official TypeScript SDK client (legacy session):
// `--inflight` loops call the tool for `--seconds`, then one JSON line:
// {"calls": N, "calls_per_s": R, "p50_ms": M, "failed": F}.
//
//   node ts_load.mjs URL [--seconds S] [--inflight N] [--tool NAME]
//
// Outside CI: BENCHMARKS.md's client-side comparisons run it (loopback only).
// The SDK is loaded from MCP_INTEROP_NODE_MODULES, as in ts_client.mjs.

import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

function parseArgs(argv) {
  const args = { url: undefined, seconds: 10, inflight: 2, tool: "echo" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--seconds") args.seconds = Number(value());
    else if (arg === "--inflight") args.inflight = Number(value());
    else if (arg === "--tool") args.tool = value();
    else if (!arg.startsWith("--") && args.url === undefined) args.url = arg;
    else usage(`unknown argument ${arg}`);
  }
  if (!args.url) usage("URL missing");
  if (!(args.seconds > 0) || !(args.inflight >= 1)) usage("--seconds and --inflight must be positive");
  return args;
}

function usage(message) {
  process.stderr.write(`ts_load.mjs: ${message}\nusage: node ts_load.mjs URL [--seconds S] [--inflight N] [--tool NAME]\n`);
  process.exit(2);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const modules =
    process.env.MCP_INTEROP_NODE_MODULES || join(homedir(), ".cache", "mcp-reconnect", "interop", "npm", "node_modules");
  const require = createRequire(join(modules, "..", "package.json"));
  const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
  const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
  const client = new Client({ name: "mcp-reconnect-load", version: "0.1.0" }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(args.url)));
  await client.callTool({ name: args.tool, arguments: { text: "warm" } });
  const latencies = [];
  let failed = 0;
  const end = performance.now() + args.seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      try {
        const result = await client.callTool({ name: args.tool, arguments: { text: "hello" } });
        if (result.isError) failed++;
      } catch {
        failed++; // counted, the load goes on
      }
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: args.inflight }, loop));
  await client.close();
  latencies.sort((a, b) => a - b);
  const p50 = latencies.length ? latencies[Math.floor(latencies.length / 2)] : 0;
  console.log(
    JSON.stringify({
      calls: latencies.length,
      calls_per_s: latencies.length / args.seconds,
      p50_ms: Math.round(p50 * 100) / 100,
      failed,
    }),
  );
}

main().catch((error) => {
  process.stderr.write(`ts_load.mjs: ${error?.stack ?? error}\n`);
  process.exit(1);
});
