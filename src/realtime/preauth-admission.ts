import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import type { Socket as EngineSocket } from 'engine.io';
import type { ClientAddresses } from '../common/client-address.js';

type EngineMiddleware = (request: IncomingMessage, response: unknown, next: (error?: Error) => void) => void;

interface Refusal {
  status: 429 | 503;
  code: 'RATE_LIMITED' | 'CONNECTION_LIMIT';
  message: string;
}

/**
 * Bounds what clients that have not authenticated can hold, at the Engine.IO level where the
 * namespace handshake's limits do not reach yet: the transport connections from one address
 * still waiting to authenticate on a namespace, and, when `MAX_CONNECTIONS` is set, all of them
 * together. A refused transport handshake answers HTTP 429 or 503 with a JSON `{ code, message }`.
 */
export class PreAuthAdmission {
  private readonly waitingByAddress = new Map<string, number>();
  private readonly addressOfWaiting = new WeakMap<EngineSocket, string>();
  private waiting = 0;

  constructor(
    private readonly addresses: ClientAddresses,
    private readonly limits: { perAddress: number; total: number },
  ) {}

  /** Engine.IO middleware; only new transport connections (no `sid` yet) are counted. */
  readonly middleware: EngineMiddleware = (request, response, next) => {
    const refusal = isTransportHandshake(request) ? this.refusalFor(this.addresses.of(request)) : null;
    if (refusal) refuse(response, refusal);
    else next();
  };

  /** A transport connection opened: it waits to authenticate until a namespace admits it. */
  opened(connection: EngineSocket): void {
    const address = this.addresses.of(connection.request);
    this.addressOfWaiting.set(connection, address);
    this.waitingByAddress.set(address, (this.waitingByAddress.get(address) ?? 0) + 1);
    this.waiting += 1;
    connection.once('close', () => this.settle(connection));
  }

  /** A namespace admitted the connection (its first authenticated socket). */
  settle(connection: EngineSocket): void {
    const address = this.addressOfWaiting.get(connection);
    if (address === undefined) return;
    this.addressOfWaiting.delete(connection);
    this.waiting -= 1;
    const left = (this.waitingByAddress.get(address) ?? 1) - 1;
    if (left > 0) this.waitingByAddress.set(address, left);
    else this.waitingByAddress.delete(address);
  }

  private refusalFor(address: string): Refusal | null {
    const { perAddress, total } = this.limits;
    if (total > 0 && this.waiting >= total) {
      return {
        status: 503,
        code: 'CONNECTION_LIMIT',
        message: 'Too many connections are waiting to authenticate; retry later',
      };
    }
    if (perAddress > 0 && (this.waitingByAddress.get(address) ?? 0) >= perAddress) {
      return {
        status: 429,
        code: 'RATE_LIMITED',
        message: 'Too many unauthenticated connections from this address',
      };
    }
    return null;
  }
}

function isTransportHandshake(request: IncomingMessage): boolean {
  return !(request as IncomingMessage & { _query?: Record<string, string> })._query?.sid;
}

const STATUS_TEXT = { 429: 'Too Many Requests', 503: 'Service Unavailable' } as const;

/** Answers a polling request or a WebSocket upgrade (whose "response" is the raw socket). */
function refuse(response: unknown, { status, code, message }: Refusal): void {
  const body = JSON.stringify({ code, message });
  if (response instanceof ServerResponse) {
    response.writeHead(status, { 'Content-Type': 'application/json', 'Retry-After': '10' });
    response.end(body);
    return;
  }
  const { socket } = response as { socket: NetSocket };
  socket.on('error', () => undefined);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Retry-After: 10\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
