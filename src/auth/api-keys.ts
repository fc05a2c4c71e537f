// The API keys a deployment configures (API_KEYS) and the scopes they may carry. Plain data and
// parsing, so the credentials a worker or client resolves do not depend on the HTTP layer.

export const SCOPES = [
  'loans:read',
  'loans:write',
  'analytics:read',
  'metrics:read',
  'payloads:decode',
  'operations:read',
  'operations:write',
  'audit:read',
] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  /** A label for logs and metrics; never the key. */
  name: string;
  key: string;
  scopes: Scope[];
}

/**
 * Parses API_KEYS: entries separated by commas, each `name:key:scope+scope`, e.g.
 * `ledger:3f9c...:loans:write+loans:read` is read as name "ledger", key "3f9c...", and the scopes.
 */
export function parseApiKeys(spec: string): ApiKey[] {
  return spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((entry) => {
      const [name, key, ...rest] = entry.split(':');
      const scopes = rest.join(':').split('+').filter(Boolean);
      if (!name || !key || key.length < 24)
        throw new Error(`API_KEYS: entry "${name ?? ''}" needs name:key:scopes with a key of 24+ characters`);
      for (const s of scopes) {
        if (!SCOPES.includes(s as Scope))
          throw new Error(`API_KEYS: entry "${name}" has unknown scope "${s}" (known: ${SCOPES.join(', ')})`);
      }
      if (scopes.length === 0) throw new Error(`API_KEYS: entry "${name}" has no scopes`);
      return { name, key, scopes: scopes as Scope[] };
    });
}
