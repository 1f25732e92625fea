import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { BenchPlan } from '../plan.js';
import { SUBSCRIPTIONS_PER_OBSERVER } from '../plan.js';
import type { PresenceCounters, ProcessSample } from '../targets/control.js';
import { connectClients, HANDSHAKE_TIMEOUT_MS, type TargetWire } from './connect.js';
import type { Fleet } from './fleet.js';
import type { LatencySummary } from './histogram.js';
import {
  noPresenceEvents,
  PRESENCE_EVENTS,
  PresenceObserver,
  type PresenceEventCounts,
} from './presence-observer.js';
import type { ResourceMeter, ResourceUsage } from './resources.js';

/**
 * How long past the grace period the wave is watched: the server looks at leaving users once a
 * second at most (`PresenceService`), so a user wrongly taken offline would be told within two
 * ticks of the grace's end; the rest is a margin for the event to cross the loopback.
 */
const WATCH_PAST_GRACE_MS = 2_500;
/** How often the server's counters are read while waiting for it to see the drops. */
const POLL_MS = 20;

export interface ReconnectWaveResult {
  /** Connected users of the wave, each with one connection on `/chat`. */
  users: number;
  /** Users that dropped (their only connection terminated) and connected again. */
  dropped: number;
  returned: number;
  /** `PRESENCE_GRACE_MS` as the target read it. */
  graceMs: number;
  /** Connections on `/presence` following every user of the wave, and how many users they followed. */
  observers: number;
  followed: number;
  /** Of the followed users, those the `presence:subscribe` acks said were online before the wave. */
  onlineBefore: number;
  /** From the drop until the server had counted every dropped user's last connection gone. */
  serverSawDropsMs: number;
  /** From the drop to the last reconnect's CONNECT ack: no user was away longer. */
  maxAwayMs: number;
  /** Every user was back before the grace period could end. */
  withinGrace: boolean;
  /** Reconnect handshakes, from the TCP connect to the namespace CONNECT ack. */
  handshake: LatencySummary;
  /** The wave was watched for this long from the drop: the grace period and 2.5 s more. */
  watchedMs: number;
  /** Presence events the `/presence` observers received during the watch, by event. */
  observed: PresenceEventCounts;
  /** Presence events the wave's lightweight clients received on `/chat` (as chat co-members). */
  coMemberDeliveries: number;
  /** Changes the server told during the watch (`PresenceService.changes`), by event. */
  serverChanges: Record<string, number>;
  /** Whose they were (`event userId`), the latest fifty at most. */
  serverChangesOf: string[];
  /** Users the server counted coming back (`ConnectionLifecycle` userConnected). */
  serverCountedReturns: number;
  /** Server and load CPU from the drop until every user was back. */
  resources: ResourceUsage;
  /** Server CPU time over the whole watch, the end of the grace period included. */
  watchServerCpuMs: number;
  watchServerCpuPct: number;
}

/** Presence events of every kind a wave produced, as observed and as counted by the server. */
export function waveEvents(wave: ReconnectWaveResult): { observed: number; server: number } {
  return {
    observed: PRESENCE_EVENTS.reduce((sum, event) => sum + wave.observed[event], 0) + wave.coMemberDeliveries,
    server: Object.values(wave.serverChanges).reduce((sum, count) => sum + count, 0),
  };
}

/**
 * The reconnect wave of the presence issue: every user of the wave is followed by observers on
 * `/presence` (at most 1000 users per connection, 500 ids per call); then `dropped` of them lose
 * their connection at once (terminated, as by a network switch or a restarting proxy). Once the
 * server has counted all of them gone, they connect again, `concurrency` handshakes in flight,
 * well within the grace period. Everything any observer (and any chat co-member on `/chat`)
 * receives until the grace period has passed and the server has looked at leaving users twice
 * is counted, and so is what the server itself told.
 */
