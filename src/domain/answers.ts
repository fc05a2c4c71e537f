// What a borrower's answer (an opt-out, a dispute, a rating, ...) does to the loan: whether it stops
// the texts, blocks the number, holds the loan, goes to operations, or softens the tone.
import type { EventDetail } from './events';
import type { PauseKind } from './holds';
import { HARSH_TONE_AT_MOST } from './variants';

export type BorrowerAnswer =
  | { kind: 'opt-out'; answerId?: string; at?: string }
  | { kind: 'dispute'; answerId?: string; at?: string; reason?: string }
  | { kind: 'hardship'; answerId?: string; at?: string; note?: string }
  | { kind: 'callback'; answerId?: string; at?: string; note?: string }
  | { kind: 'wrong-number'; answerId?: string; at?: string }
  /** A reply that may mean "stop" but not clearly: no text until operations have read it. */
  | { kind: 'unclear-reply'; answerId?: string; at?: string; note?: string }
  | { kind: 'rating'; answerId?: string; at?: string; messageKey: string; clarity: number; tone: number };

/** What the loan does with an answer, in this order: opt out, block the number, hold, hand over, soften. */
export interface AnswerEffect {
  optOut?: true;
  blockNumber?: true;
  hold?: PauseKind;
  handOver?: { kind: string; detail: Record<string, unknown> };
  gentle?: true;
}

export interface AnswerContext {
  /** The loan is paid, closed or unresolved: nothing is held any more. */
  finished: boolean;
  optedOut: boolean;
  /** The policy's `gentleAfterHarshRating`. */
  gentleAfterHarshRating: boolean;
}

export function answerEffect(answer: BorrowerAnswer, loan: AnswerContext): AnswerEffect {
  const hold = (kind: PauseKind) => (loan.finished ? {} : { hold: kind });
  switch (answer.kind) {
    case 'opt-out':
      if (loan.optedOut) return {};
      return { optOut: true, ...(loan.finished ? {} : { handOver: { kind: 'opt-out', detail: {} } }) };
    case 'dispute':
      return { ...hold('dispute'), handOver: { kind: 'dispute', detail: { reason: answer.reason ?? null } } };
    case 'hardship':
      return { ...hold('hardship'), handOver: { kind: 'hardship', detail: { note: answer.note ?? null } } };
    case 'callback':
      return { handOver: { kind: 'callback', detail: { note: answer.note ?? null } } };
    case 'wrong-number':
      return { blockNumber: true, ...hold('wrong-number'), handOver: { kind: 'wrong-number', detail: {} } };
    case 'unclear-reply':
      return { ...hold('review'), handOver: { kind: 'unclear-reply', detail: { note: answer.note ?? null } } };
    case 'rating':
      return loan.gentleAfterHarshRating && answer.tone <= HARSH_TONE_AT_MOST ? { gentle: true } : {};
  }
}

/** An answer already heard under the same id (a provider repeating its webhook). */
export function isRepeatedAnswer(heard: readonly { answerId?: string }[], answer: BorrowerAnswer): boolean {
  return !!answer.answerId && heard.some((a) => a.answerId === answer.answerId);
}

/** The answer's facts for the event store: its kind and ratings only, never the borrower's own words. */
export function answerEventDetail(answer: BorrowerAnswer): EventDetail {
  const detail: EventDetail = { kind: answer.kind, answerId: answer.answerId ?? null };
  if (answer.kind === 'rating')
    Object.assign(detail, { messageKey: answer.messageKey, clarity: answer.clarity, tone: answer.tone });
  return detail;
}
