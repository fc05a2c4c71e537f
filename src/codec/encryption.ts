// Payload encryption: every workflow input, signal, update, query result, activity argument and
// result, and every failure's message and stack, leaves the process as AES-256-GCM ciphertext, so
// Temporal's database and its Web UI hold no borrower's name, number or debt in clear. Each payload
// names the key that encrypted it, so keys can rotate while old payloads stay readable.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SEALED_TEXT_PREFIX = `enc:${CIPHER}:`;
/** Keeps a sealed text apart from a payload under the same key: neither passes for the other. */
const TEXT_AAD = 'text\0';
export const isSealedText = (v: unknown): v is string => typeof v === 'string' && v.startsWith(SEALED_TEXT_PREFIX);
/** Exactly the metadata `encode` writes. */
const WRITTEN_METADATA = new Set([METADATA_ENCODING_KEY, KEY_ID_METADATA, CIPHER_METADATA]);

export interface PayloadKey {
  /** A short name stored in each payload; never the key. */
  id: string;
  /** 32 random bytes. */
  key: Buffer;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : undefined);

/**
 * Parses PAYLOAD_KEYS: `id:base64key` entries separated by commas, e.g.
 * `2026-11:q8u...=,2026-05:Zm9...=`; each key is 32 bytes (`openssl rand -base64 32`).
 */
export function parsePayloadKeys(spec: string): PayloadKey[] {
  const keys = spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf(':');
      const id = entry.slice(0, at);
      const key = Buffer.from(entry.slice(at + 1), 'base64');
      if (at < 1 || !/^[A-Za-z0-9._-]{1,64}$/.test(id))
        throw new Error(`PAYLOAD_KEYS: an entry needs id:base64key with an id of letters, digits, . _ -`);
      if (key.length !== 32)
        throw new Error(`PAYLOAD_KEYS: key "${id}" must be 32 bytes in base64 (${key.length} given)`);
      return { id, key };
    });
  if (!keys.length) throw new Error('PAYLOAD_KEYS: no keys');
  const ids = keys.map((k) => k.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new Error(`PAYLOAD_KEYS: key id "${twice}" is given twice`);
  return keys;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly active: PayloadKey;

  /** Encrypts with the key `activeId` (default: the first); decrypts with any of `keys`. */
  constructor(keys: readonly PayloadKey[], activeId?: string) {
    if (!keys.length) throw new Error('at least one payload key is needed');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    const active = activeId === undefined ? keys[0] : keys.find((k) => k.id === activeId);
    if (!active) throw new Error(`PAYLOAD_KEY_ID "${activeId}" is not among PAYLOAD_KEYS`);
    this.active = active;
  }

  get activeKeyId(): string {
    return this.active.id;
  }

  /**
   * A borrower's free text sealed for a file outside Temporal (the operations hand-over): the same
   * cipher and keys as the payloads, as one string `enc:AES-256-GCM:<key id>:<base64>`, the key id
   * authenticated. Whoever holds PAYLOAD_KEYS reads it with `openText`.
   */
  sealText(value: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
    cipher.setAAD(utf8(`${TEXT_AAD}${this.active.id}`));
    const sealed = Buffer.concat([iv, cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_TEXT_PREFIX}${this.active.id}:${sealed.toString('base64')}`;
  }

  /** Reads what `sealText` wrote; refuses anything else by name. */
  openText(sealed: string): string {
    if (!isSealedText(sealed)) throw new Error(`not a sealed text (${SEALED_TEXT_PREFIX}...)`);
    const rest = sealed.slice(SEALED_TEXT_PREFIX.length);
    const at = rest.indexOf(':');
    const id = rest.slice(0, at);
    const key = at > 0 ? this.byId.get(id) : undefined;
    if (!key) throw new Error(`text sealed with key "${id}", which is not in PAYLOAD_KEYS`);
    const data = Buffer.from(rest.slice(at + 1), 'base64');
    if (data.length < IV_BYTES + TAG_BYTES) throw new Error('sealed text is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(utf8(`${TEXT_AAD}${id}`));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  }

  // Through a Promise executor, so any error is a rejection, never a synchronous throw.
  encode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) =>
      resolve(
        payloads.map((p) => {
          const plain = temporal.api.common.v1.Payload.encode(p).finish();
          const iv = randomBytes(IV_BYTES);
          const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
          // The key id is authenticated too: a payload cannot be relabelled to another key.
          cipher.setAAD(utf8(this.active.id));
          const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
          return {
            metadata: {
              [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
              [KEY_ID_METADATA]: utf8(this.active.id),
              [CIPHER_METADATA]: utf8(CIPHER),
            },
            data: sealed,
          };
        }),
      ),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((p) => this.decodeOne(p))));
  }

  /**
   * The SDK's codec contract: a payload this codec did not encode (another encoding, e.g.
   * `binary/null`, `json/plain`, one written before encryption) is passed on unchanged. One that
   * carries this codec's encoding, or any of its labels, must be exactly what it writes: the
   * encoding, the cipher AES-256-GCM and a key id, nothing else. A label altered, missing or added
   * is refused by name, never decoded on someone else's terms.
   */
  private decodeOne(p: Payload): Payload {
    const metadata = p.metadata ?? {};
    const encoding = text(metadata[METADATA_ENCODING_KEY]);
    const ours = encoding === ENCRYPTED_ENCODING;
    const labels = Object.keys(metadata).filter((k) => k === KEY_ID_METADATA || k === CIPHER_METADATA);
    if (!ours) {
      if (labels.length)
        throw new Error(
          `payload with encoding "${encoding ?? ''}" carries ${labels.join(' and ')}: relabelled, refused`,
        );
      return p; // never went through this codec
    }
    for (const k of Object.keys(metadata))
      if (!WRITTEN_METADATA.has(k))
        throw new Error(`encrypted payload carries metadata "${k}", which the codec never writes`);
    const cipher = text(metadata[CIPHER_METADATA]);
    if (cipher === undefined) throw new Error(`encrypted payload has no ${CIPHER_METADATA}`);
    if (cipher !== CIPHER) throw new Error(`encrypted payload names cipher "${cipher}"; only ${CIPHER} is accepted`);
    const id = text(metadata[KEY_ID_METADATA]);
    if (!id) throw new Error(`encrypted payload has no ${KEY_ID_METADATA}`);
    const key = this.byId.get(id);
    if (!key) throw new Error(`payload encrypted with key "${id}", which is not in PAYLOAD_KEYS`);
    const data = Buffer.from(p.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted payload is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(utf8(id));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    return temporal.api.common.v1.Payload.decode(plain);
  }
}

/** Failures as payloads (see failure-converter.js); the workflow bundle takes the same path. */
export const FAILURE_CONVERTER_PATH = join(__dirname, 'failure-converter.js');

/**
 * The data converter every client and worker of the project uses: payloads through the codec, and
 * failures' messages and stack traces encoded as payloads too, so they are encrypted as well.
 */
export function encryptedDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}
