// Starting up to 1,000 loans in one request: each item validated and started on its own (16 at a
// time), its trouble its own answer, the others going on.
import type { Logger } from '../../log';
import { ProblemError } from '../problem';
import { parse } from '../route-spec';
import { createLoanSchema, type CreateLoan } from '../schemas';
import type { Started, StartAnswer } from './start-loan';

export type BatchItem =
  | { index: number; httpStatus: 200 | 201; loan: StartAnswer }
  | {
      index: number;
      httpStatus: number;
      loanId?: string;
      problem: { title: string; detail?: string; errors?: Array<{ field: string; message: string }> };
    };

export interface BatchAnswer {
  started: number;
  existing: number;
  failed: number;
  results: BatchItem[];
}

const PARALLEL = 16;

export async function startBatch(
  loans: readonly unknown[],
  startLoan: (body: CreateLoan) => Promise<Started>,
  log: Logger,
): Promise<BatchAnswer> {
  const results: BatchItem[] = new Array(loans.length);
  let next = 0;
  const work = async () => {
    for (let i = next++; i < loans.length; i = next++) {
      try {
        const r = await startLoan(parse(createLoanSchema, loans[i]));
        results[i] = { index: i, httpStatus: r.code, loan: r.body };
      } catch (caught) {
        // One item's trouble is that item's answer; the others go on.
        const err =
          caught instanceof ProblemError
            ? caught
            : new ProblemError(503, 'Unavailable', 'could not reach Temporal; retry this item');
        if (!(caught instanceof ProblemError)) log.error({ err: caught }, 'batch item failed');
        const id = (loans[i] as { loanId?: unknown } | null)?.loanId;
        results[i] = {
          index: i,
          httpStatus: err.status,
          ...(typeof id === 'string' ? { loanId: id } : {}),
          problem: { title: err.title, detail: err.detail, errors: err.errors },
        };
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, work));
  const count = (f: (s: number) => boolean) => results.filter((r) => f(r.httpStatus)).length;
  return {
    started: count((s) => s === 201),
    existing: count((s) => s === 200),
    failed: count((s) => s >= 400),
    results,
  };
}
