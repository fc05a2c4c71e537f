// Where the workflow hands a loan to people: a call-back request, a hardship case, a wrong number,
// the end of the reminder schedule. Locally a JSON-lines file that an operations tool can tail;
// each item has an idempotency key, so a retried activity files it once.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

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

export class FileOperationsQueue implements OperationsQueue {
  private filed?: Map<string, string>;

  constructor(readonly path: string) {}

  async file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }> {
    if (!this.filed) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.filed = new Map(readOperations(this.path).map((i) => [i.idempotencyKey, i.filedAt]));
    }
    const earlier = this.filed.get(item.idempotencyKey);
    if (earlier) return { filedAt: earlier, duplicate: true };
    const filedAt = new Date().toISOString();
    appendFileSync(this.path, JSON.stringify({ ...item, filedAt }) + '\n');
    this.filed.set(item.idempotencyKey, filedAt);
    return { filedAt, duplicate: false };
  }
}
