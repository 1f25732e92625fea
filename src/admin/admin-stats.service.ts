import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { errorMessage, FailureLog, guarded } from '../common/failure-log.js';
import { AppConfig } from '../config/app-config.js';
import { ConnectionLifecycle } from '../connections/connection-lifecycle.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import { RealtimeCounters } from '../realtime/realtime-counters.js';
import type { AdminStats, GlobalStats, InstanceStats, ServerStats, TrafficRates } from './admin.events.js';
import { InstanceStatsStore, type PublishedStats } from './instance-stats.store.js';

/** The event-loop delay is sampled this often; the lag reported is the mean delay beyond it. */
const LOOP_RESOLUTION_MS = 20;
/** Each instance starts a new sketch of its users this often (users who left drop out then). */
const SKETCH_GENERATION_MS = 60_000;

const NO_RATES: TrafficRates = {
  eventsInPerS: 0,
  eventsOutPerS: 0,
  handshakesPerS: 0,
  refusedHandshakesPerS: 0,
};

interface CounterReading {
  at: number;
  eventsIn: number;
  eventsOut: number;
  handshakesAccepted: number;
  handshakesRefused: number;
}

/**
 * The cluster's stats for admins (docs/protocol.md, Admin). Each instance publishes its own
 * counters on a heartbeat (the registry's period, `PRESENCE_TTL_MS / 3`): connections, users and
 * endpoints per namespace (kept by the registry as connections come and go), process figures,
 * and its traffic rates (the `RealtimeCounters` read against the previous beat). Building the
 * stats reads the live instances and their records: O(instances), never a scan of connections.
 * An instance that stops beating leaves the live instances within `PRESENCE_TTL_MS`.
 */
@Injectable()
export class AdminStatsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly failures = new FailureLog(AdminStatsService.name);
  private readonly beatMs: number;
  private readonly loopDelay: IntervalHistogram;
  private timer?: NodeJS.Timeout;
  private stopListening?: () => void;
  private lastReading: CounterReading;
  private rates: TrafficRates = NO_RATES;
  private eventLoopLagMs = 0;
  /** Users who arrived on this instance since the last beat, for its sketch. */
  private arrivals = new Set<string>();
  private generation = 0;
  private generationStartedAt = 0;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly lifecycle: ConnectionLifecycle,
    private readonly counters: RealtimeCounters,
    private readonly store: InstanceStatsStore,
    config: AppConfig,
  ) {
    this.beatMs = Math.max(250, Math.floor(config.presence.ttlMs / 3));
    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.lastReading = this.readCounters();
  }

  onApplicationBootstrap(): void {
    this.loopDelay.enable();
    this.stopListening = this.lifecycle.on('opened', (connection) =>
      this.arrivals.add(connection.identity.userId),
    );
    const beat = guarded('publish the admin stats', () => this.beat());
    beat();
    this.timer = setInterval(beat, this.beatMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.stopListening?.();
    this.loopDelay.disable();
  }

  /** The cluster's stats now: this instance read live, the others as they last published. */
  async current(): Promise<AdminStats> {
    const here = this.snapshot();
    let records = new Map<string, PublishedStats>([[here.serverId, here]]);
    let instanceIds = [here.serverId];
    try {
      const live = await this.registry.liveInstanceIds();
      instanceIds = [...new Set([here.serverId, ...live])].sort();
      const others = await this.store.read(instanceIds.filter((id) => id !== here.serverId));
      records = new Map([...others, [here.serverId, here]]);
    } catch (error) {
      // Redis is out of reach: this instance is all that can be seen.
      this.failures.warn(
        `Reading the other instances' stats failed; showing this one alone: ${errorMessage(error)}`,
      );
    }
    const servers = instanceIds.map((instanceId) => records.get(instanceId) ?? unpublished(instanceId));
    return {
      server: serverPart(here),
      global: await this.globalOf(servers, records),
      servers: servers.map(instancePart),
      rates: sumRates(servers.map((server) => server.rates)),
    };
  }

  /** Sums the instances; the distinct users from their sketches when there are several. */
  private async globalOf(
    servers: readonly InstanceStats[],
    records: ReadonlyMap<string, PublishedStats>,
  ): Promise<GlobalStats> {
    const byNamespace: Record<string, number> = {};
    let totalConnections = 0;
    let usersSum = 0;
    let usersMax = 0;
    for (const server of servers) {
      totalConnections += server.connections;
      usersSum += server.users;
      usersMax = Math.max(usersMax, server.users);
      for (const [namespace, count] of Object.entries(server.byNamespace)) {
        byNamespace[namespace] = (byNamespace[namespace] ?? 0) + count;
      }
    }
    let totalUsers = usersSum;
    if (servers.length > 1) {
      const sketches = [...records.values()].map((record) => ({
        instanceId: record.serverId,
        generation: record.usersGeneration,
      }));
      try {
        const estimate = await this.store.countUsers(sketches);
        // A sketch still holds users who left during its generation, and misses those who came
        // since the last beat: the instances' own exact counts bound the estimate both ways.
        if (estimate !== null) totalUsers = Math.min(usersSum, Math.max(usersMax, estimate));
      } catch (error) {
        this.failures.warn(
          `Counting the distinct users failed; summing the instances': ${errorMessage(error)}`,
        );
      }
    }
    return { totalServers: servers.length, totalConnections, totalUsers, byNamespace };
  }

  /** One heartbeat: the rates since the last one, then this instance's record and sketch. */
  private async beat(): Promise<void> {
    const reading = this.readCounters();
    const elapsedS = (reading.at - this.lastReading.at) / 1000;
    if (elapsedS > 0) {
      const rate = (now: number, before: number) => round(Math.max(0, now - before) / elapsedS);
      this.rates = {
        eventsInPerS: rate(reading.eventsIn, this.lastReading.eventsIn),
        eventsOutPerS: rate(reading.eventsOut, this.lastReading.eventsOut),
        handshakesPerS: rate(reading.handshakesAccepted, this.lastReading.handshakesAccepted),
        refusedHandshakesPerS: rate(reading.handshakesRefused, this.lastReading.handshakesRefused),
      };
    }
    this.lastReading = reading;
    const meanNs = this.loopDelay.mean;
    this.eventLoopLagMs = Number.isFinite(meanNs) ? round(Math.max(0, meanNs / 1e6 - LOOP_RESOLUTION_MS)) : 0;
    this.loopDelay.reset();

    let users: readonly string[];
    const sketchAgeMs = reading.at - this.generationStartedAt;
    if (this.generationStartedAt === 0 || sketchAgeMs < 0 || sketchAgeMs >= SKETCH_GENERATION_MS) {
      // A new sketch holds exactly the users here now; later arrivals are added beat by beat.
      this.generation = reading.at;
      this.generationStartedAt = reading.at;
      users = this.registry.localUserIds();
    } else {
      users = [...this.arrivals];
    }
    this.arrivals = new Set();
    try {
      await this.store.publish(this.snapshot(), { generation: this.generation, users });
    } catch (error) {
      // The next generation starts over with every user here, whatever this beat lost.
      this.generationStartedAt = 0;
      this.failures.warn(`Could not publish this instance's admin stats: ${errorMessage(error)}`);
    }
  }

  private snapshot(): PublishedStats {
    const memory = process.memoryUsage();
    return {
      serverId: this.registry.serverId,
      connections: this.registry.localConnectionCount,
      users: this.registry.localUserCount,
      uptimeS: Math.round(process.uptime()),
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopLagMs: this.eventLoopLagMs,
      byNamespace: this.registry.localEndpointCounts(),
      rates: this.rates,
      updatedAt: new Date().toISOString(),
      usersGeneration: this.generation,
    };
  }

  private readCounters(): CounterReading {
    const { eventsIn, eventsOut, handshakesAccepted, handshakesRefused } = this.counters;
    // The wall clock: a step back only skips one beat's rates (elapsed time must be positive).
    return { at: Date.now(), eventsIn, eventsOut, handshakesAccepted, handshakesRefused };
  }
}

