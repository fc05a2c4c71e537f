// Prints the operations hand-overs with the borrowers' free text decrypted, for whoever holds the
// payload keys: `npx tsx src/operations/read.ts`, one JSON line per item, from the store the
// service uses (DATABASE_URL, else OPERATIONS_PATH). The keys come from PAYLOAD_KEYS, or locally
// from data/dev-payload-key.
import { loadConfig } from '../config';
import { payloadCodec } from '../credentials';
import { openOperationsItem, openOperationsQueue } from './queue';

async function main(): Promise<void> {
  const config = loadConfig();
  const codec = payloadCodec(config, { create: false });
  const queue = openOperationsQueue(config.stores.operations);
  try {
    for (const item of await queue.list()) process.stdout.write(JSON.stringify(openOperationsItem(item, codec)) + '\n');
  } finally {
    await queue.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
