// A trivial workflow for the cluster test: one activity, so a round trip goes through history,
// matching and both task queues of the server.
import { proxyActivities } from '@temporalio/workflow';

const { greet } = proxyActivities<{ greet(name: string): Promise<string> }>({ startToCloseTimeout: '30 seconds' });

export async function greeting(name: string): Promise<string> {
  return `${await greet(name)}!`;
}
