// One durable workflow per loan. It sleeps until the next reminder the policy allows, sends it
// through an activity, and re-plans the moment anything happens: a payment, a borrower's answer,
// a change from the loan system. Deterministic code only: the rules live in src/domain.
//
// The rooms: the messages and types (messages.ts), the loan's state with a method and a validator
// per message (loan-state.ts), a planning step (planning.ts), delivery (delivery.ts), the event
// buffer (event-buffer.ts) and the search attributes (publish-search-attributes.ts). Here: the
// handlers, one line each, and the loop.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { iso } from '../domain/calendar';
import { sendReminder, sendThanks, smsActivities } from './delivery';
import { LoanState } from './loan-state';
import {
  borrowerAnswerSignal,
  changeContactUpdate,
  changeTermsUpdate,
  closeLoanUpdate,
  deliveryFailedSignal,
  loanStatusQuery,
  paymentReceivedSignal,
  promiseToPayUpdate,
  resumeUpdate,
  type LoanReminderInput,
  type LoanStatus,
} from './messages';
import { planNext, planOf } from './planning';
import { searchAttributePublisher } from './publish-search-attributes';

// The messages and types are the workflow's contract, in src/workflows/messages.ts: re-exported
// here so every import of them from this module keeps working.
export * from './messages';

/** Input as loans started before v6 may have it: tests then said here whether to publish search attributes. */
type LegacyInput = LoanReminderInput & { publishSearchAttributes?: boolean };

const operations = proxyActivities<Activities>({
  // Telling operations must not be lost: retry for about a day of attempts (not a deadline that a
  // worker outage would use up without a single try).
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '10 seconds', maximumInterval: '10 minutes', maximumAttempts: 150 },
});

/** What the worker running the loan says of itself: answered at once, in its own process. */
const workerSettings = proxyLocalActivities<Activities>({ startToCloseTimeout: '10 seconds' });

