// How clients and workers reach Temporal: the local dev server by default; a remote cluster with
// TLS or mTLS, or Temporal Cloud with an API key or a client certificate, by configuration alone.
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { temporalAddressOf, type Config } from '../config';

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

export function connectionOptions(config: Config): TemporalConnectionOptions {
  const t = config.temporalTls;
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`${variable}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  const tls: TLSConfig | undefined = t.enabled
    ? {
        ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
        ...(t.caPath ? { serverRootCACertificate: read('TEMPORAL_TLS_CA_PATH', t.caPath) } : {}),
        ...(t.certPath && t.keyPath
          ? {
              clientCertPair: {
                crt: read('TEMPORAL_TLS_CERT_PATH', t.certPath),
                key: read('TEMPORAL_TLS_KEY_PATH', t.keyPath),
              },
            }
          : {}),
      }
    : undefined;
  return {
    address: temporalAddressOf(config),
    ...(tls ? { tls } : {}),
    ...(config.temporalApiKey ? { apiKey: config.temporalApiKey } : {}),
  };
}
