// docker-compose.yml and its environment files, checked without a Docker engine: the file against
// the Compose Specification's JSON schema, every variable it uses against deploy/README.md and the
// app's configuration, health checks, pinned images, and the search attributes it registers.
import Ajv from 'ajv';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LOAN_SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

const ROOT = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

// --- the Compose file -------------------------------------------------------------------------

type EnvFileEntry = string | { path: string; required?: boolean };
interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  environment?: Record<string, unknown> | string[];
  env_file?: EnvFileEntry | EnvFileEntry[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: Array<string | { type: string; source?: string }>;
}
interface ComposeFile {
  services: Record<string, Service>;
  [key: string]: unknown;
}

const COMPOSE_TEXT = read('docker-compose.yml');
// `<<: *anchor` merge keys, as Compose reads them.
const compose = parse(COMPOSE_TEXT, { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);

interface Interpolation {
  name: string;
  /** The text after `:-` or `-`, itself interpolated; undefined without one. */
  fallback?: string;
}

/** Every `${NAME...}` in a string, nested ones included; `$$` is a literal dollar. */
function interpolations(text: string): Interpolation[] {
  const found: Interpolation[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$') continue;
    if (text[i + 1] === '$') {
      i++;
      continue;
    }
    if (text[i + 1] !== '{') continue;
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 2))?.[0];
    if (!name) throw new Error(`malformed interpolation at ${JSON.stringify(text.slice(i, i + 30))}`);
    let j = i + 2 + name.length;
    let depth = 1;
    const start = j;
    for (; j < text.length && depth > 0; j++) {
      if (text[j] === '{') depth++;
      if (text[j] === '}') depth--;
    }
    if (depth !== 0) throw new Error(`unclosed interpolation in ${JSON.stringify(text)}`);
    const modifier = text.slice(start, j - 1);
    const fallback = /^:?-/.exec(modifier) ? modifier.replace(/^:?-/, '') : undefined;
    found.push({ name, fallback });
    if (fallback) found.push(...interpolations(fallback));
    i = j - 1;
  }
  return found;
}

/** The string as Compose makes it with none of its variables set: each default, or ''. */
function withDefaults(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') {
      out += '$';
      i++;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      const [first] = interpolations(text.slice(i));
      let depth = 0;
      let j = i + 1;
      for (; j < text.length; j++) {
        if (text[j] === '{') depth++;
        if (text[j] === '}' && --depth === 0) break;
      }
      out += first.fallback === undefined ? '' : withDefaults(first.fallback);
      i = j;
    } else {
      out += text[i];
    }
  }
  return out;
}

/** Every string in the parsed file, keys included. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
  return [];
}

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  return value;
}

const INTERPOLATED = strings(compose).flatMap(interpolations);
const INTERPOLATED_NAMES = new Set(INTERPOLATED.map((i) => i.name));

function environmentKeys(service: Service): string[] {
  const env = service.environment;
  if (!env) return [];
  return Array.isArray(env) ? env.map((e) => e.split('=')[0]) : Object.keys(env);
}

function envFiles(service: Service): string[] {
  const entries = service.env_file === undefined ? [] : [service.env_file].flat();
  return entries.map((e) => (typeof e === 'string' ? e : e.path));
}

/** Variables an env file sets, and those it shows commented out (`# NAME=...`). */
function envFileKeys(path: string): { set: string[]; all: string[] } {
  const set: string[] = [];
  const all: string[] = [];
  for (const line of read(path).split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=/.exec(line.trim());
    if (!m) continue;
    all.push(m[2]);
    if (!m[1]) set.push(m[2]);
  }
  return { set, all };
}

function envFileValues(path: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of read(path).split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) values.set(m[1], m[2].trim());
  }
  return values;
}

/** The services built from the Dockerfile: the app. */
const appServices = services.filter(([, s]) => s.build !== undefined);

/** The variables src/config.ts reads: the keys of its zod schema object, read from the source. */
function configVariables(): Set<string> {
  const source = read('src/config.ts');
  const start = source.indexOf('.object({', source.indexOf('const schema = z'));
  const end = source.indexOf('\n  })', start);
  expect(start, 'the schema object in src/config.ts').toBeGreaterThan(0);
  expect(end, 'the end of the schema object in src/config.ts').toBeGreaterThan(start);
  return new Set([...source.slice(start, end).matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]));
}

