// Borrowers' SMS replies: each told to every open loan of the number it came from, as what it means
// (a stop opts out; other text goes to operations). Returns how many loans heard one.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { PhoneIndex } from '../../store/phone-index';
import { borrowerAnswerSignal, type LoanWorkflows } from '../loan-workflow';
import type { RouteDeps } from '../route-spec';
import type { Reply } from '../sms-webhooks';
import { replySignal } from './answer';

export async function deliverReplies(
  d: Pick<RouteDeps, 'metrics'>,
  loans: LoanWorkflows,
  index: PhoneIndex,
  replies: readonly Reply[],
): Promise<number> {
  let matched = 0;
  for (const reply of replies) {
    const loanIds = await index.loansOf(reply.phone);
    const signal = replySignal(reply.text.slice(0, 500), { answerId: reply.answerId });
    for (const loanId of loanIds) {
      const sent = await loans
        .handle(loanId)
        .signal(borrowerAnswerSignal, signal)
        .then(
          () => true,
          (err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return false; // that loan has ended
            throw err;
          },
        );
      if (sent) {
        matched++;
        d.metrics.signals.inc({ kind: `reply-${signal.kind}` });
      }
    }
  }
  return matched;
}
