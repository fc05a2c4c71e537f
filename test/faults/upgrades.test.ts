// Upgrades under load that is asleep: a release that changes the workflow must not break the loans
// already running. Two checks: every recorded release's history replays on the current code, and,
// on a real (time-skipping) Temporal server, a change shipped behind patched() while loans sleep
// between reminders lets them finish, while the same change without patched() breaks them.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../../src/activities';
import type { Loan } from '../../src/domain/loan';
import { createWorkers } from '../../src/worker';
import { loanStatusQuery, type LoanStatus } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { UPGRADE_PATCH_ID, UPGRADE_TAG } from '../fixtures/upgraded-workflow/change';
import {
  activitiesSettled,
  DEFAULT_POLICY,
  DEFAULT_STAGES,
  localDate,
  RecordingProvider,
  runWorkersUntil,
  TEST_LENDER,
  tempOperations,
  timeSkippingEnv,
  workflowBundle,
} from '../helpers/temporal';
import { QUICK, recordFault } from './report';

type History = temporal.api.history.v1.IHistory;
const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;

const HISTORIES = join(__dirname, '..', 'fixtures', 'histories');
const FIXTURE = join(__dirname, '..', 'fixtures', 'upgraded-workflow');
const DAY = 86_400_000;
/** Borrowers' zones: whole-hour, half-hour and 45-minute offsets, both hemispheres. */
const ZONES = ['Asia/Shanghai', 'America/New_York', 'Pacific/Chatham', 'Asia/Kathmandu', 'America/St_Johns'];
/** Loans asleep when the release ships, and loans started after it (each scenario). */
const OLD_LOANS = QUICK ? 3 : 10;
const NEW_LOANS = QUICK ? 3 : 10;

const silentLogger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** The upgraded release, with its change behind patched() or (the mistake) without. */
function upgradedBundle(variant: 'patched' | 'unpatched'): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: join(FIXTURE, 'index.ts'),
    workflowInterceptorModules: [join(FIXTURE, `${variant}.ts`)],
    logger: silentLogger,
  });
}

let env: TestWorkflowEnvironment;

/**
 * One release's workers, as the worker process wires them (createWorkers), without a workflow
 * cache: the time-skipping server never takes a workflow task back from the sticky queue of a
 * worker that has stopped (its ResetStickyTaskQueue is unimplemented), so a loan that release N had
 * cached would never wake on release N+1; a real server moves the task to the normal queue.
 * Without a cache every workflow task also replays the loan's whole history, so the new code is
 * checked against all of it each time.
 */
function releaseWorkers(taskQueue: string, bundle: WorkflowBundleWithSourceMap, activities: Activities) {
  return createWorkers({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities,
    tuning: { maxCachedWorkflows: 0 },
  });
}

