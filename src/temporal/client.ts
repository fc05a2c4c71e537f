// The one way this project connects to Temporal, for the API, the scripts and the tests.
import { Client, Connection } from '@temporalio/client';
import { temporalAddressOf, type Config } from '../config';

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: temporalAddressOf(config) });
  return new Client({ connection, namespace: config.namespace });
}
