// The loan workflow over weeks of workflow time, on the time-skipping test server.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import type { Lender, Loan } from '../../src/domain/loan';
import { planReminders } from '../../src/domain/schedule';
import { readOutbox } from '../../src/sms/outbox';
import {
  loanReminder,
  loanStatusQuery,
  paymentReceivedSignal,
  type LoanReminderInput,
} from '../../src/workflows/loan-reminder';
import { localDate, RecordingProvider, timeSkippingEnv, workflowBundle } from '../helpers/temporal';

const lender: Lender = { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' };
const DAY = 86_400_000;
const TZ = 'Asia/Shanghai';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await timeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

/** A loan due `days` from now in server time, which moves ahead as earlier tests skip time. */
async function loanDueIn(days: number, overrides: Partial<Loan> = {}): Promise<Loan> {
  const now = await env.currentTimeMs();
  return {
    loanId: `L-${randomUUID()}`,
    borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone: TZ },
    amountDue: 500000,
    currency: 'CNY',
    dueDate: localDate(now, TZ, days),
    ...overrides,
  };
}

/** Runs `body` with a worker whose SMS go to a fresh outbox. Tests share the server, so they run serially. */
async function withWorker<T>(body: (sms: RecordingProvider, taskQueue: string) => Promise<T>): Promise<T> {
  const sms = new RecordingProvider();
  const taskQueue = `test-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ sms }),
  });
  return worker.runUntil(body(sms, taskQueue));
}

function start(loan: Loan, taskQueue: string, extra: Partial<LoanReminderInput> = {}) {
  return env.client.workflow.start(loanReminder, {
    workflowId: `loan-${loan.loanId}`,
    taskQueue,
    args: [{ loan, lender, sendTime: '10:00', ...extra }],
  });
}

const localTime = (ms: number) => DateTime.fromMillis(ms, { zone: TZ }).toFormat('yyyy-MM-dd HH:mm');

describe('loanReminder workflow', () => {
  it('sends three reminders at 10:00 Shanghai time, a week before, on and after the due date, then ends unresolved', async () => {
    const loan = await loanDueIn(10);
    const plan = planReminders(loan.dueDate, TZ, '10:00');
    await withWorker(async (sms, taskQueue) => {
      const handle = await start(loan, taskQueue);
      const result = await handle.result();

      expect(result.status).toBe('unresolved');
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due', 'due', 'overdue']);
      sms.sent.forEach((m, i) => {
        expect(m.scheduledFor).toBe(plan[i].at);
        // It went out at the planned minute of server time, not before and not late.
        expect(localTime(m.serverTimeMs)).toBe(localTime(Date.parse(plan[i].at)));
        expect(m.serverTimeMs).toBeGreaterThanOrEqual(Date.parse(plan[i].at));
        expect(m.to).toBe('+8613800138000');
        expect(m.body).toContain('张先生');
        expect(m.body).toContain('5000元');
        expect(m.body).toContain('4001234567');
      });
      expect(localTime(sms.sent[0].serverTimeMs)).toBe(`${localDate(Date.parse(plan[0].at), TZ, 0)} 10:00`);
      expect(sms.sent[1].body).toBe(
        `尊敬的张先生，您好！您在锦程金融的还款金额为5000元，截止日期为${DateTime.fromISO(loan.dueDate).toFormat("yyyy'年'M'月'd'日'")}。请您尽快处理，以免产生额外费用。如有疑问，请拨打我们的客服热线：4001234567。感谢您的配合！回复TD退订`,
      );
      // The outbox file holds exactly what was sent, with what the issue asks each line to carry.
      const lines = readOutbox(sms.outbox.path);
      expect(lines.map((l) => l.idempotencyKey)).toEqual(plan.map((p) => `${loan.loanId}:${p.stage}:${p.localDate}`));
      for (const l of lines) expect(l).toMatchObject({ loanId: loan.loanId, segments: expect.any(Number) });
      expect(result.messagesSent).toHaveLength(3);
    });
  });

  it('states what is left after a partial payment, counts a repeated payment once, and stops when paid in full', async () => {
    const loan = await loanDueIn(10);
    const plan = planReminders(loan.dueDate, TZ, '10:00');
    await withWorker(async (sms, taskQueue) => {
      const handle = await start(loan, taskQueue);
      // Past the pre-due reminder, before the due-day one.
      await env.sleep(Date.parse(plan[0].at) - (await env.currentTimeMs()) + DAY);
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due']);

      const partial = { paymentId: 'P-1', amount: 200000, paidAt: new Date().toISOString() };
      await handle.signal(paymentReceivedSignal, partial);
      await handle.signal(paymentReceivedSignal, partial); // the webhook retried
      const mid = await handle.query(loanStatusQuery);
      expect(mid.outstanding).toBe(300000);
      expect(mid.payments).toHaveLength(1);
      expect(mid.nextReminder).toEqual({ stage: 'due', at: plan[1].at });

      // Through the due-day reminder, which states the 3000 yuan still owed.
      await env.sleep(Date.parse(plan[1].at) - (await env.currentTimeMs()) + 60_000);
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due', 'due']);
      expect(sms.sent[1].body).toContain('3000元');

      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-2',
        amount: 300000,
        paidAt: new Date().toISOString(),
      });
      const result = await handle.result();
      expect(result.status).toBe('paid');
      expect(result.outstanding).toBe(0);
      expect(result.nextReminder).toBeNull();
      // No overdue reminder after the loan was paid.
      await env.sleep(3 * DAY);
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due', 'due']);
    });
  });

  it('sends nothing when the loan is paid before its first reminder, and records an overpayment', async () => {
    const loan = await loanDueIn(20);
    await withWorker(async (sms, taskQueue) => {
      const handle = await start(loan, taskQueue);
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-9',
        amount: 510000,
        paidAt: new Date().toISOString(),
      });
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'paid', outstanding: 0, overpaid: 10000 });
      expect(sms.sent).toEqual([]);
    });
  });

  it('skips reminders whose day had passed when the loan was started and sends the ones still ahead', async () => {
    const loan = await loanDueIn(3); // the pre-due day was 4 days ago
    await withWorker(async (sms, taskQueue) => {
      const result = await (await start(loan, taskQueue)).result();
      expect(result.skipped.map((s) => s.stage)).toEqual(['pre-due']);
      expect(sms.sent.map((m) => m.stage)).toEqual(['due', 'overdue']);
    });
  });

  it('records a reminder that cannot be delivered to the number and goes on with the loan', async () => {
    const loan = await loanDueIn(10, {
      borrower: { name: 'Ms Rivera', phone: '555-0100', locale: 'en-US', timezone: 'America/New_York' },
      currency: 'USD',
    });
    await withWorker(async (sms, taskQueue) => {
      const result = await (await start(loan, taskQueue, { horizonDays: 1 })).result();
      expect(sms.sent).toEqual([]);
      expect(result.failed.map((f) => f.stage)).toEqual(['pre-due', 'due', 'overdue']);
      expect(result.failed[0].reason).toMatch(/E\.164/);
      expect(result.status).toBe('unresolved');
    });
  });
});
