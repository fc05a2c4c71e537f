// The typed client's types are the document's: src/client/schema.ts is what openapi-typescript
// makes of the OpenAPI document the API serves today (`npm run generate:client` writes it).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_SCHEMA_FILE, clientSchemaSource } from '../../scripts/generate-client';

describe('the typed client', () => {
  it('is generated from the current contract', async () => {
    const committed = readFileSync(CLIENT_SCHEMA_FILE, 'utf8');
    expect(
      committed === (await clientSchemaSource()),
      'src/client/schema.ts is stale: run npm run generate:client',
    ).toBe(true);
  }, 60_000);
});
