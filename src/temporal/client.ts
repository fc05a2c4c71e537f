// The one way this project connects to Temporal, for the API, the scripts and the tests: through
// the configured connection (see connection.ts), with payloads encrypted (see codec/encryption.ts).
import { Client, Connection } from '@temporalio/client';
import { encryptedDataConverter } from '../codec/encryption';
import type { Config } from '../config';
import { payloadCodec } from '../credentials';
import { connectionOptions } from './connection';

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(config));
  return new Client({
    connection,
    namespace: config.namespace,
    dataConverter: encryptedDataConverter(payloadCodec(config, { create: false })),
  });
}
