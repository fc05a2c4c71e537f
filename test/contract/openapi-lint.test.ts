// The OpenAPI document as integrators get it, written to a file and linted by Redocly and Spectral
// with the rulesets in redocly.yaml and .spectral.yaml (each rule turned off says why there): no
// errors, no warnings. And every example in it valid against its own schema.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { createLogger } from '../../src/log';
import { POLICIES, TEST_LENDER } from '../helpers/temporal';
import { schemaValidator, type OpenApiDocument } from '../helpers/contract';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

let file: string;
let doc: OpenApiDocument & { paths: Record<string, Record<string, Record<string, unknown>>> };

beforeAll(async () => {
  // The document needs no Temporal server: the client connects lazily, and is never used here.
  const app = createApp({
    client: new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }),
    taskQueue: 'openapi-lint',
    lender: TEST_LENDER,
    policies: POLICIES,
    log: createLogger('silent'),
    apiKeys: [{ name: 'lint', key: 'lint-key-0123456789abcdef01234', scopes: ['loans:read'] }],
    webhookSecrets: ['lint-secret-0123456789abcdef0123'],
  });
  doc = (await request(app).get('/openapi.json').expect(200)).body;
  file = join(mkdtempSync(join(tmpdir(), 'loan-reminders-openapi-')), 'openapi.json');
  writeFileSync(file, JSON.stringify(doc, null, 2));
});

/** A linter's output and exit code, whichever way it ends. */
async function lint(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the OpenAPI document', () => {
  it('passes redocly lint with no errors or warnings', async () => {
    const r = await lint(bin('redocly'), ['lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format', 'stylish']);
    // Past Redocly's own notices (a boxed note on the Node.js version), the findings.
    const findings = r.out
      .split('\n')
      .filter((line) => !/^\s*[╔║╚]/.test(line))
      .join('\n');
    expect(findings).not.toMatch(/\b(error|warning)s?\b/i);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/valid/i);
  }, 120_000);

  it('passes spectral lint with no errors or warnings', async () => {
    const r = await lint(bin('spectral'), [
      'lint',
      file,
      '--ruleset',
      join(ROOT, '.spectral.yaml'),
      '--fail-severity',
      'warn',
      '--format',
      'json',
      '--quiet',
    ]);
    const start = r.out.indexOf('[');
    const results = (start < 0 ? [] : JSON.parse(r.out.slice(start))) as Array<{
      code: string;
      message: string;
      path: string[];
    }>;
    expect(
      results.map((x) => `${x.code} at ${x.path.join('.')}: ${x.message}`),
      r.out,
    ).toEqual([]);
    expect(r.code, r.out).toBe(0);
  }, 120_000);

  it('has examples that its own schemas accept, and a schema for every answer', () => {
    const validator = schemaValidator(doc);
    let examples = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const media = [
          ...Object.entries(
            (op.requestBody as { content?: Record<string, { schema: unknown; example?: unknown }> })?.content ?? {},
          ),
          ...Object.values(
            op.responses as Record<string, { content?: Record<string, { schema: unknown; example?: unknown }> }>,
          ).flatMap((r) => Object.entries(r.content ?? {})),
        ];
        for (const [type, m] of media) {
          expect(m.schema, `${method} ${path} ${type}`).toBeDefined();
          if (m.example === undefined || !/json$/.test(type)) continue;
          const validate = validator(m.schema);
          expect(validate(m.example), `${method} ${path} ${type}: ${JSON.stringify(validate.errors)}`).toBe(true);
          examples++;
        }
      }
    }
    expect(examples).toBeGreaterThan(15);
  });
});
