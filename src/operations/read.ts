// Prints the operations hand-over file with the borrowers' free text decrypted, for whoever holds
// the payload keys: `npx tsx src/operations/read.ts [file]` (default OPERATIONS_PATH), one JSON line
// per item. The keys come from PAYLOAD_KEYS, or locally from data/dev-payload-key.
import { loadConfig } from '../config';
import { payloadCodec } from '../credentials';
import { openOperationsItem, readOperations } from './queue';

const config = loadConfig();
const codec = payloadCodec(config, { create: false });
for (const item of readOperations(process.argv[2] ?? config.operationsPath))
  process.stdout.write(JSON.stringify(openOperationsItem(item, codec)) + '\n');
