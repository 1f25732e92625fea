import { WebSocket } from 'ws';
import type { Envelope } from '../common/envelope.js';
import type { ErrorBody } from '../common/errors.js';
import { Role } from '../auth/roles.js';
import {
  newEventRateWindow,
  type CloseReason,
  type ConnectionEndpoint,
  type ConnectionState,
  type EventRateWindow,
} from '../connections/connection.types.js';
import type { EventSubscriber } from './event-router.js';
import { CLOSE_REASON_CODES, EventsCloseCode, EventsFrame } from './events-websocket.frames.js';
import { EVENTS_WEBSOCKET_PATH, type PublishedEvent } from './notifications.events.js';

/** What a connection needs from its door. */
export interface EventsWebSocketHost {
  /** The `event` frame of `event`, encoded once however many connections it goes to. */
  eventFrame(event: PublishedEvent): Buffer;
  /** Unsent output past which a connection is dropped (`MAX_OUTBOUND_BUFFER_BYTES`). */
  readonly maxOutboundBytes: number;
  /** A client that stopped reading. */
  dropSlowConsumer(connection: EventsWebSocketConnection): void;
  /** Forgets a connection that closed (idempotent). */
  release(connection: EventsWebSocketConnection): void;
}

/** `ws` sends a Buffer as binary unless told; every frame of the door is text. */
const TEXT = { binary: false } as const;

/**
 * One plain WebSocket of `/ws/events` (or another path of its door, `/ws/admin`): an endpoint of its connection in the registry (listed,
 * revoked, kicked, expired through it) and a subscriber of the event router.
 */
export class EventsWebSocketConnection implements ConnectionEndpoint, EventSubscriber {
  /** The per-connection window of `RATE_LIMIT_EVENTS_PER_S`, as a socket's. */
  readonly rate: EventRateWindow = newEventRateWindow();
  /** Whether the peer answered the last protocol ping. */
  alive = true;
  /** Forgotten by the door, the router and the registry. */
  released = false;

  constructor(
    readonly ws: WebSocket,
    readonly connection: ConnectionState,
    private readonly host: EventsWebSocketHost,
    /** The path it was opened on (`/ws/events`, `/ws/admin`): its namespace in the registry. */
    readonly namespace: string = EVENTS_WEBSOCKET_PATH,
  ) {}

  /** One endpoint per connection: the connection id names it. */
  get id(): string {
    return this.connection.identity.connectionId;
  }

  get userId(): string {
    return this.connection.identity.userId;
  }

  /** Read at each subscribe, so a refresh that changes the roles counts from then on. */
  get isAdmin(): boolean {
    return this.connection.identity.roles.includes(Role.Admin);
  }

  deliver(event: PublishedEvent): void {
    this.sendEncoded(this.host.eventFrame(event));
  }

  /** A notice of the authentication layer: its envelope's data becomes the frame's payload. */
  emit(event: string, notice: Envelope): void {
    this.send(event, notice.data);
  }

  close(reason: CloseReason): void {
    this.end(EventsCloseCode.PolicyViolation, CLOSE_REASON_CODES[reason]);
  }

  send(type: string, payload: unknown): void {
    this.sendEncoded(JSON.stringify({ type, payload }));
  }

  sendError(error: ErrorBody): void {
    this.send(EventsFrame.Error, error);
  }

  /** A frame already encoded (shared by every connection it goes to). */
  sendEncoded(frame: string | Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(frame, TEXT);
    if (this.ws.bufferedAmount > this.host.maxOutboundBytes) this.host.dropSlowConsumer(this);
  }

  /**
   * Starts the closing handshake and forgets the connection at once: the registry and the
   * router need not wait for a peer that may never answer the close frame.
   */
  end(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code, reason);
    }
    this.host.release(this);
  }
}
