import type { RedisClient } from '../redis/redis.service.js';
import type { InstanceStats } from './admin.events.js';

/** What an instance publishes on each heartbeat: its stats, and which sketch of its users is current. */
export interface PublishedStats extends InstanceStats {
  /** The generation of the instance's user sketch (see `InstanceStatsStore`). */
  usersGeneration: number;
}

/** Users to add to an instance's sketch; a new generation starts a fresh sketch. */
export interface SketchUpdate {
  generation: number;
  users: readonly string[];
}

/**
 * Where each instance publishes its counters on its heartbeat: one small record per instance,
 * written in O(1), so that reading the cluster's stats costs O(instances) and never a scan of the
 * connections. With each record goes a HyperLogLog sketch of the instance's users: the union of
 * the live instances' sketches estimates the distinct users of the cluster. A sketch cannot
 * forget a user, so each instance starts a new generation now and then, holding only the users it
 * has then, and adds each new user as they arrive.
 */
export abstract class InstanceStatsStore {
  abstract publish(stats: PublishedStats, sketch: SketchUpdate): Promise<void>;

  /** The records of these instances that are there (a dead one's fades after a few TTLs). */
  abstract read(instanceIds: readonly string[]): Promise<Map<string, PublishedStats>>;

  /** The estimated distinct users of these instances' sketches; null when there are none to read. */
  abstract countUsers(
    sketches: readonly { instanceId: string; generation: number }[],
  ): Promise<number | null>;
}

/** One instance, in process: it reads its own record, and has no sketch (its count is exact). */
export class MemoryInstanceStatsStore extends InstanceStatsStore {
  private readonly records = new Map<string, PublishedStats>();

  publish(stats: PublishedStats): Promise<void> {
    this.records.set(stats.serverId, stats);
    return Promise.resolve();
  }

  read(instanceIds: readonly string[]): Promise<Map<string, PublishedStats>> {
    const found = new Map<string, PublishedStats>();
    for (const instanceId of instanceIds) {
      const record = this.records.get(instanceId);
      if (record) found.set(instanceId, record);
    }
    return Promise.resolve(found);
  }

  countUsers(): Promise<number | null> {
    return Promise.resolve(null);
  }
}

/** Users added to a sketch per PFADD. */
const SKETCH_CHUNK = 1000;

/**
 * In Redis: per instance a JSON record and its sketches, each expiring a few TTLs after the
 * instance's last beat, under one hash tag so that PFCOUNT may read several sketches at once on
 * Redis Cluster too.
 */
export class RedisInstanceStatsStore extends InstanceStatsStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    /** How long a record and a sketch outlive the last beat. */
    private readonly keepMs: number,
  ) {
    super();
  }

  async publish(stats: PublishedStats, sketch: SketchUpdate): Promise<void> {
    const sketchKey = this.sketchKey(stats.serverId, sketch.generation);
    const transaction = this.redis
      .multi()
      .set(this.statsKey(stats.serverId), JSON.stringify(stats), 'PX', this.keepMs)
      // With no user, PFADD still creates the (empty) sketch, so that PFCOUNT finds every key.
      .pfadd(sketchKey, ...sketch.users.slice(0, SKETCH_CHUNK));
    for (let start = SKETCH_CHUNK; start < sketch.users.length; start += SKETCH_CHUNK) {
      transaction.pfadd(sketchKey, ...sketch.users.slice(start, start + SKETCH_CHUNK));
    }
    await transaction.pexpire(sketchKey, this.keepMs).exec();
  }

  async read(instanceIds: readonly string[]): Promise<Map<string, PublishedStats>> {
    const found = new Map<string, PublishedStats>();
    if (instanceIds.length === 0) return found;
    const values = await this.redis.mget(...instanceIds.map((instanceId) => this.statsKey(instanceId)));
    values.forEach((value, index) => {
      const instanceId = instanceIds[index];
      if (value === null || instanceId === undefined) return;
      try {
        found.set(instanceId, JSON.parse(value) as PublishedStats);
      } catch {
        // A record this version cannot read counts as none.
      }
    });
    return found;
  }

  async countUsers(sketches: readonly { instanceId: string; generation: number }[]): Promise<number | null> {
    if (sketches.length === 0) return null;
    const keys = sketches.map(({ instanceId, generation }) => this.sketchKey(instanceId, generation));
    return this.redis.pfcount(...(keys as [string, ...string[]]));
  }

  private statsKey(instanceId: string): string {
    return `${this.keyPrefix}{admin}:instance:${instanceId}:stats`;
  }

  private sketchKey(instanceId: string, generation: number): string {
    return `${this.keyPrefix}{admin}:instance:${instanceId}:users:${generation}`;
  }
}
