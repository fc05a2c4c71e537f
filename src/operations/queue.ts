// Where the workflow hands a loan to people: a call-back request, a hardship case, a wrong number,
// the end of the reminder schedule. Locally a JSON-lines file that an operations tool can tail;
// each item has an idempotency key, so a retried activity files it once. A borrower's own words in
// an item are stored only encrypted under the payload keys (see CLEAR_DETAIL).
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isSealedText, type EncryptionCodec } from '../codec/encryption';

export interface OperationsItem {
  loanId: string;
  kind: string;
  detail: Record<string, unknown>;
  idempotencyKey: string;
}

export interface OperationsQueue {
  file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }>;
}

export function readOperations(path: string): Array<OperationsItem & { filedAt: string }> {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as OperationsItem & { filedAt: string });
}

/**
 * The facts in an item's detail that operations sort and count by, set by the workflow from the
 * loan's own data: kept in clear. Anything else (a note, a reason, a reply's text, a provider's
 * failure text, and any field added later) may hold a borrower's words, a name or a number, so it
 * is stored only encrypted, or not at all.
 */
const CLEAR_DETAIL = new Set(['outstanding', 'currency', 'status', 'dueDate', 'timezone', 'date', 'plannedFor']);

function sealDetail(detail: Record<string, unknown>, codec: EncryptionCodec | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const withheld: string[] = [];
  for (const [k, v] of Object.entries(detail)) {
    if (CLEAR_DETAIL.has(k) || v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') {
      out[k] = v;
    } else if (codec) {
      out[k] = codec.sealText(typeof v === 'string' ? v : JSON.stringify(v));
    } else {
      out[k] = null;
      withheld.push(k);
    }
  }
  if (withheld.length) out.withheld = withheld;
  return out;
}

/** An item as filed, its sealed free text opened with the payload keys (for operations' tools). */
export function openOperationsItem<T extends OperationsItem>(item: T, codec: EncryptionCodec): T {
  const detail = Object.fromEntries(
    Object.entries(item.detail).map(([k, v]) => [k, isSealedText(v) ? codec.openText(v) : v]),
  );
  return { ...item, detail };
}

export interface FileOperationsQueueOptions {
  /** Seals the borrower's free text with the payload keys; without it that text is not stored. */
  codec?: EncryptionCodec;
}

export class FileOperationsQueue implements OperationsQueue {
  private filed?: Map<string, string>;

  constructor(
    readonly path: string,
    private readonly options: FileOperationsQueueOptions = {},
  ) {}

  async file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }> {
    if (!this.filed) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.filed = new Map(readOperations(this.path).map((i) => [i.idempotencyKey, i.filedAt]));
    }
    const earlier = this.filed.get(item.idempotencyKey);
    if (earlier) return { filedAt: earlier, duplicate: true };
    const filedAt = new Date().toISOString();
    const detail = sealDetail(item.detail, this.options.codec);
    appendFileSync(this.path, JSON.stringify({ ...item, detail, filedAt }) + '\n');
    this.filed.set(item.idempotencyKey, filedAt);
    return { filedAt, duplicate: false };
  }
}
