// The baselines the benchmarks measure the loan workflow against: the least a Temporal workflow
// can do for the same job. Not part of the service.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { BareActivities } from './activities';

const { handOff } = proxyActivities<BareActivities>({ startToCloseTimeout: '30 seconds' });

/** Sleeps until the instant, then hands a message id to a no-op activity. */
export async function bareReminder(dueAtMs: number, key: string): Promise<void> {
  await sleep(Math.max(1, dueAtMs - Date.now()));
  await handOff({ key, scheduledFor: new Date(dueAtMs).toISOString() });
}

/** The timers and activities of a loan's longest life, and nothing else: one sleep and call each. */
export async function bareLife(sleepsMs: number[], calls: number): Promise<void> {
  for (let i = 0; i < sleepsMs.length; i++) {
    await sleep(sleepsMs[i]);
    if (i < calls) await handOff({ key: String(i), scheduledFor: new Date().toISOString() });
  }
}
