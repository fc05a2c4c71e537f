// Scenario 3, payment to silence: the time from the payment webhook's answer to the loan's state
// showing it paid, against a raw SDK signal; then proof that no reminder due after the payment
// went out (while unpaid loans of the same batch got theirs).
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { workflowIdForLoan } from '../../src/domain/loan';
import { signatureHeader, SIGNATURE_HEADER } from '../../src/api/signature';
import { readOutbox } from '../../src/sms/outbox';
import { loanStatusQuery, paymentReceivedSignal } from '../../src/workflows/messages';
import { nextMinuteAfter, oneInstantPolicy, runConcurrently, startRaw } from '../lib/loans';
import { startService, untilIdle, type BenchServer } from '../lib/stack';
import { round, row, spread, type ScenarioResult, type Spread } from '../lib/stats';

/** Milliseconds until the loan's state shows it paid, polling its query. */
async function untilPaid(client: Client, loanId: string, since: number): Promise<number> {
  const handle = client.workflow.getHandle(workflowIdForLoan(loanId));
  for (;;) {
    const s = await handle.query(loanStatusQuery);
    if (s.status === 'paid') return performance.now() - since;
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function paymentToSilence(
  s: BenchServer,
  opts: { loans: number; controls: number; concurrency: number },
): Promise<ScenarioResult> {
  const service = await startService(s, { name: 'payment', api: true });
  const api = service.api!;
  const run = randomUUID().slice(0, 8);
  const n = opts.loans;
  const viaWebhook = Array.from({ length: n }, (_, i) => `PW-${run}-${i}`);
  const viaSignal = Array.from({ length: n }, (_, i) => `PS-${run}-${i}`);
  const controls = Array.from({ length: opts.controls }, (_, i) => `PC-${run}-${i}`);
  const all = [...viaWebhook, ...viaSignal, ...controls];
  const times = { webhookAnswerToPaid: [] as number[], webhookRequestToPaid: [] as number[] };
  const raw = { signalReturnToPaid: [] as number[], signalCallToPaid: [] as number[] };
  let refused = 0;
  let dueAtMs: number;
  try {
    // Every loan's reminder falls due at one instant after all payments are in.
    const due = nextMinuteAfter(30_000 + all.length * 10 + n * 2 * 40);
    dueAtMs = due.toMillis();
    const policy = oneInstantPolicy(due.toISO()!.slice(11, 16));
    const dueDate = due.toISODate()!;
    await runConcurrently(all.length, 32, (i) => startRaw(s.client, service.taskQueue, all[i], dueDate, policy));
    await untilIdle(service.worker);
    // Interleaved, one payment at a time per lane, so both paths see the same load.
    await runConcurrently(n, opts.concurrency, async (i) => {
      const body = JSON.stringify({
        loanId: viaWebhook[i],
        paymentId: `pay-${viaWebhook[i]}`,
        amount: 125_000,
        paidAt: new Date().toISOString(),
      });
      const sent = performance.now();
      const res = await fetch(`${api.url}/v1/webhooks/payments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signatureHeader(api.webhookSecret, body) },
        body,
      });
      await res.arrayBuffer();
      if (res.status !== 202) refused++;
      const answered = performance.now();
      const toPaid = await untilPaid(s.client, viaWebhook[i], answered);
      times.webhookAnswerToPaid.push(toPaid);
      times.webhookRequestToPaid.push(toPaid + (answered - sent));

      const handle = s.client.workflow.getHandle(workflowIdForLoan(viaSignal[i]));
      const called = performance.now();
      await handle.signal(paymentReceivedSignal, {
        paymentId: `pay-${viaSignal[i]}`,
        amount: 125_000,
        paidAt: new Date().toISOString(),
      });
      const returned = performance.now();
      const rawToPaid = await untilPaid(s.client, viaSignal[i], returned);
      raw.signalReturnToPaid.push(rawToPaid);
      raw.signalCallToPaid.push(rawToPaid + (returned - called));
    });
    if (Date.now() > dueAtMs) throw new Error('the payments overran the due instant; lengthen the lead');
    // Past the instant: the unpaid controls' reminders go out; the paid loans' must not.
    while (Date.now() < dueAtMs + 15_000 || readOutbox(service.outboxPath).length < controls.length)
      await new Promise((r) => setTimeout(r, 500));
  } finally {
    await service.stop();
  }
  const sentTo = new Set(readOutbox(service.outboxPath).map((l) => l.loanId));
  const afterPayment = [...viaWebhook, ...viaSignal].filter((id) => sentTo.has(id)).length;
  const controlsReminded = controls.filter((id) => sentTo.has(id)).length;
  await runConcurrently(controls.length, 16, (i) =>
    s.client.workflow.getHandle(workflowIdForLoan(controls[i])).terminate('benchmark over'),
  );
  const ours = spread(times.webhookAnswerToPaid);
  const ourTotal = spread(times.webhookRequestToPaid);
  const base = spread(raw.signalReturnToPaid);
  const baseTotal = spread(raw.signalCallToPaid);
  const scenario = 'payment to silence';
  return {
    scenario: 'payment-to-silence',
    rows: [
      ...(['p50', 'p99'] as const).map((p) =>
        row({
          scenario,
          metric: `webhook answered → state paid, ${p} (raw: signal returned → paid)`,
          unit: 'ms',
          ours: ours[p],
          baseline: base[p],
          better: 'lower',
        }),
      ),
      ...(['p50', 'p99'] as const).map((p) =>
        row({
          scenario,
          metric: `webhook sent → state paid, ${p} (raw: signal called → paid)`,
          unit: 'ms',
          ours: ourTotal[p],
          baseline: baseTotal[p],
          better: 'lower',
        }),
      ),
      row({
        scenario,
        metric: 'reminders sent after a payment (unpaid controls reminded)',
        unit: 'SMS',
        ours: afterPayment,
        better: 'lower',
        target: `0 (and ${controls.length} of ${controls.length})`,
        met: afterPayment === 0 && controlsReminded === controls.length && refused === 0,
      }),
    ],
    details: {
      loansPerPath: n,
      concurrency: opts.concurrency,
      refusedWebhooks: refused,
      controls: controls.length,
      controlsReminded,
      remindersAfterPayment: afterPayment,
      spreadsMs: {
        webhookAnswerToPaid: mapRound(ours),
        webhookRequestToPaid: mapRound(ourTotal),
        rawSignalReturnToPaid: mapRound(base),
        rawSignalCallToPaid: mapRound(baseTotal),
      },
    },
  };
}

const mapRound = (sp: Spread) => Object.fromEntries(Object.entries(sp).map(([k, v]) => [k, round(v, 1)]));
