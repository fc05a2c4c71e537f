// Holds an API test suite to its audit trail: every state-changing request the suite makes under
// /v1 (anything but a read, and but a rate-limited one) must leave exactly one record with its
// request id, who made it and how it ended.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { expect } from 'vitest';
import type { AuditRecord, AuditTrail } from '../../src/operations/audit';

interface Sent {
  requestId: string;
  method: string;
  path: string;
  status: number;
}

export function auditCheck() {
  const sent: Sent[] = [];
  return {
    wrap(inner: Express): Express {
      const handler = (req: IncomingMessage, res: ServerResponse) => {
        const method = req.method ?? 'GET';
        const path = (req.url ?? '/').split('?')[0];
        res.once('finish', () => {
          if (['GET', 'HEAD', 'OPTIONS'].includes(method) || !path.startsWith('/v1') || res.statusCode === 429) return;
          sent.push({ requestId: String(res.getHeader('x-request-id') ?? ''), method, path, status: res.statusCode });
        });
        inner(req as Parameters<Express>[0], res as Parameters<Express>[1]);
      };
      return handler as unknown as Express;
    },
    /** Every request sent so far has its record (they are written as the answer goes: waits a little). */
    async expectRecorded(trail: AuditTrail): Promise<{ requests: number; records: AuditRecord[] }> {
      const until = Date.now() + 10_000;
      let records: AuditRecord[] = [];
      let missing: Sent[] = [];
      for (;;) {
        records = await trail.find({ limit: 1_000_000 });
        const have = new Map<string, number>();
        for (const r of records) have.set(r.requestId, (have.get(r.requestId) ?? 0) + 1);
        const want = new Map<string, number>();
        for (const s of sent) want.set(s.requestId, (want.get(s.requestId) ?? 0) + 1);
        missing = sent.filter((s) => (have.get(s.requestId) ?? 0) < (want.get(s.requestId) ?? 0));
        if (!missing.length || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(
        missing.slice(0, 10),
        `${missing.length} of ${sent.length} state-changing requests without a record`,
      ).toEqual([]);
      // Each record's status is the status its request was answered with.
      const byId = new Map(records.map((r) => [r.requestId, r]));
      for (const s of sent) {
        const r = byId.get(s.requestId)!;
        expect(r.method, s.path).toBe(s.method);
        if (sent.filter((x) => x.requestId === s.requestId).length === 1)
          expect(r.status, `${s.method} ${s.path}`).toBe(s.status);
      }
      return { requests: sent.length, records };
    },
  };
}
