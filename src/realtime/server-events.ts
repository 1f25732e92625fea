import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import { guarded } from '../common/failure-log.js';

/**
 * Something the server itself noticed that event subscribers may want to know (docs/events.md):
 * a session created or revoked, a refused handshake, a flood, a shutdown.
 */
export interface ServerEvent {
  /** Dotted event type, e.g. `security.origin.refused`. */
  type: string;
  /** The user it is about; absent for events about the system or an attacker (admins only). */
  userId?: string;
  sessionId?: string;
  /**
   * The client address events about an attacker are grouped by: at most one such event per type
   * and address per second, with a count.
   */
  address?: string;
  /** Never a token. */
  data: Record<string, unknown>;
}

/**
 * Where the layers below the feature modules (authentication, limits, the Socket.IO adapter) say
 * what happened, without knowing who listens; the notifications module publishes it as events.
 */
@Injectable()
export class ServerEvents {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Subscribes; returns the function that unsubscribes. */
  on(listener: (event: ServerEvent) => unknown): () => void {
    const safe = guarded('handle a server event', listener);
    this.emitter.on('event', safe);
    return () => this.emitter.off('event', safe);
  }

  emit(event: ServerEvent): void {
    this.emitter.emit('event', event);
  }
}

/** A browser page of a foreign origin tried to connect (either door). */
export function originRefused(origin: string | undefined, address: string): ServerEvent {
  return { type: 'security.origin.refused', address, data: { origin: (origin ?? '').slice(0, 200) } };
}
