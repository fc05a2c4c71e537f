import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Payment } from '../../src/domain/loan';
import { applyPayment, balanceFor, classifyPayment, totalPaid, type Balance } from '../../src/domain/settlement';

/** 1,000 runs per property in `npm test`; PROPERTY_RUNS=50000 for a deeper search. */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);

const arbAmount = fc.integer({ min: 1, max: 10_000_000 });
const payAll = (amountDue: number, amounts: readonly number[]) =>
  amounts.reduce<Balance>((b, a) => applyPayment(b, a), { outstanding: amountDue, overpaid: 0 });
const payment = (paymentId: string, amount: number, paidAt = '2024-10-30T08:00:00Z'): Payment => ({
  paymentId,
  amount,
  paidAt,
});

describe('settlement', () => {
  it('pays off what is owed first and counts the rest as overpaid', () => {
    expect(applyPayment({ outstanding: 500_000, overpaid: 0 }, 200_000)).toEqual({ outstanding: 300_000, overpaid: 0 });
    expect(applyPayment({ outstanding: 300_000, overpaid: 0 }, 350_000)).toEqual({ outstanding: 0, overpaid: 50_000 });
    expect(applyPayment({ outstanding: 0, overpaid: 50_000 }, 10_000)).toEqual({ outstanding: 0, overpaid: 60_000 });
    expect(balanceFor(400_000, 560_000)).toEqual({ outstanding: 0, overpaid: 160_000 });
  });

  it('tells a new payment, a retry and a conflicting report apart', () => {
    const counted = [payment('P-1', 100_000)];
    expect(classifyPayment(counted, [], payment('P-2', 100_000))).toBe('new');
    expect(classifyPayment(counted, [], payment('P-1', 100_000, '2024-10-30T16:00:00+08:00'))).toBe('repeat');
    expect(classifyPayment(counted, [], payment('P-1', 90_000))).toBe('conflict');
    expect(classifyPayment(counted, [payment('P-1', 90_000)], payment('P-1', 90_000))).toBe('repeat');
  });

  it('any payments in any order: owed and overpaid follow from the total, at most one above zero', () => {
    fc.assert(
      fc.property(
        arbAmount,
        fc.array(arbAmount, { maxLength: 10 }),
        fc.func(fc.integer()),
        (amountDue, amounts, key) => {
          const balance = payAll(amountDue, amounts);
          const paid = totalPaid(amounts.map((amount) => ({ amount })));
          expect(balance).toEqual(balanceFor(amountDue, paid));
          expect(balance.outstanding - balance.overpaid).toBe(amountDue - paid);
          expect(balance.outstanding === 0 || balance.overpaid === 0).toBe(true);
          const shuffled = [...amounts].sort((a, b) => key(a) - key(b));
          expect(payAll(amountDue, shuffled)).toEqual(balance);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a payment never raises what is owed nor lowers what was overpaid', () => {
    fc.assert(
      fc.property(arbAmount, fc.array(arbAmount, { maxLength: 6 }), arbAmount, (amountDue, before, amount) => {
        const b = payAll(amountDue, before);
        const a = applyPayment(b, amount);
        expect(a.outstanding).toBeLessThanOrEqual(b.outstanding);
        expect(a.overpaid).toBeGreaterThanOrEqual(b.overpaid);
        expect(b.outstanding - a.outstanding + (a.overpaid - b.overpaid)).toBe(amount);
      }),
      { numRuns: RUNS },
    );
  });

  it('a report under a known id is counted never again; only another amount or time not yet set aside is a conflict', () => {
    const arbPayment = fc
      .record({
        paymentId: fc.constantFrom('P-1', 'P-2', 'P-3'),
        amount: fc.constantFrom(100, 200),
        paidAt: fc.constantFrom('2024-10-30T08:00:00Z', '2024-10-30T16:00:00+08:00', '2024-10-31T08:00:00Z'),
      })
      .map((p): Payment => p);
    fc.assert(
      fc.property(fc.array(arbPayment, { maxLength: 8 }), (reports) => {
        const counted: Payment[] = [];
        const setAside: Payment[] = [];
        for (const p of reports) {
          const kind = classifyPayment(counted, setAside, p);
          const known = counted.find((c) => c.paymentId === p.paymentId);
          expect(kind === 'new').toBe(known === undefined);
          if (kind === 'new') counted.push(p);
          if (kind === 'conflict') setAside.push(p);
        }
        expect(new Set(counted.map((p) => p.paymentId)).size).toBe(counted.length);
        for (const p of setAside) expect(counted.some((c) => c.paymentId === p.paymentId)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