function documented(): string {
  return read('deploy/README.md');
}

const isDocumented = (readme: string, name: string): boolean => readme.includes('`' + name + '`');

// --- the tests --------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  it('is valid under the Compose Specification JSON schema', () => {
    const requireFromHere = createRequire(__filename);
    // dclint ships the compose-spec project's schema/compose-spec.json (draft-07) as it is.
    const schemaPath = join(dirname(requireFromHere.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
    expect(schema.title).toBe('Compose Specification');
    // `deprecated` is a 2019-09 annotation the draft-07 schema uses; the meta-schema is draft-07.
    const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
    const validate = ajv.compile(schema);
    // Compose validates the file after interpolation; with nothing set, each default applies.
    const resolved = mapStrings(compose, withDefaults);
    const valid = validate(resolved);
    expect(valid, ajv.errorsText(validate.errors, { separator: '\n' })).toBe(true);

    // The schema does reject what Compose rejects.
    const broken = structuredClone(resolved) as ComposeFile;
    (broken.services.api as Record<string, unknown>).healthcheck = { test: 'true', intervall: '5s' };
    expect(validate(broken)).toBe(false);
  });

  it('documents in deploy/README.md every variable it interpolates, sets or reads from a file', () => {
    const readme = documented();
    const names = new Set<string>(INTERPOLATED_NAMES);
    for (const [, service] of services) {
      for (const key of environmentKeys(service)) names.add(key);
      for (const file of envFiles(service)) for (const key of envFileKeys(`${file}.example`).all) names.add(key);
    }
    for (const key of envFileKeys('deploy/.env.example').all) names.add(key);
    expect(names.size).toBeGreaterThan(30);
    const missing = [...names].filter((n) => !isDocumented(readme, n)).sort();
    expect(missing, 'variables not in deploy/README.md (as `NAME`)').toEqual([]);
  });

  it('reads environment files that exist as git-ignored .example files', () => {
    const ignored = read('.gitignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => new RegExp(`^${l.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`));
    const files = new Set(services.flatMap(([, s]) => envFiles(s)));
    expect(files.size).toBeGreaterThan(0);
    for (const file of files) {
      expect(existsSync(join(ROOT, `${file}.example`)), `${file}.example`).toBe(true);
      expect(
        ignored.some((re) => re.test(file)),
        `${file} is git-ignored`,
      ).toBe(true);
    }
    expect(ignored.some((re) => re.test('.env'))).toBe(true);
  });

  it('passes the app only variables its configuration reads', () => {
    const config = configVariables();
    expect(config.has('TEMPORAL_ADDRESS') && config.has('SMS_PROVIDER') && config.size > 30).toBe(true);
    const known = (name: string) => config.has(name);
    for (const [name, service] of appServices) {
      const unknown = environmentKeys(service).filter((k) => !known(k));
      expect(unknown, `${name}: environment variables the app does not read`).toEqual([]);
      for (const file of envFiles(service)) {
        const typos = envFileKeys(`${file}.example`).all.filter((k) => !known(k));
        expect(typos, `${file}.example: variables the app does not read`).toEqual([]);
      }
    }
    expect(appServices.map(([n]) => n).sort()).toEqual(['api', 'worker']);
  });

  it('sets no app variable both in the compose file and in its env file, where the file would lose', () => {
    for (const [name, service] of appServices) {
      const fromCompose = new Set(environmentKeys(service));
      for (const file of envFiles(service)) {
        const both = envFileKeys(`${file}.example`).set.filter((k) => fromCompose.has(k));
        expect(both, `${name}: set in docker-compose.yml, which overrides ${file}`).toEqual([]);
      }
    }
  });

  it('gives every service a health check, or runs it once before the services that need it', () => {
    const completedBy = new Map<string, string[]>();
    const healthyNeeded = new Set<string>();
    for (const [name, service] of services) {
      const deps = service.depends_on;
      expect(deps === undefined || !Array.isArray(deps), `${name}: depends_on with conditions`).toBe(true);
      for (const [dep, { condition }] of Object.entries(deps ?? {})) {
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
        if (condition === 'service_completed_successfully')
          completedBy.set(dep, [...(completedBy.get(dep) ?? []), name]);
        if (condition === 'service_healthy') healthyNeeded.add(dep);
      }
    }
    for (const [name, service] of services) {
      const hasCheck = service.healthcheck !== undefined && !service.healthcheck.disable && service.healthcheck.test;
      const oneShot = completedBy.has(name) && (service.restart ?? 'no') === 'no';
      expect(Boolean(hasCheck) !== oneShot, `${name}: a health check, or a one-shot others wait for`).toBe(true);
      if (!oneShot) expect(service.restart, `${name}: restart policy`).toBe('unless-stopped');
    }
    for (const name of healthyNeeded) expect(compose.services[name].healthcheck, `${name} health check`).toBeDefined();
  });

  it('pins every image to a version, in the compose file and in the Dockerfile', () => {
    const pinned = /^\d+\.\d+(\.\d+)?([-.][\w.-]+)?$/;
    for (const [name, service] of services) {
      if (service.build !== undefined) continue;
      expect(service.image, `${name}: image`).toBeDefined();
      for (const { name: variable, fallback } of interpolations(service.image!)) {
        expect(fallback, `${name}: \${${variable}} in its image needs a default`).toBeTruthy();
      }
      const image = withDefaults(service.image!);
      const tag = /^[\w./-]+:([\w.-]+)$/.exec(image)?.[1];
      expect(tag, `${name}: ${image} has a tag`).toBeDefined();
      expect(tag, `${name}: ${image}`).not.toBe('latest');
      expect(tag, `${name}: ${image} is pinned to a version`).toMatch(pinned);
    }
    const dockerfile = read('Dockerfile');
    const args = new Map([...dockerfile.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
    const froms = [...dockerfile.matchAll(/^FROM (?:--platform=\S+ )?(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThan(1);
    const stages = new Set([...dockerfile.matchAll(/^FROM .* AS (\S+)$/gm)].map((m) => m[1]));
    for (const from of froms) {
      if (stages.has(from)) continue;
      const image = from.replace(/^\$\{(\w+)\}$/, (_, arg: string) => args.get(arg) ?? from);
      expect(image.split(':')[1], `Dockerfile FROM ${from}`).toMatch(pinned);
    }
  });

  it('lists every interpolated variable in deploy/.env.example, with the same defaults', () => {
    const example = envFileValues('deploy/.env.example');
    const missing = [...INTERPOLATED_NAMES].filter((n) => !example.has(n)).sort();
    const unused = [...example.keys()].filter((n) => !INTERPOLATED_NAMES.has(n)).sort();
    expect(missing, 'interpolated in docker-compose.yml, missing from deploy/.env.example').toEqual([]);
    expect(unused, 'in deploy/.env.example, not used by docker-compose.yml').toEqual([]);
    const defaults = new Map<string, Set<string>>();
    for (const { name, fallback } of INTERPOLATED) {
      if (fallback === undefined) continue;
      defaults.set(name, (defaults.get(name) ?? new Set()).add(withDefaults(fallback)));
    }
    for (const [name, values] of defaults) {
      expect([...values], `${name}: one default throughout docker-compose.yml`).toHaveLength(1);
      const value = example.get(name);
      if (value) expect(value, `deploy/.env.example ${name}`).toBe([...values][0]);
    }
  });

  it('mounts only files that exist', () => {
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
        if (!source?.startsWith('.')) continue;
        expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
      }
    }
    const workerCheck = [compose.services.worker.healthcheck?.test ?? []].flat().join(' ');
    const script = /deploy\/[\w.-]+\.mjs/.exec(workerCheck)?.[0];
    expect(script, 'the worker health check script').toBeDefined();
    expect(existsSync(join(ROOT, script!))).toBe(true);
    expect(read('Dockerfile'), 'the image has the worker health check script').toContain(`COPY ${script}`);
  });

  it('shares no volume between the app containers: DATA_DIR is a tmpfs, the outbox the one exception', () => {
    const mounts = (service: Service) =>
      (service.volumes ?? []).map((v) =>
        typeof v === 'string' ? v : `${v.source ?? ''}:${(v as { target?: string }).target ?? ''}`,
      );
    const tmpfs = (service: Service) => [(service as { tmpfs?: string | string[] }).tmpfs ?? []].flat();
    const api = compose.services.api;
    const worker = compose.services.worker;
    expect(tmpfs(api), 'api: DATA_DIR (/app/data) is a tmpfs').toContain('/app/data');
    expect(mounts(api), 'api mounts nothing').toEqual([]);
    // The worker's only volume is the outbox provider's file (SMS_PROVIDER=outbox).
    expect(mounts(worker)).toEqual(['outbox:/app/data']);
    const named = (service: Service) =>
      mounts(service)
        .map((m) => m.split(':')[0])
        .filter((m) => !m.startsWith('.'));
    for (const [a, sa] of services) {
      for (const [b, sb] of services) {
        if (a >= b) continue;
        const both = named(sa).filter((v) => named(sb).includes(v));
        expect(both, `${a} and ${b} share a volume`).toEqual([]);
      }
    }
    expect(Object.keys((compose.volumes ?? {}) as Record<string, unknown>).sort()).toEqual(['outbox', 'postgres-data']);
  });

  it('serves a read-only Web UI: no terminate, cancel, signal or reset from it', () => {
    const env = compose.services['temporal-ui'].environment as Record<string, unknown>;
    // The image's config template reads it as a boolean; a quoted 'true' keeps YAML from retyping it.
    expect(env.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('true');
    expect(documented()).toMatch(/`TEMPORAL_DISABLE_WRITE_ACTIONS`[^\n]*read-only/);
  });

  it('gives Temporal history shards for growth, explained in deploy/README.md', () => {
    const env = compose.services.temporal.environment as Record<string, string>;
    const shards = Number(withDefaults(env.NUM_HISTORY_SHARDS));
    // Fixed when the temporal database is created: sized for the largest load, not the first month.
    expect(shards).toBeGreaterThanOrEqual(512);
    expect(documented()).toContain('## History shards');
  });

  it("registers the loan workflow's search attributes with their types", () => {
    const script = read('deploy/temporal/setup-namespace.sh');
    const list = /^SEARCH_ATTRIBUTES="([^"]*)"$/m.exec(script)?.[1];
    expect(list, 'SEARCH_ATTRIBUTES in deploy/temporal/setup-namespace.sh').toBeDefined();
    const cliType: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', DATETIME: 'Datetime' };
    const expected = LOAN_SEARCH_ATTRIBUTES.map((k) => `${k.name}:${cliType[k.type] ?? k.type}`).sort();
    expect(list!.split(/\s+/).filter(Boolean).sort(), 'name:type, as src/workflows/search-attributes.ts').toEqual(
      expected,
    );
    // The same namespace for the setup, the app and the UI.
    const namespaces = new Set(
      services.flatMap(([, s]) => {
        const env = (s.environment ?? {}) as Record<string, string>;
        return [env.TEMPORAL_NAMESPACE, env.TEMPORAL_DEFAULT_NAMESPACE].filter((v) => v !== undefined);
      }),
    );
    expect([...namespaces]).toEqual(['${TEMPORAL_NAMESPACE:-default}']);
  });
});

describe('interpolation parsing', () => {
  it('reads defaults, nesting and escapes as Compose does', () => {
    expect(interpolations('a ${A} ${B:-x} ${C-y} $${D} ${E:-${F:-z}}')).toEqual([
      { name: 'A', fallback: undefined },
      { name: 'B', fallback: 'x' },
      { name: 'C', fallback: 'y' },
      { name: 'E', fallback: '${F:-z}' },
      { name: 'F', fallback: 'z' },
    ]);
    expect(withDefaults('a ${A} ${B:-x} $${D} ${E:-${F:-z}}!')).toBe('a  x ${D} z!');
  });
});
