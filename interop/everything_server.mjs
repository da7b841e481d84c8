#!/usr/bin/env node
// A foreign MCP server: @modelcontextprotocol/server-everything (the TypeScript
// SDK's reference server, pinned in package.json) in `streamableHttp` mode, or
// in the legacy HTTP+SSE mode (`sse`: GET /sse, POST /message), served on
// 127.0.0.1 only.
//
//   PORT=0 node everything_server.mjs [sse]
//   url: http://127.0.0.1:PORT/mcp          <- a line of stdout, once it listens (/sse in sse mode)
//
// Upstream's launcher (`mcp-server-everything streamableHttp`, port from the
// PORT environment variable, default 3001) listens on every interface and
// prints the port it was asked for, not the one it got. This wrapper makes
// the listener bind 127.0.0.1, lets PORT=0 pick a free port, and prints the
// URL it really serves. Everything else is the package's own code, unchanged.
//
// The package is loaded from MCP_INTEROP_NODE_MODULES (default
// $HOME/.cache/mcp-reconnect/interop/npm/node_modules).

import net from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const HOST = "127.0.0.1";
const mode = process.argv[2] === "sse" ? "sse" : "streamableHttp";
const path = mode === "sse" ? "/sse" : "/mcp";
const modules =
  process.env.MCP_INTEROP_NODE_MODULES || join(homedir(), ".cache", "mcp-reconnect", "interop", "npm", "node_modules");
process.env.PORT ??= "0";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  // express: app.listen(PORT, callback) -> server.listen(port, callback)
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    const port = Number(args[0]);
    const callbacks = args.slice(1).filter((arg) => typeof arg === "function");
    this.once("listening", () => {
      const address = this.address();
      process.stdout.write(`url: http://${HOST}:${address.port}${path}\n`);
    });
    return listen.call(this, port, HOST, ...callbacks);
  }
  return listen.apply(this, args);
};

const entry = join(modules, "@modelcontextprotocol", "server-everything", "dist", "transports", `${mode}.js`);
await import(pathToFileURL(entry).href);