beforeAll(async () => {
  env = await timeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

describe('recorded histories of earlier releases', () => {
  it('every one replays on the current workflow code', async () => {
    const files = readdirSync(HISTORIES)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    const histories = files.map((file) => ({
      workflowId: file,
      history: historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8'))),
    }));
    // The main suite replays them one by one (test/workflows/replay.test.ts); this is the batch API a
    // release pipeline would use, with one result per history instead of a first throw.
    const failed: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      replayed++;
      if (result.error) failed.push(`${result.workflowId}: ${result.error.message}`);
    }
    recordFault({
      fault: 'upgrade: replay of recorded histories',
      injected: `histories of ${files.length} releases (${files.join(', ')}) replayed on the current code`,
      scale: replayed,
      lost: 0,
      duplicated: 0,
      violations: failed.length,
      detail: `${histories.reduce((n, h) => n + (h.history.events?.length ?? 0), 0)} history events`,
    });
    expect(failed).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});

/** Server-time helpers for one set of loans on one task queue. */
function loanSet(taskQueue: string) {
  const ids: string[] = [];
  const handles = new Map<string, WorkflowHandle<typeof loanReminder>>();
  return {
    ids,
    handles,
    /** Starts loans due `days` ahead in each borrower's calendar, and lets each run its first task. */
    async start(prefix: string, count: number, days: number, zones = ZONES): Promise<Loan[]> {
      const now = await env.currentTimeMs();
      const loans: Loan[] = Array.from({ length: count }, (_, i) => {
        const timezone = zones[i % zones.length];
        return {
          loanId: `${prefix}-${randomUUID().slice(0, 8)}-${i}`,
          borrower: {
            name: 'Rivera',
            honorific: 'Ms',
            phone: `+1202555${String(1000 + i)}`,
            locale: 'en-US',
            timezone,
          },
          amountDue: 120_000,
          currency: 'USD',
          dueDate: localDate(now, timezone, days),
        };
      });
      for (const loan of loans) {
        const handle = await env.client.workflow.start(loanReminder, {
          workflowId: `loan-${loan.loanId}`,
          taskQueue,
          args: [{ loan, lender: TEST_LENDER, policy: DEFAULT_POLICY }],
        });
        ids.push(handle.workflowId);
        handles.set(handle.workflowId, handle);
      }
      // Each loan plans from its first workflow task: let every one run it before time moves.
      for (const loan of loans) await handles.get(`loan-${loan.loanId}`)!.query(loanStatusQuery);
      return loans;
    },
    /** Skips server time to `ms`, once no loan has work in flight. */
    async skipTo(ms: number): Promise<void> {
      await activitiesSettled(env, ids);
      const now = await env.currentTimeMs();
      if (ms > now) await env.sleep(ms - now);
    },
  };
}

/** 10:00 on the loan's due date plus `days`, in the borrower's zone (the default policy's send time). */
const tenOClock = (loan: Loan, days: number) =>
  DateTime.fromISO(loan.dueDate, { zone: loan.borrower.timezone }).plus({ days }).set({ hour: 10 }).toMillis();

const eventsOf = (h: History) => h.events ?? [];
const workflowTaskFailures = (h: History) =>
  eventsOf(h).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED);
/** The audit activities the new path schedules: recordEvents with no events (a loan's own writes carry some). */
const audits = (h: History) =>
  eventsOf(h).filter((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (e.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED || a?.activityType?.name !== 'recordEvents')
      return false;
    return Buffer.from(a.input?.payloads?.[0]?.data ?? new Uint8Array()).toString('utf8') === '[]';
  }).length;
/** The patch ids a history's markers record (core writes {"id": ..., "deprecated": ...} as JSON). */
function patchMarkers(h: History): string[] {
  return eventsOf(h)
    .filter((e) => e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED)
    .flatMap((e) => e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? [])
    .map((p) => (JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as { id: string }).id);
}

describe('a release that changes the workflow while loans sleep', () => {
  it('behind patched(): loans asleep since their first reminder finish on the new code, new loans take the new path', async () => {
    const taskQueue = `upgrade-${randomUUID()}`;
    const sms = new RecordingProvider();
    const activities = createActivities({ searchAttributes: false, sms, operations: tempOperations() });
    const set = loanSet(taskQueue);
    const started = Date.now();

    // Release N: loans start, send their first reminder (a week before the due date) and sleep.
    let oldLoans: Loan[] = [];
    const releaseN = await releaseWorkers(taskQueue, await workflowBundle(), activities);
    await runWorkersUntil(releaseN, async () => {
      oldLoans = await set.start('UPG-OLD', OLD_LOANS, 10);
      await set.skipTo(Math.max(...oldLoans.map((l) => tenOClock(l, -7))) + 3_600_000);
      await activitiesSettled(env, set.ids);
      // Every loan has had its first reminder and sleeps until the next. (Asked while release N
      // still runs: a query needs a worker to answer it.)
      for (const loan of oldLoans) {
        const status = await set.handles.get(`loan-${loan.loanId}`)!.query(loanStatusQuery);
        expect(status.messagesSent.map((m) => m.stage)).toEqual(['pre-due']);
        expect(status.nextReminder?.stage).toBe('due');
      }
    });
    expect(sms.sent).toHaveLength(OLD_LOANS);

    // Release N+1, with the change behind patched(), on the same task queue.
    let newLoans: Loan[] = [];
    const results = new Map<string, LoanStatus>();
    const releaseN1 = await releaseWorkers(taskQueue, await upgradedBundle('patched'), activities);
    await runWorkersUntil(releaseN1, async () => {
      newLoans = await set.start('UPG-NEW', NEW_LOANS, 10);
      // Past every loan's last reminder (29 days after its due date) and the 30 days it listens after.
      const end = Math.max(...[...oldLoans, ...newLoans].map((l) => tenOClock(l, 29))) + 31 * DAY;
      for (let t = (await env.currentTimeMs()) + 5 * DAY; ; t += 5 * DAY) {
        await set.skipTo(Math.min(t, end));
        if (t >= end) break;
      }
      await activitiesSettled(env, set.ids);
      // One result at a time, as the time-skipping server prefers.
      for (const id of set.ids) results.set(id, await set.handles.get(id)!.result());
    });

    const histories = new Map<string, History>();
    for (const id of set.ids) histories.set(id, await set.handles.get(id)!.fetchHistory());
    const bodies = (loan: Loan) => sms.sent.filter((m) => m.loanId === loan.loanId).map((m) => m.body);
    const tagged = (loan: Loan) => bodies(loan).map((b) => b.endsWith(UPGRADE_TAG));
    const failedTasks = [...histories.values()].reduce((n, h) => n + workflowTaskFailures(h).length, 0);
    // The old loans: their first reminder as release N sent it, every later one on the new path.
    const oldExpected = DEFAULT_STAGES.map((_, i) => i > 0);
    const newExpected = DEFAULT_STAGES.map(() => true);
    const wrongPath = [
      ...oldLoans.filter((l) => JSON.stringify(tagged(l)) !== JSON.stringify(oldExpected)),
      ...newLoans.filter((l) => JSON.stringify(tagged(l)) !== JSON.stringify(newExpected)),
    ].length;
    const all = [...oldLoans, ...newLoans];
    const unfinished = all.filter((l) => {
      const r = results.get(`loan-${l.loanId}`);
      return r?.status !== 'unresolved' || r.messagesSent.length !== DEFAULT_STAGES.length;
    }).length;
    const keys = sms.sent.map((m) => m.idempotencyKey);
    recordFault({
      fault: 'upgrade: patched() change while loans sleep',
      injected: `workflow changed behind patched('${UPGRADE_PATCH_ID}') (extra activity + new text) while ${oldLoans.length} loans slept after their first reminder; ${newLoans.length} started after`,
      scale: all.length,
      lost: unfinished,
      duplicated: keys.length - new Set(keys).size,
      violations: failedTasks + wrongPath,
      detail: `${failedTasks} failed workflow tasks, ${wrongPath} loans on the wrong path; ${sms.sent.length} SMS; ${Math.round((Date.now() - started) / 1000)} s`,
    });

    expect(failedTasks).toBe(0);
    for (const loan of all) {
      const h = histories.get(`loan-${loan.loanId}`)!;
      const r = results.get(`loan-${loan.loanId}`)!;
      expect(r.status).toBe('unresolved');
      expect(r.messagesSent.map((m) => m.stage)).toEqual(DEFAULT_STAGES);
      // The marker is written once, when the loan first reaches the new code path live.
      expect(patchMarkers(h).filter((id) => id === UPGRADE_PATCH_ID)).toHaveLength(1);
    }
    for (const loan of oldLoans) {
      expect(tagged(loan)).toEqual(oldExpected);
      expect(audits(histories.get(`loan-${loan.loanId}`)!)).toBe(DEFAULT_STAGES.length - 1);
    }
    for (const loan of newLoans) {
      expect(tagged(loan)).toEqual(newExpected);
      expect(audits(histories.get(`loan-${loan.loanId}`)!)).toBe(DEFAULT_STAGES.length);
    }
    expect(keys).toHaveLength(new Set(keys).size);

    // What CI would replay after the release: the old loans' histories, now holding both paths,
    // replay on release N+1. Rolling back to release N cannot replay them: once a loan took the new
    // path, the code that made it must stay (the patch can only be retired with deprecatePatch()).
    const oldHistories = oldLoans.map((l) => ({
      workflowId: `loan-${l.loanId}`,
      history: histories.get(`loan-${l.loanId}`)!,
    }));
    const replayErrors = async (bundle: WorkflowBundleWithSourceMap) => {
      const errors: string[] = [];
      for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, oldHistories)) {
        if (r.error) errors.push(r.error.message);
      }
      return errors;
    };
    expect(await replayErrors(await upgradedBundle('patched'))).toEqual([]);
    const rollback = await replayErrors(await workflowBundle());
    recordFault({
      fault: 'counterfactual: rollback to the release before the patch',
      injected: `${oldHistories.length} upgraded loans' histories replayed on the previous release's code`,
      scale: oldHistories.length,
      lost: 0,
      duplicated: 0,
      // A counterfactual proves the check can fail: here a violation is one that did not.
      violations: oldHistories.length - rollback.length,
      detail: `expected all to fail (nondeterminism): ${rollback.length}/${oldHistories.length} did; on the upgraded code 0 fail`,
    });
    expect(rollback).toHaveLength(oldHistories.length);
    for (const message of rollback) expect(message).toMatch(/[Nn]ondetermini/);
  });

  it('counterfactual: the same change without patched() leaves every sleeping loan failing with a nondeterminism error', async () => {
    const taskQueue = `upgrade-bare-${randomUUID()}`;
    const sms = new RecordingProvider();
    const activities = createActivities({ searchAttributes: false, sms, operations: tempOperations() });
    const set = loanSet(taskQueue);
    const zone = ['Asia/Shanghai'];

    const releaseN = await releaseWorkers(taskQueue, await workflowBundle(), activities);
    let loans: Loan[] = [];
    await runWorkersUntil(releaseN, async () => {
      loans = await set.start('UPG-BARE', OLD_LOANS, 10, zone);
      await set.skipTo(tenOClock(loans[0], -7) + 3_600_000);
      await activitiesSettled(env, set.ids);
    });
    expect(sms.sent).toHaveLength(OLD_LOANS);

    const bare = await releaseWorkers(taskQueue, await upgradedBundle('unpatched'), activities);
    const failures = new Map<string, string>();
    await runWorkersUntil(bare, async () => {
      // To the very instant the due-day reminder's timer fires (all loans share the zone and date):
      // the loans wake on the new code and replay their history. Skipping further would wait in
      // real time, since a workflow task that keeps failing holds the server's clock.
      await set.skipTo(tenOClock(loans[0], 0));
      const deadline = Date.now() + 60_000;
      while (failures.size < loans.length && Date.now() < deadline) {
        for (const id of set.ids) {
          if (failures.has(id)) continue;
          const failed = workflowTaskFailures(await set.handles.get(id)!.fetchHistory())[0];
          const attrs = failed?.workflowTaskFailedEventAttributes;
          if (attrs) failures.set(id, `${WorkflowTaskFailedCause[attrs.cause ?? 0]} ${attrs.failure?.message ?? ''}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    });
    // Nothing went out on the broken path, and the loans are stuck until someone fixes the code.
    expect(sms.sent).toHaveLength(OLD_LOANS);
    const statuses = await Promise.all(set.ids.map((id) => set.handles.get(id)!.describe()));
    // Their workflow task stays scheduled with no worker, so each settles only when the helper gives
    // up on it: wait for all of them at once.
    await Promise.all(set.ids.map((id) => activitiesSettled(env, [id])));
    for (const id of set.ids) await set.handles.get(id)!.terminate('counterfactual finished');

    recordFault({
      fault: 'counterfactual: the same change without patched()',
      injected: `workflow changed without patched() while ${loans.length} loans slept after their first reminder`,
      scale: loans.length,
      lost: 0,
      duplicated: 0,
      violations: loans.length - failures.size, // one that did not fail
      detail: `expected all to fail: ${failures.size}/${loans.length} loans failed their workflow task with a nondeterminism error and sent nothing more (${[...failures.values()][0]?.slice(0, 160) ?? 'none'})`,
    });
    expect(failures.size).toBe(loans.length);
    for (const reason of failures.values()) {
      expect(reason).toMatch(/NON_DETERMINISTIC|[Nn]ondetermini/);
    }
    for (const d of statuses) expect(d.status.name).toBe('RUNNING');
  });
});
