import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import { guarded } from '../common/failure-log.js';
import type { ConnectionState } from './connection.types.js';

/** What modules can learn about connections, in process, without touching authentication. */
export interface ConnectionLifecycleEvents {
  /**
   * A client connection passed the handshake on this instance (its first namespace socket), once
   * the cluster view holds it: a count read from here on includes it.
   */
  opened: [connection: ConnectionState];
  /** A client connection of this instance closed (its last namespace socket left), once the cluster view dropped it. */
  closed: [connection: ConnectionState];
  /** The user's first live connection anywhere in the cluster; raised where it was added. */
  userConnected: [userId: string];
  /** The user's last live connection anywhere in the cluster is gone; raised where it was removed. */
  userDisconnected: [userId: string];
  /** Instances joined or left the cluster (a killed one drops out once its heartbeat is stale). */
  instancesChanged: [instanceIds: string[]];
}

export type ConnectionLifecycleEvent = keyof ConnectionLifecycleEvents;

/**
 * Typed connection lifecycle events. Listeners run synchronously where the change happens; a
 * listener that throws (or rejects) is logged and does not affect the others or the connection.
 */
@Injectable()
export class ConnectionLifecycle {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Subscribes; returns the function that unsubscribes. */
  on<E extends ConnectionLifecycleEvent>(
    event: E,
    listener: (...args: ConnectionLifecycleEvents[E]) => unknown,
  ): () => void {
    const safe = guarded(`handle the ${event} connection event`, listener);
    this.emitter.on(event, safe);
    return () => this.emitter.off(event, safe);
  }

  emit<E extends ConnectionLifecycleEvent>(event: E, ...args: ConnectionLifecycleEvents[E]): void {
    this.emitter.emit(event, ...args);
  }
}
