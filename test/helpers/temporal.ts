// Real Temporal servers for tests, from the binaries the project provides for itself.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { ConnectionPlugin } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { DateTime } from 'luxon';
import { temporalCliPath, testServerPath } from '../../src/temporal/binaries';
import { SqliteOperationsQueue } from '../../src/operations/queue';
import { parsePolicy, type Policy, type PolicyInput } from '../../src/domain/policy-schema';
import { PolicyRegistry } from '../../src/policies/registry';
import { OutboxProvider } from '../../src/sms/outbox';
import { LOAN_SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import type { OutgoingSms, SmsProvider, SmsReceipt } from '../../src/sms/provider';

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  // Keep test output readable: the SDK's own logs only for errors (tests provoke many retries).
  Runtime.install({ shutdownSignals: [], logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

/**
 * The client's keepalive pings off for the time-skipping server. That server (grpc-java) takes
 * pings more often than every 5 minutes as abuse, and the client's default is every 30 s: during a
 * long skip (one call that answers only once the server's clock has moved) it closes the connection
 * ("rejected by server because of excess pings", temporalio/sdk-typescript#2185), and the first
 * runs where the server's clock stopped had that in their log (it stops without it too: see
 * watchClock in test/faults/compliance.test.ts). A local server needs no keepalive.
 */
const noKeepalive: ConnectionPlugin = {
  name: 'loan-reminders-tests-no-keepalive',
  configureConnection: (options) => ({
    ...options,
    channelArgs: { ...options.channelArgs, 'grpc.keepalive_time_ms': -1, 'grpc.keepalive_permit_without_calls': 0 },
  }),
};

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
    plugins: [noKeepalive],
  });
}

export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: [...LOAN_SEARCH_ATTRIBUTES],
    },
  });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: join(__dirname, '..', '..', 'src', 'workflows', 'index.ts'),
    logger: silentLogger,
  });
  return bundle;
}

const silentLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Runs every worker until `body` settles, then shuts them all down. */
export async function runWorkersUntil<T>(workers: readonly Worker[], body: () => Promise<T>): Promise<T> {
  const [first, ...rest] = workers;
  let run: Promise<T> = body();
  for (const w of rest) run = w.runUntil(run);
  return first.runUntil(run);
}

export function tempOutbox(): string {
  return join(mkdtempSync(join(tmpdir(), 'loan-reminders-')), 'outbox.jsonl');
}

export interface RecordedSms extends OutgoingSms {
  /** Server time at which the activity was scheduled: skipped time on the time-skipping server. */
  serverTimeMs: number;
}

/** The real outbox provider, plus a record of the server time each message went out at. */
export class RecordingProvider implements SmsProvider {
  readonly name = 'recording-outbox';
  readonly sent: RecordedSms[] = [];
  readonly outbox: OutboxProvider;

  constructor(path: string = tempOutbox()) {
    this.outbox = new OutboxProvider(path);
  }

  async send(message: OutgoingSms): Promise<SmsReceipt> {
    const serverTimeMs = Context.current().info.currentAttemptScheduledTimestampMs;
    const receipt = await this.outbox.send(message);
    if (!receipt.duplicate) this.sent.push({ ...message, serverTimeMs });
    return receipt;
  }

  sentWith(idempotencyKey: string): Promise<SmsReceipt | undefined> {
    return this.outbox.sentWith(idempotencyKey);
  }
}

/** The borrower's calendar date `days` from the given instant. */
export function localDate(nowMs: number, timezone: string, days: number): string {
  return DateTime.fromMillis(nowMs, { zone: timezone }).plus({ days }).toISODate() as string;
}

export const POLICIES = PolicyRegistry.load(join(__dirname, '..', '..', 'policies'));
export const DEFAULT_POLICY: Policy = POLICIES.get('default')!;

/** The stages a loan goes through under the default policy when nothing happens to it. */
export const DEFAULT_STAGES = [
  'pre-due',
  'due',
  'overdue',
  'overdue-weekly',
  'overdue-weekly',
  'overdue-weekly',
  'final-notice',
];

/** The default policy with some fields replaced, validated as a policy file would be. */
export function policyWith(changes: Partial<PolicyInput>): Policy {
  return parsePolicy({ ...DEFAULT_POLICY, ...changes });
}

export function tempOperations(): SqliteOperationsQueue {
  return new SqliteOperationsQueue(join(mkdtempSync(join(tmpdir(), 'loan-reminders-ops-')), 'operations.sqlite'));
}

/** A time zone where the local hour is now in [from, to), so a test's timing does not depend on the hour it runs. */
export function zoneWithLocalHour(from: number, to: number): string {
  const zones = [
    'Asia/Shanghai',
    'Asia/Tokyo',
    'Europe/Berlin',
    'America/New_York',
    'America/Los_Angeles',
    'Pacific/Auckland',
    'Asia/Kolkata',
  ];
  const zone = zones.find((z) => {
    const hour = Number(
      new Intl.DateTimeFormat('en-GB', { timeZone: z, hour: '2-digit', hourCycle: 'h23' }).format(new Date()),
    );
    return hour >= from && hour < to;
  });
  if (!zone) throw new Error(`no listed time zone is between ${from}:00 and ${to}:00 now`);
  return zone;
}

/**
 * A policy with one reminder a fixed time after each loan starts, at any hour, and nothing else:
 * for tests and benchmarks that need many reminders due at one instant.
 */
export function burstPolicy(offset: string): Policy {
  return policyWith({
    id: 'burst',
    anchor: 'loan-start',
    sendTime: '00:00',
    window: { start: '00:00', end: '24:00' },
    points: [{ stage: 'due', offset, template: 'due' }],
    overdueRepeat: undefined,
    finalNotice: undefined,
    caps: [],
    thankYou: false,
    afterLastPoint: { handOver: false, listenFor: 'PT1S' },
  });
}

export const TEST_LENDER = { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' };

/** A small loan for burst tests; the policy decides when it is reminded. */
export function burstLoan(loanId: string) {
  return {
    loanId,
    borrower: { name: 'Rivera', phone: '+12025550100', locale: 'en-US' as const, timezone: 'UTC' },
    amountDue: 1000,
    currency: 'USD',
    dueDate: new Date().toISOString().slice(0, 10),
  };
}

/**
 * Waits (real time; server time stands still meanwhile) until these workflows are idle: no
 * workflow task waiting or running, no fresh activity scheduled or running. The time-skipping
 * server may otherwise jump past work no worker has picked up yet, time it out under the worker,
 * and lose count of its clock locks (the clock then never moves again). Activities already
 * retrying (an outage a test provokes) are left to their backoff.
 */
export async function activitiesSettled(env: TestWorkflowEnvironment, workflowIds: readonly string[]): Promise<void> {
  const busy = new Set([
    temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
  ]);
  for (const id of workflowIds) {
    const handle = env.client.workflow.getHandle(id);
    for (let i = 0; i < 200; i++) {
      const d = await handle.describe().catch(() => undefined);
      if (!d || d.status.name !== 'RUNNING') break;
      const fresh = d.raw.pendingActivities?.filter((a) => (a.attempt ?? 1) <= 1) ?? [];
      const events = fresh.length ? [] : ((await handle.fetchHistory().catch(() => undefined))?.events ?? []);
      const last = events[events.length - 1]?.eventType;
      if (fresh.length === 0 && (last === undefined || last === null || !busy.has(last))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
