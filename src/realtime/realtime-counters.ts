import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { ServerEvents, type ServerEvent } from './server-events.js';

/** An Engine.IO packet as `packetCreate` hands it over. */
interface EnginePacket {
  type: string;
  data?: unknown;
}

/** The first character of an encoded Socket.IO `EVENT` (2) and `BINARY_EVENT` (5) packet. */
const EVENT = 0x32;
const BINARY_EVENT = 0x35;

/** Server events that say a handshake (of either door, any namespace) was refused. */
const REFUSALS = new Set(['authentication.login.failed', 'security.origin.refused']);

/**
 * This instance's real-time traffic since it started, as plain integers: what the hot paths cost
 * is one increment. Readers (the admin stats) turn them into rates by comparing two readings.
 *
 * - `eventsIn`: client → server events that reached the dispatcher (past the per-socket gate).
 * - `eventsOut`: server → client events written to Socket.IO connections (acks excluded), counted
 *   per connection a broadcast reaches.
 * - `handshakesAccepted`: connections admitted (`session.created`, either door).
 * - `handshakesRefused`: handshakes refused at the token, the limits, a namespace's role or the
 *   origin check (`authentication.login.failed`, `security.origin.refused`, handshake floods).
 */
@Injectable()
export class RealtimeCounters implements OnModuleDestroy {
  eventsIn = 0;
  eventsOut = 0;
  handshakesAccepted = 0;
  handshakesRefused = 0;
  private readonly stopListening: () => void;

  constructor(serverEvents: ServerEvents) {
    this.stopListening = serverEvents.on((event) => this.noteServerEvent(event));
  }

  onModuleDestroy(): void {
    this.stopListening();
  }

  /**
   * An Engine.IO connection's `packetCreate` listener, shared by every connection (no closure per
   * connection): counts the packets that carry a Socket.IO event.
   */
  readonly countOutbound = (packet: EnginePacket): void => {
    if (packet.type !== 'message' || typeof packet.data !== 'string') return;
    const kind = packet.data.charCodeAt(0);
    if (kind === EVENT || kind === BINARY_EVENT) this.eventsOut += 1;
  };

  private noteServerEvent({ type, data }: ServerEvent): void {
    if (type === 'session.created') this.handshakesAccepted += 1;
    else if (REFUSALS.has(type)) this.handshakesRefused += 1;
    else if (type === 'security.rate_limit.exceeded' && data.limit === 'handshake') {
      this.handshakesRefused += 1;
    }
  }
}
