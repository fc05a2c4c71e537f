// A real Temporal server on PostgreSQL, as docker-compose.yml runs it, built from Go modules
// (scripts/temporal-server.mjs) and started by scripts/lib/temporal-cluster.ts: a workflow round
// trip through it, and its history is rows in PostgreSQL.
// Run with `npm run test:cluster` (vitest.cluster.config.mts); not part of the default suite, since
// the first build compiles the server (about 12 minutes on 2 cores from an empty Go cache).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { Client as PgClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startLocalPostgres, type LocalPostgres } from '../../scripts/lib/postgres';
import {
  freePortBlock,
  setupSearchAttributes,
  startTemporalCluster,
  temporalBinaries,
  type TemporalCluster,
} from '../../scripts/lib/temporal-cluster';

const HISTORY_SHARDS = 16;
const silent = new DefaultLogger('ERROR');

describe('Temporal server on PostgreSQL', () => {
  let dir: string;
  let pg: LocalPostgres;
  let cluster: TemporalCluster;
  const temporalDbPassword = 'cluster-test-password';

  beforeAll(async () => {
    Runtime.install({ shutdownSignals: [], logger: new DefaultLogger('ERROR') });
    temporalBinaries({ log: (m) => console.log(m) });
    dir = mkdtempSync(join(tmpdir(), 'loan-reminders-cluster-'));
    // PostgreSQL runs as the postgres user when the test runs as root: it must reach its folder.
    chmodSync(dir, 0o755);
    pg = await startLocalPostgres({ dir: join(dir, 'postgres') });
    const uiPort = await freePort();
    cluster = await startTemporalCluster({
      postgresAdminUrl: pg.adminUrl,
      port: await freePortBlock(),
      uiPort,
      historyShards: HISTORY_SHARDS,
      namespace: 'loans-test',
      dir: join(dir, 'temporal'),
      temporalDbPassword,
    });
  }, 30 * 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const temporalDb = async <T>(database: string, body: (db: PgClient) => Promise<T>): Promise<T> => {
    const url = new URL(pg.adminUrl);
    url.username = 'temporal';
    url.password = temporalDbPassword;
    url.pathname = `/${database}`;
    const db = new PgClient({ connectionString: url.toString() });
    await db.connect();
    try {
      return await body(db);
    } finally {
      await db.end();
    }
  };

  it('runs a workflow and its activity, and keeps them in PostgreSQL', async () => {
    const taskQueue = 'cluster-test';
    const workerConnection = await NativeConnection.connect({ address: cluster.address });
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: 'loans-test',
      taskQueue,
      workflowBundle: await bundleWorkflowCode({ workflowsPath: join(__dirname, 'workflows.ts'), logger: silent }),
      activities: { greet: (name: string) => Promise.resolve(`hello, ${name}`) },
    });
    const connection = await Connection.connect({ address: cluster.address });
    const client = new Client({ connection, namespace: 'loans-test' });
    const workflowId = `cluster-${Date.now().toString(36)}`;
    try {
      const result = await worker.runUntil(
        client.workflow.execute('greeting', { taskQueue, workflowId, args: ['PostgreSQL'] }),
      );
      expect(result).toBe('hello, PostgreSQL!');

      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      // The activity went through the server's matching and back.
      expect(history.events?.map((e) => e.eventType)).toContain(
        temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
      );

      // The server's persistence is this PostgreSQL: the execution, its history and its shards.
      await temporalDb('temporal', async (db) => {
        const executions = await db.query('SELECT count(*)::int AS n FROM executions WHERE workflow_id = $1', [
          workflowId,
        ]);
        expect(executions.rows[0].n).toBe(1);
        const events = await db.query('SELECT count(*)::int AS n FROM history_node');
        expect(events.rows[0].n).toBeGreaterThan(0);
        const shards = await db.query('SELECT count(*)::int AS n FROM shards');
        expect(shards.rows[0].n).toBe(HISTORY_SHARDS);
      });
      // And visibility is the temporal_visibility database.
      await temporalDb('temporal_visibility', async (db) => {
        const rows = await db.query('SELECT status FROM executions_visibility WHERE workflow_id = $1', [workflowId]);
        expect(rows.rowCount).toBe(1);
      });
    } finally {
      await connection.close();
      await workerConnection.close();
    }
  });

  it('has the namespace with the loan search attributes, and the Web UI when it was built', async () => {
    const connection = await Connection.connect({ address: cluster.address });
    try {
      const listed = await connection.operatorService.listSearchAttributes({ namespace: 'loans-test' });
      const custom = Object.keys(listed.customAttributes ?? {});
      expect(custom.sort()).toEqual(
        setupSearchAttributes()
          .map((a) => a.name)
          .sort(),
      );
    } finally {
      await connection.close();
    }
    if (cluster.uiUrl) {
      const health = await fetch(`${cluster.uiUrl}/healthz`);
      expect(health.ok).toBe(true);
      const page = await fetch(`${cluster.uiUrl}/`);
      expect(page.ok).toBe(true);
      expect(await page.text()).toContain('<html');
    } else {
      console.log(`no Web UI: ${cluster.uiMissing}`);
    }
  });

  it('reports how fast the server started', () => {
    console.log(`temporal-server ${cluster.version} healthy ${cluster.startMs} ms after start`);
    expect(cluster.historyShards).toBe(HISTORY_SHARDS);
    expect(cluster.startMs).toBeLessThan(120_000);
  });
});
