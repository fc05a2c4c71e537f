// The API as a process of its own for the hostile-input test: the real entry point's `startApi`,
// configured from the environment, plus an IPC channel on which the test asks for a memory reading
// after a full garbage collection (the process runs with --expose-gc). A crash ends the process,
// which the test sees as its exit.
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { startApi } from '../../src/server';

type Message = { type: 'memory' } | { type: 'stop' };

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'api');
  const api = await startApi(config, log);
  process.on('message', (m: Message) => {
    if (m.type === 'memory') {
      // Twice, a tick apart: the first pass can leave finalisable objects for the second.
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      setTimeout(() => {
        gc?.();
        const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
        process.send?.({ type: 'memory', rss, heapUsed, heapTotal, external, gc: gc !== undefined });
      }, 50);
    } else if (m.type === 'stop') {
      void api.stop().then(() => process.exit(0));
    }
  });
  process.send?.({ type: 'ready', url: api.url });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
