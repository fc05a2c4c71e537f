// Records the history of a loan's whole life (reminders, a partial payment and a conflicting
// report of it, a harsh rating, a broken promise, a dispute with a promise under it, a reply that
// may mean stop, payment in full, thank-you) on the time-skipping server, as a replay fixture. Run it when releasing a workflow version: `npm run record-history -- v2`.
// The replay test then proves later code can still run loans started by that version.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DateTime } from 'luxon';
import { createActivities } from '../src/activities';
import { createWorkers } from '../src/worker';
import {
  borrowerAnswerSignal,
  loanStatusQuery,
  paymentReceivedSignal,
  promiseToPayUpdate,
  resumeUpdate,
} from '../src/workflows/messages';
import { loanReminder } from '../src/workflows/loan-reminder';
import {
  DEFAULT_POLICY,
  localDate,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  timeSkippingEnv,
  workflowBundle,
} from '../test/helpers/temporal';

const TZ = 'Asia/Shanghai';

async function main(): Promise<void> {
  const version = process.argv[2] ?? 'v1';
  const env = await timeSkippingEnv();
  try {
    const taskQueue = `record-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({
        searchAttributes: false,
        sms: new RecordingProvider(),
        operations: tempOperations(),
      }),
    });
    const history = await runWorkersUntil(workers, async () => {
      const dueDate = localDate(await env.currentTimeMs(), TZ, 10);
      const at = (days: number, hour: number) =>
        DateTime.fromISO(dueDate, { zone: TZ }).plus({ days }).set({ hour }).toMillis();
      const skipTo = async (ms: number) => env.sleep(ms - (await env.currentTimeMs()));
      const handle = await env.client.workflow.start(loanReminder, {
        workflowId: `loan-REPLAY-${version}`,
        taskQueue,
        args: [
          {
            loan: {
              loanId: `REPLAY-${version}`,
              borrower: { name: '张', honorific: '先生', phone: '+8613800138000', locale: 'zh-CN', timezone: TZ },
              amountDue: 500000,
              currency: 'CNY',
              dueDate,
            },
            lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
            policy: DEFAULT_POLICY,
          },
        ],
      });
      await skipTo(at(-7, 12));
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-1',
        amount: 100000,
        paidAt: new Date().toISOString(),
      });
      // The same payment id with another amount: not counted, handed to operations.
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 1, paidAt: new Date().toISOString() });
      const first = (await handle.query(loanStatusQuery)).messagesSent[0];
      await handle.signal(borrowerAnswerSignal, { kind: 'rating', messageKey: first.key, clarity: 4, tone: 2 });
      await skipTo(at(0, 12));
      await handle.executeUpdate(promiseToPayUpdate, { args: [{ date: localDate(at(2, 12), TZ, 0) }] });
      await skipTo(at(4, 12)); // the promise (day 2, plus a day's grace) is broken; the cadence restarts
      await handle.signal(borrowerAnswerSignal, { kind: 'dispute', reason: 'amount' });
      await skipTo(at(5, 12));
      // A promise under the dispute: the holds stack, and the promise outlives the dispute.
      await handle.executeUpdate(promiseToPayUpdate, { args: [{ date: localDate(at(7, 12), TZ, 0) }] });
      await skipTo(at(6, 12));
      await handle.executeUpdate(resumeUpdate, { args: [{}] });
      await skipTo(at(9, 12));
      await handle.signal(borrowerAnswerSignal, { kind: 'unclear-reply', note: 'enough' });
      await skipTo(at(10, 12));
      await handle.executeUpdate(resumeUpdate, { args: [{}] });
      await skipTo(at(12, 12));
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-2',
        amount: 400000,
        paidAt: new Date().toISOString(),
      });
      const result = await handle.result();
      console.log(`status ${result.status}; messages: ${result.messagesSent.map((m) => m.stage).join(', ')}`);
      return handle.fetchHistory();
    });
    const file = join(__dirname, '..', 'test', 'fixtures', 'histories', `loan-lifecycle-${version}.json`);
    writeFileSync(file, historyToJSON(history) + '\n');
    console.log(`wrote ${file} (${history.events?.length ?? 0} events)`);
  } finally {
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
