import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { Clock } from '../common/clock.js';
import { guarded } from '../common/failure-log.js';
import type { RedisClient } from '../redis/redis.service.js';
import type { DeliveryGaps } from './delivery-gaps.js';
import type { RealtimeServer } from './realtime-server.js';

/** Server-side event by which an instance tells the others it dropped broadcasts since a time. */
const BROADCASTS_DROPPED = 'realtime:broadcasts-dropped';

/**
 * Watches the path between instances (the adapter's Redis publisher and subscriber) and reports
 * each interruption to `DeliveryGaps` once delivery works again (docs/protocol.md, Recovery):
 * - the subscriber broke: this instance's sockets may have missed the others' broadcasts, from
 *   the moment it broke until it has subscribed again;
 * - publishing failed: the other instances' sockets missed this instance's broadcasts. The first
 *   publish that succeeds afterwards is followed by a notice to the others, who report it to
 *   their own sockets.
 */
export class DeliveryPathWatch {
  private readonly logger = new Logger('RealtimeRedis');
  private subscriptionLostAt: number | null = null;
  private droppedSince: number | null = null;
  /** The start of the drops last announced, until a later publish shows the announcement went out. */
  private announcedSince: number | null = null;

  constructor(
    private readonly gaps: DeliveryGaps,
    private readonly realtime: RealtimeServer,
    private readonly clock: Clock,
  ) {
    realtime.whenReady((server) =>
      server.of('/').on(
        BROADCASTS_DROPPED,
        guarded('take a notice of dropped broadcasts', (since: unknown) => {
          if (typeof since !== 'number' || !Number.isFinite(since)) return;
          this.gaps.report({ reason: 'broadcasts_dropped', since: new Date(since) });
        }),
      ),
    );
  }

  watchSubscriber(sub: RedisClient): void {
    sub.on('close', () => {
      this.subscriptionLostAt ??= this.clock.now();
    });
    sub.on(
      'ready',
      guarded('report a resumed subscription', async () => {
        const lostAt = this.subscriptionLostAt;
        if (lostAt === null) return;
        this.subscriptionLostAt = null;
        if (!(await resubscribed(sub))) {
          this.subscriptionLostAt = Math.min(this.subscriptionLostAt ?? lostAt, lostAt);
          return;
        }
        this.gaps.report({ reason: 'subscription_interrupted', since: new Date(lostAt) });
      }),
    );
  }

  /**
   * The adapter publishes without handling failures; while Redis is down every broadcast would
   * become an unhandled rejection. A failed publish is dropped, remembered, and the first failure
   * of an outage logged.
   */
  watchPublisher(pub: RedisClient): void {
    const publish = pub.publish.bind(pub);
    const spublish = pub.spublish.bind(pub);
    const settle = (sent: Promise<unknown>) =>
      sent.then(
        (receivers) => {
          this.published();
          return receivers;
        },
        (error: unknown) => {
          this.failedToPublish(error);
          return 0;
        },
      );
    Object.assign(pub, {
      publish: (channel: string, message: string | Buffer) => settle(publish(channel, message)),
      spublish: (channel: string, message: string | Buffer) => settle(spublish(channel, message)),
    });
    pub.on('ready', () => this.announceDrops());
  }

  private failedToPublish(error: unknown): void {
    if (this.droppedSince === null) {
      this.logger.warn(`Broadcasts to other instances are dropped while Redis is down: ${String(error)}`);
    }
    this.droppedSince ??= this.announcedSince ?? this.clock.now();
    this.announcedSince = null;
  }

  private published(): void {
    if (this.droppedSince !== null) this.announceDrops();
    else this.announcedSince = null;
  }

  private announceDrops(): void {
    const since = this.droppedSince;
    if (since === null || !this.realtime.isReady) return;
    this.droppedSince = null;
    this.announcedSince = since;
    this.logger.log(
      `Broadcasts reach other instances again; telling them what was dropped since ${new Date(since).toISOString()}`,
    );
    this.realtime.io.serverSideEmit(BROADCASTS_DROPPED, since);
  }
}

/**
 * ioredis says `ready` before it re-sends the subscriptions; a PING queued behind them answers
 * once they are in place. A Cluster's shard subscribers resubscribe on their own connections, of
 * which its `ready` is the only sign.
 */
async function resubscribed(sub: RedisClient): Promise<boolean> {
  if (!(sub instanceof Redis)) return true;
  await new Promise((resolve) => setImmediate(resolve));
  return sub.ping().then(
    () => true,
    () => false,
  );
}
