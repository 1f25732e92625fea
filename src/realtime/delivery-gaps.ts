import { EventEmitter } from 'node:events';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { envelope } from '../common/envelope.js';
import { guarded } from '../common/failure-log.js';
import { RealtimeServer } from './realtime-server.js';
import { RealtimeEvent, type DeliveryGapReason, type SyncRequiredPayload } from './realtime.events.js';

/** A stretch of time in which this instance's sockets may have missed broadcasts. */
export interface DeliveryGap {
  reason: DeliveryGapReason;
  /** When it began. */
  since: Date;
}

/**
 * Where the real-time layer says that live delivery to this instance's sockets may have dropped
 * events, once it works again (docs/protocol.md, Recovery). Every module that delivers live
 * repairs what it must here: the sockets are told `sync:required`, chat rooms are re-derived
 * from storage. Listeners run synchronously; one that throws is logged and spares the others.
 */
@Injectable()
export class DeliveryGaps {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Subscribes; returns the function that unsubscribes. */
  onGap(listener: (gap: DeliveryGap) => unknown): () => void {
    const safe = guarded('handle a delivery gap', listener);
    this.emitter.on('gap', safe);
    return () => this.emitter.off('gap', safe);
  }

  /** Raised by the adapter once delivery works again; see `DeliveryPathWatch`. */
  report(gap: DeliveryGap): void {
    this.emitter.emit('gap', gap);
  }
}

/**
 * Tells every socket of this instance, on every namespace, `sync:required`, each with its own
 * random wait below `RESYNC_SPREAD_MS`.
 */
@Injectable()
export class SyncRequiredPush implements OnModuleInit {
  private readonly logger = new Logger(SyncRequiredPush.name);

  constructor(
    private readonly gaps: DeliveryGaps,
    private readonly realtime: RealtimeServer,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.gaps.onGap((gap) => this.tellSockets(gap));
  }

  private tellSockets({ reason, since }: DeliveryGap): void {
    if (!this.realtime.isReady) return;
    const spreadMs = this.config.realtime.resyncSpreadMs;
    let told = 0;
    for (const namespace of this.realtime.namespaces()) {
      for (const socket of namespace.sockets.values()) {
        const payload: SyncRequiredPayload = {
          reason,
          since: since.toISOString(),
          syncAfterMs: Math.floor(Math.random() * spreadMs),
        };
        socket.emit(RealtimeEvent.SyncRequired, envelope(RealtimeEvent.SyncRequired, payload));
        told += 1;
      }
    }
    this.logger.warn(
      `Live delivery may have dropped events since ${since.toISOString()} (${reason}); told ${told} sockets to sync`,
    );
  }
}
