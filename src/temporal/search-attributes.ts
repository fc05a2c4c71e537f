// Registers the loan search attributes on a Temporal server that lacks them (a cluster or a dev
// server started elsewhere), so the workflow can keep them current. Idempotent. And decides, at the
// worker's start, whether its loans keep them at all (WORKER_SEARCH_ATTRIBUTES).
import type { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { Config } from '../config';
import type { Logger } from '../log';
import { LOAN_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

const TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** `--search-attribute` arguments for `temporal server start-dev`. */
export function devServerSearchAttributeArgs(): string[] {
  const cliType: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', DATETIME: 'Datetime' };
  return LOAN_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${cliType[k.type]}`]);
}

export async function ensureSearchAttributes(connection: NativeConnection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([
    ...Object.keys(existing.customAttributes ?? {}),
    ...Object.keys(existing.systemAttributes ?? {}),
  ]);
  const missing = LOAN_SEARCH_ATTRIBUTES.filter((k) => !known.has(k.name));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k.name, TYPE[k.type]])),
  });
  return missing.map((k) => k.name);
}

/** gRPC's UNIMPLEMENTED and UNAVAILABLE: the server (or a proxy before it) offers no OperatorService. */
const NO_OPERATOR_SERVICE: ReadonlySet<number> = new Set([12, 14]);

/**
 * Whether this worker's loans keep their search attributes current, decided once at start-up by
 * its configuration. `off`: no. `on`: yes, registered here if missing; a server that cannot
 * register or list them stops the worker. `auto`: the server is asked (the same listing); without
 * an OperatorService (the time-skipping test server has none) the worker says so once and its
 * loans keep none; any other failure stops the worker as `on` would.
 */
export async function decideSearchAttributes(
  connection: NativeConnection,
  namespace: string,
  mode: Config['searchAttributes'],
  log: Logger,
): Promise<boolean> {
  if (mode === 'off') {
    log.info('search attributes off (WORKER_SEARCH_ATTRIBUTES=off): loans keep none');
    return false;
  }
  try {
    const registered = await ensureSearchAttributes(connection, namespace);
    if (registered.length) log.info({ registered }, 'registered search attributes');
    return true;
  } catch (err) {
    const code = (err as { code?: unknown } | undefined)?.code;
    if (mode === 'auto' && typeof code === 'number' && NO_OPERATOR_SERVICE.has(code)) {
      log.warn(
        { code, reason: err instanceof Error ? err.message : String(err) },
        'the Temporal server has no OperatorService: loans keep no search attributes (WORKER_SEARCH_ATTRIBUTES=auto)',
      );
      return false;
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`WORKER_SEARCH_ATTRIBUTES=${mode}: cannot list or register the search attributes (${reason})`, {
      cause: err,
    });
  }
}
