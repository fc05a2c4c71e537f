// Scenario 1, start throughput: loans started per second through POST /v1/loans and through the
// batch route, against the raw SDK starting the same workflow with the same input, the same
// payload encryption and the same concurrency, on the same server, with the worker running.
import { randomUUID } from 'node:crypto';
import { dateIn, loanBody, runConcurrently, startRaw } from '../lib/loans';
import { startService, type BenchServer } from '../lib/stack';
import { median, round, row, type ScenarioResult } from '../lib/stats';

export async function startThroughput(
  s: BenchServer,
  opts: { loans: number; rounds: number; concurrency: number; batchSize: number },
): Promise<ScenarioResult> {
  const service = await startService(s, { name: 'start', api: true });
  const api = service.api!;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${api.apiKey}` };
  const dueDate = dateIn(30);
  const rates: Record<'raw' | 'api' | 'batch', number[]> = { raw: [], api: [], batch: [] };
  const failures = { raw: 0, api: 0, batch: 0 };
  // The API process's own CPU per loan it starts: what our layer costs, whatever the machine's load.
  const apiCpuMs: number[] = [];
  try {
    const fresh = () => `S-${randomUUID()}`;
    for (let round = 0; round < opts.rounds; round++) {
      // Interleaved, so drift in the machine or the growing database weighs on all three alike.
      const raw = await runConcurrently(opts.loans, opts.concurrency, () =>
        startRaw(s.client, service.taskQueue, fresh(), dueDate).catch(() => failures.raw++),
      );
      rates.raw.push(opts.loans / raw);
      const cpuBefore = api.cpuSeconds();
      const viaApi = await runConcurrently(opts.loans, opts.concurrency, async () => {
        const res = await fetch(`${api.url}/v1/loans`, {
          method: 'POST',
          headers,
          body: JSON.stringify(loanBody(fresh(), dueDate)),
        });
        await res.arrayBuffer();
        if (res.status !== 201) failures.api++;
      });
      rates.api.push(opts.loans / viaApi);
      apiCpuMs.push(((api.cpuSeconds() - cpuBefore) * 1000) / opts.loans);
      // The batch route starts up to 16 items at once per request: enough requests in flight to
      // match the concurrency of the others.
      const batches = Math.ceil(opts.loans / opts.batchSize);
      const viaBatch = await runConcurrently(batches, Math.max(1, Math.round(opts.concurrency / 16)), async () => {
        const res = await fetch(`${api.url}/v1/loans/batch`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ loans: Array.from({ length: opts.batchSize }, () => loanBody(fresh(), dueDate)) }),
        });
        const body = (await res.json()) as { started?: number };
        failures.batch += opts.batchSize - (body.started ?? 0);
      });
      rates.batch.push((batches * opts.batchSize) / viaBatch);
    }
  } finally {
    await service.stop();
  }
  const raw = median(rates.raw);
  return {
    scenario: 'start-throughput',
    rows: [
      row({ scenario: 'start throughput', metric: 'raw SDK start', unit: 'loans/s', ours: raw, better: 'higher' }),
      row({
        scenario: 'start throughput',
        metric: 'POST /v1/loans',
        unit: 'loans/s',
        ours: median(rates.api),
        baseline: raw,
        better: 'higher',
        target: '≥ 0.9 × raw SDK',
        met: median(rates.api) >= 0.9 * raw,
      }),
      row({
        scenario: 'start throughput',
        metric: `POST /v1/loans/batch (${opts.batchSize} a request)`,
        unit: 'loans/s',
        ours: median(rates.batch),
        baseline: raw,
        better: 'higher',
        target: '≥ 0.9 × raw SDK',
        met: median(rates.batch) >= 0.9 * raw,
      }),
      row({
        scenario: 'start throughput',
        metric: 'API process CPU per loan started (load-independent)',
        unit: 'ms',
        ours: median(apiCpuMs),
        better: 'lower',
      }),
    ],
    details: {
      ...opts,
      ratesPerRound: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, v.map((x) => round(x, 1))])),
      failures,
      apiCpuMsPerLoan: apiCpuMs.map((x) => round(x, 2)),
    },
  };
}