export async function runReconnectWave(
  plan: BenchPlan,
  fleet: Fleet,
  wire: TargetWire,
  sizes: { concurrency: number; perAddress: number },
  sample: () => Promise<ProcessSample>,
  startMeter: () => Promise<ResourceMeter>,
  tokenOf: (userId: string) => string,
): Promise<ReconnectWaveResult> {
  const waveUsers = plan.waveClients.map((client) => plan.clientUser(client));
  const dropped = plan.droppedClients;
  const first = await presenceOf(sample);
  const observers: PresenceObserver[] = [];
  try {
    let onlineBefore = 0;
    for (let observer = 0; observer < plan.waveObservers; observer += 1) {
      const connected = await PresenceObserver.connect(
        wire.baseUrl,
        { token: tokenOf(plan.observerUser(observer)) },
        HANDSHAKE_TIMEOUT_MS,
      );
      observers.push(connected);
      const followed = waveUsers.slice(
        observer * SUBSCRIPTIONS_PER_OBSERVER,
        (observer + 1) * SUBSCRIPTIONS_PER_OBSERVER,
      );
      const states = await connected.subscribe(followed, HANDSHAKE_TIMEOUT_MS);
      onlineBefore += states.filter((state) => state.online).length;
    }
    if (first.graceMs <= WATCH_PAST_GRACE_MS) {
      process.stderr.write(`  note: PRESENCE_GRACE_MS is only ${first.graceMs} ms\n`);
    }

    const before = await afterArrivalsOf(
      sample,
      observers.map((_, observer) => plan.observerUser(observer)),
    );
    const observedBefore = observers.map((observer) => ({ ...observer.received }));
    const coMembersBefore = fleet.presenceDeliveries;
    const watchMeter = await startMeter();
    const activeMeter = await startMeter();
    const droppedAt = performance.now();
    for (const client of dropped) fleet.clients[client]?.close();

    // The server must have seen every user go, or a quick return would prove nothing.
    const deadline = droppedAt + before.graceMs / 2;
    let seen = before;
    while (seen.usersDisconnected - before.usersDisconnected < dropped.length) {
      if (performance.now() > deadline) {
        throw new Error(
          `the server counted ${seen.usersDisconnected - before.usersDisconnected} of ${dropped.length} ` +
            `dropped users gone within half the grace period`,
        );
      }
      await sleep(POLL_MS);
      seen = await presenceOf(sample);
    }
    const serverSawDropsMs = performance.now() - droppedAt;

    let returned = 0;
    const { handshakes, failures, errors } = await connectClients(
      fleet,
      wire,
      dropped,
      sizes,
      (index, client) => {
        fleet.clients[index] = client;
        returned += 1;
      },
    );
    const maxAwayMs = performance.now() - droppedAt;
    const resources = await activeMeter.stop();
    if (failures > 0) {
      throw new Error(`${failures} of ${dropped.length} reconnects failed: ${errors.join('; ')}`);
    }

    const watchedMs = before.graceMs + WATCH_PAST_GRACE_MS;
    await sleep(Math.max(0, droppedAt + watchedMs - performance.now()));
    const watch = await watchMeter.stop();
    const after = await presenceOf(sample);

    const observed = noPresenceEvents();
    observers.forEach((observer, index) => {
      for (const event of PRESENCE_EVENTS) {
        observed[event] += observer.received[event] - (observedBefore[index]?.[event] ?? 0);
      }
    });
    const toldBefore = Object.values(before.changes).reduce((sum, count) => sum + count, 0);
    const serverChangesOf = after.recent
      .filter((change) => change.number > toldBefore)
      .map((change) => `${change.event} ${change.userId}`);
    const serverChanges: Record<string, number> = {};
    for (const [event, count] of Object.entries(after.changes)) {
      const told = count - (before.changes[event] ?? 0);
      if (told > 0) serverChanges[event] = told;
    }
    return {
      users: waveUsers.length,
      dropped: dropped.length,
      returned,
      graceMs: before.graceMs,
      observers: observers.length,
      followed: waveUsers.length,
      onlineBefore,
      serverSawDropsMs: round(serverSawDropsMs),
      maxAwayMs: round(maxAwayMs),
      withinGrace: maxAwayMs < before.graceMs,
      handshake: handshakes.summary(),
      watchedMs,
      observed,
      coMemberDeliveries: fleet.presenceDeliveries - coMembersBefore,
      serverChanges,
      serverChangesOf,
      serverCountedReturns: after.usersConnected - before.usersConnected,
      resources,
      watchServerCpuMs: round(watch.serverCpuMicros / 1000),
      watchServerCpuPct: watch.serverCpuPct,
    };
  } finally {
    for (const observer of observers) observer.close();
  }
}

async function presenceOf(sample: () => Promise<ProcessSample>): Promise<PresenceCounters> {
  const { presence } = await sample();
  if (!presence) throw new Error('the target reports no presence counters');
  return presence;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/**
 * The server's presence counters once it has told the arrivals of `userIds`: presence tells
 * changes in batches (`PRESENCE_BATCH_MS`), so the observers' own arrivals, the last before the
 * wave, may still be on their way when it starts. Batches go in order: all earlier ones are told.
 */
async function afterArrivalsOf(
  sample: () => Promise<ProcessSample>,
  userIds: string[],
): Promise<PresenceCounters> {
  const deadline = performance.now() + HANDSHAKE_TIMEOUT_MS;
  for (;;) {
    const counters = await presenceOf(sample);
    const told = new Set(
      counters.recent.filter((change) => change.event === 'user:online').map((change) => change.userId),
    );
    if (userIds.every((userId) => told.has(userId))) return counters;
    if (performance.now() > deadline) {
      throw new Error(
        `the server did not tell the arrival of ${userIds.filter((userId) => !told.has(userId)).join(', ')}`,
      );
    }
    await sleep(POLL_MS);
  }
}
