// Runs the Temporal dev server for `npm start` and makes sure it never outlives the program that
// started it: `node dev-server-guard.js <temporal CLI> <args...>`. The program holds the other end
// of this process's stdin; when that pipe closes, however the program ended (kill -9 included, which
// no handler of its own can catch), the server is stopped: SIGTERM, then SIGKILL after a grace. A
// SIGTERM, SIGINT or SIGHUP to this process stops the server the same way. Plain JavaScript, so it
// starts in an instant with plain node.
/* global require, process, console, setTimeout */
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
const { spawn } = require('node:child_process');
const { constants } = require('node:os');

const GRACE_MS = Number(process.env.DEV_SERVER_STOP_GRACE_MS) || 10_000;
const [cli, ...args] = process.argv.slice(2);
if (!cli) {
  console.error('usage: dev-server-guard.js <temporal CLI> <args...>');
  process.exit(2);
}

// The server stays in this process's group (the program started this one in a group of its own),
// so killing the group kills both.
const server = spawn(cli, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
  setTimeout(() => server.kill('SIGKILL'), GRACE_MS).unref();
}
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
server.on('error', (err) => {
  console.error(`could not run the Temporal CLI: ${err.message}`);
  process.exit(1);
});
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
