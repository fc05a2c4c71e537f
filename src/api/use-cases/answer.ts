// A borrower's answer, from the loan system or a reply by SMS: a promise to pay is an update the
// loan may refuse; every other answer a signal, a free-text reply mapped to what it means first.
import { replyMeaning } from '../../domain/replies';
import { borrowerAnswerSignal, promiseToPayUpdate, type BorrowerAnswer, type LoanWorkflows } from '../loan-workflow';
import type { RouteDeps } from '../route-spec';
import type { Feedback } from '../schemas';

/**
 * A free-text reply as the loan hears it: a stop however worded opts out; a reply that may mean
 * stop holds the loan for operations to read; anything else is a call-back request for them.
 */
export function replySignal(text: string, ids: { answerId?: string; at?: string }): BorrowerAnswer {
  const meaning = replyMeaning(text);
  if (meaning === 'opt-out') return { kind: 'opt-out', ...ids };
  if (meaning === 'unclear') return { kind: 'unclear-reply', note: text, ...ids };
  return { kind: 'callback', note: text, ...ids };
}

export type AnswerOutcome =
  | { code: 200; body: { loanId: string; accepted: true; pausedUntil: string } }
  | { code: 202; body: { loanId: string; accepted: true; recordedAs: BorrowerAnswer['kind'] } };

export async function recordAnswer(
  d: Pick<RouteDeps, 'metrics'>,
  loans: LoanWorkflows,
  loanId: string,
  answer: Feedback,
): Promise<AnswerOutcome> {
  const h = loans.handle(loanId);
  if (answer.kind === 'promise-to-pay') {
    const r = await loans.onLoan(h, loanId, () =>
      h.executeUpdate(promiseToPayUpdate, { args: [{ date: answer.date }] }),
    );
    d.metrics.signals.inc({ kind: 'promise-to-pay' });
    return { code: 200, body: { loanId, accepted: true, ...r } };
  }
  const signal =
    answer.kind === 'reply' ? replySignal(answer.text, { answerId: answer.answerId, at: answer.at }) : answer;
  await loans.onLoan(h, loanId, () => h.signal(borrowerAnswerSignal, signal));
  d.metrics.signals.inc({ kind: signal.kind });
  return { code: 202, body: { loanId, accepted: true, recordedAs: signal.kind } };
}
