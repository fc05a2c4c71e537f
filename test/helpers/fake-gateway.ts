// A local stand-in for an SMS provider's HTTP API, on loopback: it answers what a test tells it to
// (success, invalid number, rate limited, server error, or nothing at all) and records each request.
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Answer {
  status: number;
  body: unknown;
  /** Never answer: the client's timeout must fire. */
  hang?: boolean;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export class FakeGateway {
  readonly requests: SeenRequest[] = [];
  answer: (req: SeenRequest) => Answer = () => ({ status: 500, body: { message: 'no answer configured' } });
  private server?: Server;
  url = '';
  host = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += String(c)));
      req.on('end', () => {
        const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
        this.requests.push(seen);
        const a = this.answer(seen);
        if (a.hang) return; // the socket stays open until the server closes
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    const { port } = this.server.address() as { port: number };
    this.host = `localhost:${port}`;
    this.url = `http://localhost:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => this.server?.close(() => ok()) ?? ok());
  }
}
