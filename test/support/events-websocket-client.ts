import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';

/** A frame of `/ws/events`, as the server sends it. */
export interface Frame<P = unknown> {
  type: string;
  payload: P;
}

export interface Closed {
  code: number;
  reason: string;
}

export interface EventsClientOptions {
  /** `?token=` */
  query?: string;
  /** `Authorization: Bearer` */
  bearer?: string;
  /** The `authToken` cookie. */
  cookie?: string;
  headers?: Record<string, string>;
  /** Answer protocol pings (true unless told). */
  autoPong?: boolean;
}

/** How an upgrade ended: open, closed right after it (code and reason), or answered over HTTP. */
export type UpgradeOutcome =
  | { kind: 'open'; client: EventsClient }
  | { kind: 'closed'; closed: Closed }
  | { kind: 'refused'; status: number; body: string; headers: IncomingHttpHeaders }
  | { kind: 'error'; message: string };

/**
 * A `ws` client of the plain-WebSocket door that queues what it receives: a test awaits the next
 * frame (of a type), or the close, instead of sleeping.
 */
export class EventsClient {
  private readonly frames: Frame[] = [];
  private readonly waiters: { accept: (frame: Frame) => boolean; resolve: (frame: Frame) => void }[] = [];
  readonly closed: Promise<Closed>;

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      const frame = JSON.parse(isBinary ? '{}' : (data as Buffer).toString('utf8')) as Frame;
      const index = this.waiters.findIndex((waiter) => waiter.accept(frame));
      if (index >= 0) this.waiters.splice(index, 1)[0]?.resolve(frame);
      else this.frames.push(frame);
    });
  }

  /** The URL of the door on a running app's port. */
  static url(port: number, query?: string, path = '/ws/events'): string {
    return `ws://127.0.0.1:${port}${path}${query === undefined ? '' : `?token=${encodeURIComponent(query)}`}`;
  }

  /** Opens a connection and reports how the upgrade ended (without waiting for any frame). */
  static connect(port: number, options: EventsClientOptions = {}, path?: string): Promise<UpgradeOutcome> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.bearer !== undefined) headers.Authorization = `Bearer ${options.bearer}`;
    if (options.cookie !== undefined) headers.Cookie = `authToken=${options.cookie}`;
    const ws = new WebSocket(EventsClient.url(port, options.query, path), {
      headers,
      autoPong: options.autoPong ?? true,
    });
    const client = new EventsClient(ws);
    return new Promise((resolve) => {
      ws.once('open', () => resolve({ kind: 'open', client }));
      ws.once('unexpected-response', (_request, response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ kind: 'refused', status: response.statusCode ?? 0, body, headers: response.headers }),
        );
        response.on('error', () =>
          resolve({ kind: 'refused', status: response.statusCode ?? 0, body, headers: response.headers }),
        );
      });
      ws.once('error', (error) => resolve({ kind: 'error', message: error.message }));
    });
  }

  /** Opens a connection that the server admits, resolving with its `authenticated` payload. */
  static async open<A = AuthenticatedPayload>(
    port: number,
    options: EventsClientOptions,
    path?: string,
  ): Promise<{ client: EventsClient; authenticated: A }> {
    const outcome = await EventsClient.connect(port, options, path);
    if (outcome.kind !== 'open') throw new Error(`not open: ${JSON.stringify(outcome)}`);
    const first = await outcome.client.next();
    if (first.type !== 'authenticated') throw new Error(`first frame: ${JSON.stringify(first)}`);
    return { client: outcome.client, authenticated: first.payload as A };
  }

  /** Opens a connection the server refuses after the upgrade, resolving with the close. */
  static async refusedAfterUpgrade(
    port: number,
    options: EventsClientOptions,
    path?: string,
  ): Promise<Closed & { frames: Frame[] }> {
    const outcome = await EventsClient.connect(port, options, path);
    if (outcome.kind !== 'open') throw new Error(`not open: ${JSON.stringify(outcome)}`);
    const closed = await outcome.client.closed;
    return { ...closed, frames: outcome.client.received() };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends `{ type, payload }` and resolves with the next frame. */
  request<P = unknown>(type: string, payload?: unknown): Promise<Frame<P>> {
    this.send(payload === undefined ? { type } : { type, payload });
    return this.next<P>();
  }

  /** The next frame (of `type`, skipping none: a frame of another type first fails the wait). */
  next<P = unknown>(type?: string, timeoutMs = 5000): Promise<Frame<P>> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(checked(queued, type) as Frame<P>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`No frame${type ? ` of type ${type}` : ''} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        accept: () => true,
        resolve: (frame: Frame) => {
          clearTimeout(timer);
          try {
            resolve(checked(frame, type) as Frame<P>);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The frames received and not yet taken. */
  received(): Frame[] {
    return this.frames.splice(0);
  }

  /** Sends `ping` and resolves with what came before the `pong`: a barrier for what was sent before. */
  async untilPong(): Promise<Frame[]> {
    this.send({ type: 'ping' });
    const before: Frame[] = [];
    for (;;) {
      const frame = await this.next();
      if (frame.type === 'pong') return before;
      before.push(frame);
    }
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes from the client side and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

export interface AuthenticatedPayload {
  userId: string;
  sessionId: string;
  connectionId: string;
  roles: string[];
  expiresAt: string;
}

function checked(frame: Frame, type: string | undefined): Frame {
  if (type !== undefined && frame.type !== type) {
    throw new Error(`Expected a ${type} frame, got ${JSON.stringify(frame).slice(0, 500)}`);
  }
  return frame;
}

/** Closes every client of `clients` (emptying it). */
export async function closeClients(clients: EventsClient[]): Promise<void> {
  await Promise.all(clients.splice(0).map((client) => client.close()));
}
