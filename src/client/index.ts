// A typed client of the API for integrators, the demo and the tests: openapi-fetch over the types
// that scripts/generate-client.ts generates from the OpenAPI document (src/client/schema.ts), so a
// call the contract does not allow, or an answer read as what it is not, fails to compile.
import createClient from 'openapi-fetch';
import type { paths } from './schema';

export type { paths } from './schema';

/** A client of the API at `baseUrl`, sending `key` as a bearer token when given. */
export function apiClient(baseUrl: string, key?: string) {
  return createClient<paths>({ baseUrl, headers: key ? { authorization: `Bearer ${key}` } : {} });
}