/** A live instance that has not published yet (it just started). */
function unpublished(serverId: string): InstanceStats {
  return {
    serverId,
    connections: 0,
    users: 0,
    uptimeS: 0,
    rssBytes: 0,
    heapUsedBytes: 0,
    eventLoopLagMs: 0,
    byNamespace: {},
    rates: NO_RATES,
    updatedAt: null,
  };
}

function serverPart(stats: InstanceStats): ServerStats {
  const { serverId, connections, uptimeS, rssBytes, heapUsedBytes, eventLoopLagMs } = stats;
  return { serverId, connections, uptimeS, rssBytes, heapUsedBytes, eventLoopLagMs };
}

/** What a record shows admins (the sketch's generation stays internal). */
function instancePart(stats: InstanceStats): InstanceStats {
  const { serverId, connections, users, uptimeS, rssBytes, heapUsedBytes, eventLoopLagMs } = stats;
  const { byNamespace, rates, updatedAt } = stats;
  return {
    serverId,
    connections,
    users,
    uptimeS,
    rssBytes,
    heapUsedBytes,
    eventLoopLagMs,
    byNamespace,
    rates,
    updatedAt,
  };
}

function sumRates(all: readonly TrafficRates[]): TrafficRates {
  const total = { ...NO_RATES };
  for (const rates of all) {
    total.eventsInPerS += rates.eventsInPerS;
    total.eventsOutPerS += rates.eventsOutPerS;
    total.handshakesPerS += rates.handshakesPerS;
    total.refusedHandshakesPerS += rates.refusedHandshakesPerS;
  }
  return {
    eventsInPerS: round(total.eventsInPerS),
    eventsOutPerS: round(total.eventsOutPerS),
    handshakesPerS: round(total.handshakesPerS),
    refusedHandshakesPerS: round(total.refusedHandshakesPerS),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
