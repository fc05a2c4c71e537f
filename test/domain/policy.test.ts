import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/domain/policy-schema';
import { PolicyRegistry } from '../../src/policies/registry';
import { DEFAULT_POLICY, POLICIES } from '../helpers/temporal';

describe('policies', () => {
  it('loads the shipped policies, with the documented defaults', () => {
    expect(POLICIES.ids().sort()).toEqual(['default', 'demo']);
    expect(DEFAULT_POLICY).toMatchObject({
      sendTime: '10:00',
      window: { start: '08:00', end: '21:00' },
      maxLateness: 'P3D',
      afterLastPoint: { handOver: true, listenFor: 'P30D' },
    });
    expect(DEFAULT_POLICY.caps).toContainEqual({ max: 1, per: 'P7D', scope: 'overdue' });
    expect(DEFAULT_POLICY.caps).toContainEqual({ max: 1, per: 'PT20H', scope: 'any' });
  });

  it.each([
    [{ sendTime: '22:00' }, 'sendTime'],
    [{ window: { start: '21:00', end: '08:00' } }, 'window'],
    [{ points: [{ stage: 'due', offset: 'seven days', template: 'due' }] }, 'points.0.offset'],
    [{ points: [{ stage: 'due', offset: 'P0D', template: 'thank-you' }] }, 'points.0.template'],
    [{ caps: [{ max: 0, per: 'P7D' }] }, 'caps.0.max'],
    [{ caps: [{ max: 1, per: '-P7D' }] }, 'caps.0.per'],
    [{ colour: 'red' }, '(root)'],
  ])('refuses %j, naming %s', (change, field) => {
    const result = (() => {
      try {
        parsePolicy({ ...DEFAULT_POLICY, ...change });
        return 'accepted';
      } catch (err) {
        return (err as { issues: Array<{ path: string[] }> }).issues.map((i) => i.path.join('.') || '(root)').join(',');
      }
    })();
    expect(result).toContain(field);
  });

  it('refuses a policy file whose id does not match its name, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'policies-'));
    writeFileSync(join(dir, 'default.json'), JSON.stringify(DEFAULT_POLICY));
    writeFileSync(join(dir, 'strict.json'), JSON.stringify({ ...DEFAULT_POLICY, id: 'other' }));
    expect(() => PolicyRegistry.load(dir)).toThrow(/strict\.json: id "other" must match the file name/);
  });
});
