// The baseline's one activity: records the hand-off instant, as the outbox provider records a send.
import { appendFileSync } from 'node:fs';

export interface HandOff {
  key: string;
  scheduledFor: string;
}

export function bareActivities(path: string) {
  return {
    async handOff(h: HandOff): Promise<void> {
      appendFileSync(path, JSON.stringify({ ...h, sentAt: new Date().toISOString() }) + '\n');
    },
  };
}

export type BareActivities = ReturnType<typeof bareActivities>;
