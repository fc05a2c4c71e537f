// A loopback stand-in for Twilio's Messages API whose health follows a schedule in *server* time
// (the time-skipping test server's clock, not the wall clock): healthy, failing with a 5xx, or
// hanging until the client's timeout fires. It records every request with the server time it
// arrived at and what it answered, so a test can check deliveries against what it really accepted.
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';

export type GatewayMode = 'healthy' | '5xx' | 'hang';

export interface GatewayRecord {
  /** The form fields Twilio's SDK sent (To, Body, From). */
  to: string;
  body: string;
  /** Server time of the request (see the constructor). */
  serverMs: number;
  mode: GatewayMode;
  /** The 5xx status answered, for mode 5xx. */
  status?: number;
  /** The message sid handed back, for an accepted message. */
  sid?: string;
}

/** Twilio's error bodies for the server errors the gateway answers with. */
const SERVER_ERRORS = [500, 502, 503, 504];

export class OutageGateway {
  readonly records: GatewayRecord[] = [];
  url = '';
  private server?: Server;
  private readonly hanging = new Set<ServerResponse>();
  private failures = 0;

  /**
   * @param serverTimeOf the server time of a request to this number, asked when it arrives
   * @param modeAt the mode at a server instant, given how many failures were answered before
   */
  constructor(
    private readonly serverTimeOf: (to: string) => Promise<number>,
    public modeAt: (serverMs: number, failureNo: number) => GatewayMode = () => 'healthy',
  ) {}

  get accepted(): GatewayRecord[] {
    return this.records.filter((r) => r.mode === 'healthy');
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.answer(Buffer.concat(chunks).toString('utf8'), res);
      });
    });
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    const { port } = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  private async answer(raw: string, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(raw);
    const to = form.get('To') ?? '';
    const serverMs = await this.serverTimeOf(to);
    const mode = this.modeAt(serverMs, this.failures);
    const record: GatewayRecord = { to, body: form.get('Body') ?? '', serverMs, mode };
    this.records.push(record);
    if (mode === 'hang') {
      // Never answered: the SDK's timeout fires and the socket is dropped by the client.
      this.failures++;
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (mode === '5xx') {
      const status = SERVER_ERRORS[this.failures++ % SERVER_ERRORS.length];
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 20000 + status, message: 'Service unavailable', status }));
      return;
    }
    record.sid = `SM${randomUUID().replace(/-/g, '')}`;
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ sid: record.sid, status: 'queued', to: record.to, body: record.body }));
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }
}
