import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  answerEffect,
  answerEventDetail,
  isRepeatedAnswer,
  type AnswerContext,
  type BorrowerAnswer,
} from '../../src/domain/answers';
import { HARSH_TONE_AT_MOST } from '../../src/domain/variants';

/** 1,000 runs per property in `npm test`; PROPERTY_RUNS=50000 for a deeper search. */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);

const arbWords = fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined });
const arbId = fc.option(fc.constantFrom('A-1', 'A-2', 'A-3'), { nil: undefined });
const arbAnswer: fc.Arbitrary<BorrowerAnswer> = fc.oneof(
  fc.record({ kind: fc.constant('opt-out' as const), answerId: arbId }),
  fc.record({ kind: fc.constant('dispute' as const), answerId: arbId, reason: arbWords }),
  fc.record({ kind: fc.constant('hardship' as const), answerId: arbId, note: arbWords }),
  fc.record({ kind: fc.constant('callback' as const), answerId: arbId, note: arbWords }),
  fc.record({ kind: fc.constant('wrong-number' as const), answerId: arbId }),
  fc.record({ kind: fc.constant('unclear-reply' as const), answerId: arbId, note: arbWords }),
  fc.record({
    kind: fc.constant('rating' as const),
    answerId: arbId,
    messageKey: fc.constant('L-1:due@2024-10-30'),
    clarity: fc.integer({ min: 1, max: 5 }),
    tone: fc.integer({ min: 1, max: 5 }),
  }),
);
const arbContext: fc.Arbitrary<AnswerContext> = fc.record({
  finished: fc.boolean(),
  optedOut: fc.boolean(),
  gentleAfterHarshRating: fc.boolean(),
});
const active: AnswerContext = { finished: false, optedOut: false, gentleAfterHarshRating: true };

describe('borrower answers', () => {
  it('maps every kind of answer on an active loan', () => {
    expect(answerEffect({ kind: 'opt-out' }, active)).toEqual({
      optOut: true,
      handOver: { kind: 'opt-out', detail: {} },
    });
    expect(answerEffect({ kind: 'dispute', reason: 'paid in cash' }, active)).toEqual({
      hold: 'dispute',
      handOver: { kind: 'dispute', detail: { reason: 'paid in cash' } },
    });
    expect(answerEffect({ kind: 'hardship' }, active)).toEqual({
      hold: 'hardship',
      handOver: { kind: 'hardship', detail: { note: null } },
    });
    expect(answerEffect({ kind: 'callback', note: 'after 6pm' }, active)).toEqual({
      handOver: { kind: 'callback', detail: { note: 'after 6pm' } },
    });
    expect(answerEffect({ kind: 'wrong-number' }, active)).toEqual({
      blockNumber: true,
      hold: 'wrong-number',
      handOver: { kind: 'wrong-number', detail: {} },
    });
    expect(answerEffect({ kind: 'unclear-reply', note: 'enough' }, active)).toEqual({
      hold: 'review',
      handOver: { kind: 'unclear-reply', detail: { note: 'enough' } },
    });
    const rating = (tone: number): BorrowerAnswer => ({ kind: 'rating', messageKey: 'k', clarity: 4, tone });
    expect(answerEffect(rating(HARSH_TONE_AT_MOST), active)).toEqual({ gentle: true });
    expect(answerEffect(rating(HARSH_TONE_AT_MOST + 1), active)).toEqual({});
    expect(answerEffect(rating(1), { ...active, gentleAfterHarshRating: false })).toEqual({});
  });

  it('a finished loan is never held, an opt-out is heard once, and every other answer but a rating goes to a person', () => {
    fc.assert(
      fc.property(arbAnswer, arbContext, (answer, loan) => {
        const effect = answerEffect(answer, loan);
        if (loan.finished) expect(effect.hold).toBeUndefined();
        if (answer.kind === 'opt-out') {
          expect(effect.optOut === true).toBe(!loan.optedOut);
          expect(effect.handOver !== undefined).toBe(!loan.optedOut && !loan.finished);
        } else {
          expect(effect.optOut).toBeUndefined();
          expect(effect.handOver?.kind).toBe(answer.kind === 'rating' ? undefined : answer.kind);
        }
        expect(effect.blockNumber === true).toBe(answer.kind === 'wrong-number');
        expect(effect.gentle === true).toBe(
          answer.kind === 'rating' && loan.gentleAfterHarshRating && answer.tone <= HARSH_TONE_AT_MOST,
        );
        if (effect.hold) expect(['dispute', 'hardship', 'wrong-number', 'review']).toContain(effect.hold);
      }),
      { numRuns: RUNS },
    );
  });

  it('the stored facts of an answer hold its kind and ratings, never the borrower’s words', () => {
    fc.assert(
      fc.property(arbAnswer, (answer) => {
        const detail = answerEventDetail(answer);
        expect(detail.kind).toBe(answer.kind);
        expect(detail.answerId).toBe(answer.answerId ?? null);
        const words = [
          'note' in answer ? answer.note : undefined,
          'reason' in answer ? answer.reason : undefined,
        ].filter((w): w is string => w !== undefined && w !== answer.kind && w !== answer.answerId);
        for (const w of words) expect(Object.values(detail)).not.toContain(w);
        expect(Object.keys(detail).sort()).toEqual(
          answer.kind === 'rating' ? ['answerId', 'clarity', 'kind', 'messageKey', 'tone'] : ['answerId', 'kind'],
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('an answer is a repeat only under an id already heard', () => {
    fc.assert(
      fc.property(fc.array(arbAnswer, { maxLength: 8 }), arbAnswer, (heard, answer) => {
        expect(isRepeatedAnswer(heard, answer)).toBe(
          answer.answerId !== undefined && heard.some((a) => a.answerId === answer.answerId),
        );
      }),
      { numRuns: RUNS },
    );
  });
});
