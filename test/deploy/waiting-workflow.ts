// A workflow for test/deploy/temporal-ui-readonly.test.ts: its first workflow task completes (so the
// Web UI offers Reset), then it waits until it is ended from outside.
import { condition } from '@temporalio/workflow';

export async function waitsForOperations(): Promise<void> {
  await condition(() => false);
}
