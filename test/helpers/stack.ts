// The whole local stack as `npm start` runs it, in one child process, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/postgres';

export const ROOT = join(__dirname, '..', '..');

export { freePort };

export function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(false));
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
  });
}

export interface Stack {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function startStack(env: NodeJS.ProcessEnv): Promise<Stack> {
  // One process (not tsx's wrapper with a child of its own), so a signal reaches the program itself.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`stack did not start:\n${out}`)), 90_000);
    const check = setInterval(() => {
      if (out.includes('Press Ctrl-C to stop.')) {
        clearInterval(check);
        clearTimeout(timer);
        ok({ child, output: () => out, exited });
      } else if (child.exitCode !== null) {
        clearInterval(check);
        clearTimeout(timer);
        fail(new Error(`stack exited early:\n${out}`));
      }
    }, 100);
  });
}

export async function stop(stack: Stack): Promise<number | null> {
  stack.child.kill('SIGINT');
  return stack.exited;
}

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
