// The payload codec: AES-256-GCM with the key id in each payload's metadata; rotation keeps old
// payloads readable; tampering, a relabelled key id or an unknown key is refused.
import { randomBytes } from 'node:crypto';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  decodeOptionalFailureToOptionalError,
  encodeErrorToFailure,
} from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/data-converter-helpers';
import { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import {
  CIPHER_METADATA,
  EncryptionCodec,
  encryptedDataConverter,
  KEY_ID_METADATA,
  parsePayloadKeys,
} from '../../src/codec/encryption';

const key = () => randomBytes(32).toString('base64');
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const loan = { borrower: { name: '张先生', phone: '+8613800138000' }, amountDue: 500000 };
const plain = (): Payload => defaultPayloadConverter.toPayload(loan)!;

describe('payload encryption', () => {
  const [k1, k2] = [key(), key()];

  it('encrypts: the stored payload holds neither the name nor the number, and names its key', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`2026-11:${k1}`));
    const [enc] = await codec.encode([plain()]);
    expect(text(enc.metadata?.encoding)).toBe('binary/encrypted');
    expect(text(enc.metadata?.[KEY_ID_METADATA])).toBe('2026-11');
    const stored = Buffer.from(enc.data!).toString('latin1') + JSON.stringify(enc.metadata);
    for (const secret of ['张先生', Buffer.from('张先生').toString('latin1'), '+8613800138000', '500000']) {
      expect(stored).not.toContain(secret);
    }
    const [dec] = await codec.decode([enc]);
    expect(defaultPayloadConverter.fromPayload(dec)).toEqual(loan);
  });

  it('uses a fresh IV every time: the same value never encrypts the same way twice', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`a:${k1}`));
    const [x, y] = await codec.encode([plain(), plain()]);
    expect(Buffer.from(x.data!).equals(Buffer.from(y.data!))).toBe(false);
  });

  it('rotates: a new active key encrypts, the old one still decrypts what it wrote', async () => {
    const before = new EncryptionCodec(parsePayloadKeys(`old:${k1}`));
    const [old] = await before.encode([plain()]);
    const after = new EncryptionCodec(parsePayloadKeys(`new:${k2},old:${k1}`), 'new');
    const [fresh] = await after.encode([plain()]);
    expect(text(fresh.metadata?.[KEY_ID_METADATA])).toBe('new');
    const decoded = await after.decode([old, fresh]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([loan, loan]);
    // Once the old key is retired, its payloads are refused by name.
    await expect(new EncryptionCodec(parsePayloadKeys(`new:${k2}`)).decode([old])).rejects.toThrow(/key "old"/);
  });

  it('refuses tampered data and a relabelled key id', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`a:${k1},b:${k1}`));
    const [enc] = await codec.encode([plain()]);
    const flipped = Buffer.from(enc.data!);
    flipped[20] ^= 1;
    await expect(codec.decode([{ ...enc, data: flipped }])).rejects.toThrow();
    // Same key material under another id: the id is authenticated, so this fails too.
    const relabelled = { ...enc, metadata: { ...enc.metadata, [KEY_ID_METADATA]: Buffer.from('b') } };
    await expect(codec.decode([relabelled])).rejects.toThrow();
  });

  it('refuses our encoding under a cipher label, key id or metadata it did not write, naming the problem', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`a:${k1}`));
    const [enc] = await codec.encode([plain()]);
    const withMeta = (metadata: Record<string, Uint8Array | undefined>): Payload => ({
      ...enc,
      metadata: Object.fromEntries(
        Object.entries({ ...enc.metadata, ...metadata }).filter((e): e is [string, Uint8Array] => !!e[1]),
      ),
    });
    const cases: Array<[Payload, RegExp]> = [
      [withMeta({ [CIPHER_METADATA]: Buffer.from('NONE') }), /cipher "NONE"/],
      [withMeta({ [CIPHER_METADATA]: Buffer.from('aes-256-gcm ') }), /cipher/],
      [withMeta({ [CIPHER_METADATA]: undefined }), /no encryption-cipher/],
      [withMeta({ [KEY_ID_METADATA]: undefined }), /no encryption-key-id/],
      [withMeta({ [KEY_ID_METADATA]: Buffer.from('') }), /no encryption-key-id/],
      [withMeta({ 'x-extra': Buffer.from('1') }), /metadata "x-extra"/],
    ];
    for (const [payload, problem] of cases) await expect(codec.decode([payload])).rejects.toThrow(problem);
    // Our cipher labels on a payload that claims another encoding: relabelled, not a plain payload.
    const disguised = withMeta({ encoding: Buffer.from('json/plain') });
    await expect(codec.decode([disguised])).rejects.toThrow(/encoding "json\/plain"/);
    const stripped = { ...enc, metadata: { ...enc.metadata, encoding: Buffer.from('binary/null') } };
    await expect(codec.decode([stripped])).rejects.toThrow(/relabelled/);
    // Untouched, it still decodes.
    const [dec] = await codec.decode([withMeta({})]);
    expect(defaultPayloadConverter.fromPayload(dec)).toEqual(loan);
  });

  it('passes through, unchanged, payloads that never went through it (binary/null, json/plain, raw bytes)', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`a:${k1}`));
    const untouched = [
      defaultPayloadConverter.toPayload(undefined)!,
      defaultPayloadConverter.toPayload(null)!,
      defaultPayloadConverter.toPayload(new Uint8Array([1, 2, 3]))!,
      plain(),
      { data: Buffer.from('no metadata at all') },
    ];
    const decoded = await codec.decode(untouched);
    expect(decoded).toHaveLength(untouched.length);
    decoded.forEach((p, i) => expect(p).toBe(untouched[i]));
    expect(defaultPayloadConverter.fromPayload(decoded[3])).toEqual(loan);
  });

  it('passes through payloads written before encryption', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`a:${k1}`));
    const [p] = await codec.decode([plain()]);
    expect(defaultPayloadConverter.fromPayload(p)).toEqual(loan);
  });

  it('names the problem in a bad PAYLOAD_KEYS', () => {
    expect(() => parsePayloadKeys('a:c2hvcnQ=')).toThrow(/key "a" must be 32 bytes/);
    expect(() => parsePayloadKeys(`:${k1}`)).toThrow(/id:base64key/);
    expect(() => parsePayloadKeys(`a:${k1},a:${k2}`)).toThrow(/"a" is given twice/);
    expect(() => new EncryptionCodec(parsePayloadKeys(`a:${k1}`), 'b')).toThrow(/PAYLOAD_KEY_ID "b"/);
  });

  it('encrypts failures too: message and stack trace travel as an encrypted payload', async () => {
    // The same converter every client and worker loads, failure converter by path included.
    const converter = loadDataConverter(encryptedDataConverter(new EncryptionCodec(parsePayloadKeys(`a:${k1}`))));
    const error = ApplicationFailure.nonRetryable('张先生 at +8613800138000 is unreachable', 'Unreachable');
    const failure = await encodeErrorToFailure(converter, error);
    const stored = Buffer.from(temporal.api.failure.v1.Failure.encode(failure).finish()).toString('latin1');
    expect(failure.message).toBe('Encoded failure');
    for (const secret of [Buffer.from('张先生').toString('latin1'), '+8613800138000', 'unreachable'])
      expect(stored).not.toContain(secret);
    const back = await decodeOptionalFailureToOptionalError(converter, failure);
    expect(back?.message).toBe('张先生 at +8613800138000 is unreachable');
  });
});
