import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SqlitePhoneIndex } from '../../src/store/phone-index';
import { tempOutbox } from '../helpers/temporal';

describe('the phone index', () => {
  it('finds a loan by its number in any common spelling, follows a change of number, and stores no number', async () => {
    const path = tempOutbox().replace('outbox.jsonl', 'phones.sqlite');
    const index = new SqlitePhoneIndex(path, 'k'.repeat(32));
    await Promise.all([
      index.set('L-1', '+8613800138000'),
      index.set('L-2', '+8613800138000'),
      index.set('L-3', '+12025550100'),
    ]);
    expect(await index.loansOf('+86 138-0013-8000')).toEqual(['L-1', 'L-2']);
    expect(await index.loansOf('008613800138000')).toEqual(['L-1', 'L-2']);
    await index.set('L-2', '+8613900139000');
    expect(await index.loansOf('+8613800138000')).toEqual(['L-1']);
    expect(await index.loansOf('+8613900139000')).toEqual(['L-2']);
    await index.close();
    const bytes =
      readFileSync(path).toString('latin1') + readFileSync(`${path}-wal`, { flag: 'a+' }).toString('latin1');
    for (const n of ['13800138000', '8613800138000', '2025550100']) expect(bytes).not.toContain(n);
    // Another key cannot find the numbers: the hash is keyed.
    expect(await new SqlitePhoneIndex(path, 'x'.repeat(32)).loansOf('+8613800138000')).toEqual([]);
  });
});
