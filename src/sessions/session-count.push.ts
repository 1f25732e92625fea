import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { guarded } from '../common/failure-log.js';
import { AppConfig } from '../config/app-config.js';
import { ConnectionLifecycle } from '../connections/connection-lifecycle.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import type { RealtimeChannel } from '../realtime/realtime-channel.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { SessionsEvent, type SessionsServerPayloads } from './sessions.events.js';

/** Tells the other instances that this one's connections changed (adapter server-side event). */
const CHANGED_CHANNEL = 'sessions:changed';

/**
 * Pushes `sessions:count` to the `/` sockets of this instance when connections change, here or
 * on another instance (which says so through the adapter), or when an instance joins or dies.
 * Pushes are coalesced: the first change after a quiet period goes out at once, later ones at
 * most once per `SESSIONS_BROADCAST_MS`, and the count is read when the push goes out, so the
 * last value always arrives. A push is sent even when the count equals the last one pushed: the
 * change may have been sockets leaving and others arriving, which have seen no push yet.
 */
@Injectable()
export class SessionCountPush implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly channel: RealtimeChannel<SessionsServerPayloads>;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly intervalMs: number;
  private readonly clustered: boolean;
  private lastFlushAt = 0;
  private timer?: NodeJS.Timeout;
  private changed = false;
  private tellOthers = false;
  private flushing = false;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly lifecycle: ConnectionLifecycle,
    private readonly realtime: RealtimeServer,
    config: AppConfig,
  ) {
    this.channel = realtime.channel<SessionsServerPayloads>('/');
    this.intervalMs = config.sessions.broadcastMs;
    this.clustered = config.redis !== null;
  }

  onApplicationBootstrap(): void {
    const changedHere = () => this.markChanged(true);
    const changedElsewhere = () => this.markChanged(false);
    this.unsubscribe.push(
      this.lifecycle.on('opened', changedHere),
      this.lifecycle.on('closed', changedHere),
      this.lifecycle.on('instancesChanged', changedElsewhere),
    );
    this.realtime.whenReady((server) => {
      server.of('/').on(CHANGED_CHANNEL, guarded('note a remote connection change', changedElsewhere));
    });
  }

  onApplicationShutdown(): void {
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    clearTimeout(this.timer);
  }

  private markChanged(here: boolean): void {
    this.changed = true;
    this.tellOthers ||= here && this.clustered;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.flushing || !this.changed) return;
    const wait = Math.max(0, this.lastFlushAt + this.intervalMs - Date.now());
    this.timer = setTimeout(
      guarded('push the session count', () => this.flush()),
      wait,
    );
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (!this.realtime.isReady || this.realtime.isClosing) return;
    this.flushing = true;
    this.changed = false;
    this.lastFlushAt = Date.now();
    try {
      if (this.tellOthers) {
        this.tellOthers = false;
        this.realtime.namespace('/').serverSideEmit(CHANGED_CHANNEL);
      }
      const activeSessionsCount = await this.registry.countConnections();
      this.channel.emit({ local: true }, SessionsEvent.Count, { activeSessionsCount });
    } finally {
      this.flushing = false;
      this.schedule();
    }
  }
}