export async function loanReminder(input: LoanReminderInput): Promise<LoanStatus> {
  const sms = smsActivities();
  // Added after v2: loans already running when it shipped replay without recording events.
  const state = new LoanState(input, sms, patched('event-store'));
  const { s, policy, events } = state;

  // ---- Handlers, all registered before the first await ----

  setHandler(paymentReceivedSignal, (payment) => state.receivePayment(payment));
  setHandler(deliveryFailedSignal, (failure) => state.deliveryFailed(failure));
  setHandler(borrowerAnswerSignal, (answer) => state.answer(answer));
  setHandler(promiseToPayUpdate, (promise) => state.promiseToPay(promise), {
    validator: (promise) => state.validatePromiseToPay(promise),
  });
  setHandler(resumeUpdate, (_request) => state.resume(), { validator: (_request) => state.validateResume() });
  setHandler(changeContactUpdate, (change) => state.changeContact(change), {
    validator: (change) => state.validateChangeContact(change),
  });
  setHandler(changeTermsUpdate, (change) => state.changeTerms(change), {
    validator: (change) => state.validateChangeTerms(change),
  });
  setHandler(closeLoanUpdate, (request) => state.close(request), { validator: (_request) => state.validateClose() });
  setHandler(loanStatusQuery, () => s);

  // The loan's terms are worked out before the first wait: terms no calendar can place (a zone
  // that does not exist, from a client that skipped the API's checks) fail the first workflow task
  // before it has anything to answer from, so readers get "unreadable", not a loan that never moves.
  planOf(state);
  // Added after v5: whether search attributes are kept current is the worker's to say (its
  // configuration, or what its Temporal server supports), asked once per loan and carried on.
  // Loans started before read it from their input, where only tests ever set it.
  const byWorker = patched('search-attributes-by-worker');
  // Added after v6: the patches the loan's first plan and send ask are asked here, before the
  // worker is asked its settings, and kept. A local activity's answer that came as the first
  // workflow task was being completed left a history whose replay runs the code after it inside
  // that first task, before the later task's patch markers are known: a patch asked there read as
  // absent and the loan stopped the first time a worker rebuilt it. Loans started before ask them
  // where they did.
  if (patched('patches-before-settings'))
    state.earlyPatches = {
      sendTimeRules: patched('send-time-rules'),
      reminderRules: patched('reminder-rules-recorded'),
    };
  const publishing = byWorker
    ? (input.carried?.searchAttributes ?? (await workerSettings.searchAttributesPublished()))
    : (input as LegacyInput).publishSearchAttributes !== false;
  const publish = searchAttributePublisher(publishing);

  // ---- The loop: plan, sleep until the next reminder or a change, send ----

  for (;;) {
    await flushOps(state);
    if (state.finished()) break;

    const now = Date.now();
    const { next, plan, horizon, promiseHeld, recordsRules } = planNext(state, now);

    const allPointsDone = plan.every((p) => state.doneKeys.has(p.key));
    if (allPointsDone && policy.afterLastPoint.handOver && !s.handedOver.some((h) => h.kind === 'schedule-exhausted')) {
      state.handOver('schedule-exhausted');
      continue;
    }
    // Hand-overs asked for while an activity ran go out before the loan sleeps again.
    if (state.pendingOps.length) continue;
    publish(s);
    // Before the loan sleeps, so the store is current while it waits. Whatever arrives meanwhile
    // (a payment, an answer) must wake this loop, not wait for the next timer: plan again.
    const seen = state.version;
    await events.flush();
    if (state.version !== seen) continue;

    if (shouldContinueAsNew(input)) {
      await condition(allHandlersFinished);
      await events.flush(true);
      const { cadence, holds } = state;
      return continueAsNew<typeof loanReminder>({
        ...input,
        carried: {
          state: s,
          loan: state.loan,
          doneKeys: [...state.doneKeys],
          opsSeq: state.opsSeq,
          eventSeq: events.seq,
          ...(holds ? { holds } : {}),
          ...(cadence.shifts.length || cadence.blockedSince !== undefined ? { cadence } : {}),
          ...(byWorker ? { searchAttributes: publishing } : {}),
        },
      });
    }

    // Waiting on a person (dispute, hardship, new number): no deadline but theirs.
    const waitingOnPeople = s.pause !== null && s.pause.kind !== 'promise-to-pay';
    // Wake for the next reminder, the end of a promise's pause, or the horizon, whichever is first.
    const pauseEnds = s.pause?.until && Date.parse(s.pause.until) > now ? Date.parse(s.pause.until) : Infinity;
    const wakeAt = Math.min(next ? next.at : horizon, pauseEnds);
    if (!waitingOnPeople && !next && now >= horizon) {
      s.status = 'unresolved';
      break;
    }
    const somethingChanged = () => state.version !== seen;
    if (waitingOnPeople) {
      await condition(somethingChanged); // nothing is planned while a person decides
      continue;
    }
    const woke = await condition(somethingChanged, Math.max(1, wakeAt - now));
    if (woke || !next || promiseHeld || Date.now() < next.at) continue;
    // The reminder's time has come and nothing changed since it was planned.
    if (state.finished() || !state.canText()) continue;
    await sendReminder(state, next.point, next.at, recordsRules ? next.rules.join(' ') : undefined);
  }

  s.nextReminder = null;
  s.completedAt = iso(Date.now());
  publish(s);
  events.record('completed', { outstanding: s.outstanding, detail: { status: s.status } });
  if (s.status === 'paid' && policy.thankYou) await sendThanks(state);
  await flushOps(state);
  await condition(allHandlersFinished);
  await events.flush(true);
  log.info('Loan finished', { loanId: state.loan.loanId, status: s.status });
  return s;
}

/** Tells operations of every hand-over asked for, in order; the loan's waiting events ride along. */
async function flushOps(state: LoanState): Promise<void> {
  const { s, events } = state;
  while (state.pendingOps.length) {
    const { kind, detail } = state.pendingOps.shift()!;
    state.opsSeq++;
    const carried = events.carry();
    await operations
      .notifyOperations({
        loanId: state.loan.loanId,
        kind,
        detail: { ...detail, outstanding: s.outstanding, currency: s.currency, status: s.status },
        idempotencyKey: `${state.loan.loanId}:ops:${state.opsSeq}`,
        ...(carried ? { events: { before: carried } } : {}),
      })
      .then(
        ({ eventsRecorded }) => {
          if (eventsRecorded === false) events.putBack(carried);
        },
        (err: unknown) => {
          events.putBack(carried);
          throw err;
        },
      );
  }
}

function shouldContinueAsNew(input: LoanReminderInput): boolean {
  const info = workflowInfo();
  if (info.continueAsNewSuggested) return true;
  return input.continueAsNewAfterEvents !== undefined && info.historyLength > input.continueAsNewAfterEvents;
}
