import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS_WEBSOCKET_PATH, NotificationsLimits } from '../src/notifications/notifications.events.js';
import type { TargetDefinition } from './catalog.js';
import {
  EVENTS_PATH,
  FANOUT_EVENT_TYPE,
  NOTIFICATIONS_PATH,
  PUBLISH_EVENT,
  SUBSCRIBER_PATTERNS,
} from './event-wire.js';
import { HANDSHAKE_TIMEOUT_MS, openAll, sourceAddress } from './load/connect.js';
import { EventFleet, runEventStep, type Publish } from './load/event-step.js';
import { EventSubscriber, type EventDoor } from './load/event-subscriber.js';
import type { Fleet } from './load/fleet.js';
import { Histogram } from './load/histogram.js';
import type { ResourceMeter } from './load/resources.js';
import { measureStep, sweep, type SweepPlan } from './load/sweep.js';
import type { RunContext } from './measure.js';
import { inPool } from './pool.js';
import { describeStep } from './report.js';
import type { NotifyRun, TargetResult } from './results.js';
import type { TargetProcess } from './target-process.js';

/** Requests in flight while storing notifications: one, then a few. */
const NOTIFY_CONCURRENCY = [1, 4];
const PUBLISHER_USER = 'bench-publisher';
const SERVICE_ROLES = ['service'];
const RELEASE_POLL_MS = 50;
const RELEASE_LIMIT_MS = 60_000;
/** The server looks at leaving users once a second at most: two ticks past the grace. */
const PRESENCE_TICKS_MS = 2_000;
const BASELINE_RELEASE_MS = 1_000;

/** Raw ws has no Socket.IO namespace to subscribe on; the other targets serve `/notifications`. */
export function servesEvents(definition: TargetDefinition): boolean {
  return definition.protocol === 'socket-io';
}

export type PhaseRunner = <T>(name: string, run: () => Promise<T>) => Promise<T>;

/**
 * The events phase: `eventSubscribers` connections, each its own user with one pattern matching
 * `FANOUT_EVENT_TYPE`, take broadcast events published over REST at stepped rates. Switchboard's
 * subscribers alternate between `/notifications` and `/ws/events`; bare Socket.IO's all join one
 * room of its `/notifications`, which the publish broadcasts to. Then, on Switchboard, notifications
 * to `NotificationsLimits.maxUserIds` users are stored over REST, one request at a time and a few.
 */
export async function measureEvents(
  definition: TargetDefinition,
  context: RunContext,
  target: TargetProcess,
  startMeter: () => Promise<ResourceMeter>,
  phase: PhaseRunner,
  result: TargetResult,
): Promise<void> {
  const { options, tokens } = context;
  const baseUrl = `http://127.0.0.1:${target.port}`;
  const serviceToken = definition.switchboard ? tokens.sign(PUBLISHER_USER, SERVICE_ROLES) : null;
  const fleet = new EventFleet();
  try {
    fleet.subscribers = await phase('events connect', () =>
      connectSubscribers(definition, context, baseUrl, fleet),
    );
    const socketIo = doorsOf(definition, fleet.subscribers.length).filter(
      (door) => door === 'socket-io',
    ).length;
    process.stderr.write(
      `  events: ${fleet.subscribers.length} subscribers, ${socketIo} of them on Socket.IO\n`,
    );
    const publish = publisher(baseUrl, serviceToken);
    let step = 0;
    const plan: SweepPlan = {
      unit: 'deliveries/s',
      event: PUBLISH_EVENT,
      rates: options.fanoutSteps,
      refineRatio: options.refineRatio,
      // REST publishing has no per-socket event limit to stay under.
      senders: Number.POSITIVE_INFINITY,
      messagesPerS: (rate) => rate / fleet.subscribers.length,
      measure: (rate, durationMs = options.stepMs) => {
        step += 1;
        return runEventStep(
          {
            step,
            eventsPerS: rate / fleet.subscribers.length,
            durationMs,
            graceMs: options.graceMs,
            contentLength: options.contentLength,
          },
          fleet,
          publish,
          startMeter,
        );
      },
      arrivedRatio: (measured) => measured.deliveredRatio,
      report: (measured) => process.stderr.write(`${describeStep('events', 'deliveries/s', measured)}\n`),
    };
    const swept = await phase('events fan-out', () => sweep(plan));
    if (definition.name === 'socket.io' && swept.sustainable)
      context.reference.set('events', swept.sustainable.rate);
    const reference = context.reference.get('events');
    if (reference !== undefined) {
      swept.atHalfReference = await phase('events fan-out at half socket.io', () =>
        measureStep(plan, reference / 2, options.referenceStepMs),
      );
    }
    result.fanout.push({
      shape: 'events',
      layout: layoutOf(definition, fleet.subscribers.length, socketIo),
      sweep: swept,
    });

    if (serviceToken !== null) {
      const users = Array.from({ length: NotificationsLimits.maxUserIds }, (_, user) => subscriberUser(user));
      const runs: NotifyRun[] = [];
      for (const concurrency of NOTIFY_CONCURRENCY) {
        const run = await phase(`notify x${concurrency}`, () =>
          storeNotifications(baseUrl, serviceToken, users, options.notifyRequests, concurrency, startMeter),
        );
        process.stderr.write(
          `  notify ${users.length} users, ${concurrency} in flight: ${run.storedPerS} notifications/s, ` +
            `request p50 ${run.latency.p50Ms} ms p99 ${run.latency.p99Ms} ms, server cpu ${run.serverCpuPct}%\n`,
        );
        runs.push(run);
      }
      result.notify = { users: users.length, runs };
    }
  } finally {
    result.unexpectedCloses += fleet.unexpectedCloses;
    result.strayDeliveries += fleet.strayDeliveries;
    fleet.close();
  }
}

/**
 * Closes the chat fleet before the subscribers take as many descriptors, and waits until the
 * server is done with it: on Switchboard, until every user's presence grace period has run out,
 * so that their going offline does not fall into a step.
 */
export async function releaseFleet(fleet: Fleet, target: TargetProcess): Promise<void> {
  fleet.close();
  const deadline = performance.now() + RELEASE_LIMIT_MS;
  let presence = (await target.sample(false)).presence;
  while (presence && presence.usersConnected > presence.usersDisconnected && performance.now() < deadline) {
    await sleep(RELEASE_POLL_MS);
    presence = (await target.sample(false)).presence;
  }
  await sleep(presence ? presence.graceMs + PRESENCE_TICKS_MS : BASELINE_RELEASE_MS);
}

async function connectSubscribers(
  definition: TargetDefinition,
  context: RunContext,
  baseUrl: string,
  fleet: EventFleet,
): Promise<EventSubscriber[]> {
  const { options, tokens } = context;
  const count = options.eventSubscribers;
  const doors = doorsOf(definition, count);
  const wsUrl = baseUrl.replace('http', 'ws');
  const subscribers = new Array<EventSubscriber | undefined>(count);
  const { failures, errors } = await openAll(
    doors.map((door, index) => ({ door, index })),
    options.handshakeConcurrency,
    ({ door, index }) => {
      const token = definition.switchboard ? tokens.sign(subscriberUser(index)) : null;
      return EventSubscriber.connect({
        url:
          door === 'raw'
            ? `${wsUrl}${EVENTS_WEBSOCKET_PATH}?token=${token ?? ''}`
            : `${wsUrl}/socket.io/?EIO=4&transport=websocket`,
        door,
        auth: token === null ? {} : { token },
        patterns: [SUBSCRIBER_PATTERNS[index % SUBSCRIBER_PATTERNS.length] ?? '*'],
        // Beyond the chat fleet's addresses, whose handshakes still count against the per-address rate.
        localAddress: sourceAddress(options.connections + index, options.connectionsPerAddress),
        listener: fleet,
        timeoutMs: HANDSHAKE_TIMEOUT_MS,
      });
    },
    ({ index }, subscriber) => (subscribers[index] = subscriber),
  );
  const connected = subscribers.filter(
    (subscriber): subscriber is EventSubscriber => subscriber !== undefined,
  );
  if (failures > 0) {
    for (const subscriber of connected) subscriber.close();
    throw new Error(`${failures} of ${count} subscribers failed: ${errors.join('; ')}`);
  }
  return connected;
}

/** Switchboard's subscribers alternate between its two doors; bare Socket.IO has one. */
function doorsOf(definition: TargetDefinition, count: number): EventDoor[] {
  return Array.from({ length: count }, (_, index) =>
    definition.switchboard && index % 2 === 1 ? 'raw' : 'socket-io',
  );
}

function layoutOf(definition: TargetDefinition, subscribers: number, socketIo: number): string {
  return definition.switchboard
    ? `${subscribers} subscribers: ${socketIo} on /notifications, ${subscribers - socketIo} on ${EVENTS_WEBSOCKET_PATH}`
    : `${subscribers} sockets in one room of /notifications`;
}

function subscriberUser(index: number): string {
  return `bench-subscriber-${index}`;
}

/**
 * One keep-alive connection, requests queued on it in order, as one service publishing: the
 * server receives the events in their order, so a subscriber's gap or reordering is the server's.
 */
function publisher(baseUrl: string, token: string | null): Publish {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const headers = {
    'content-type': 'application/json',
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
  };
  return (content) =>
    new Promise((resolve, reject) => {
      const request = httpRequest(
        `${baseUrl}${EVENTS_PATH}`,
        { method: 'POST', agent, headers },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.end(JSON.stringify({ type: FANOUT_EVENT_TYPE, broadcast: true, data: { content } }));
    });
}

/** `requests` notifies to every one of `users`, `concurrency` in flight; any refusal fails the phase. */
async function storeNotifications(
  baseUrl: string,
  token: string,
  users: string[],
  requests: number,
  concurrency: number,
  startMeter: () => Promise<ResourceMeter>,
): Promise<NotifyRun> {
  const latency = new Histogram();
  const body = JSON.stringify({ userIds: users, title: 'Bench', body: 'A notification of the benchmark' });
  let stored = 0;
  const meter = await startMeter();
  const startedAt = performance.now();
  await inPool(
    Array.from({ length: requests }, (_, request) => request),
    concurrency,
    async () => {
      const sentAt = performance.now();
      const response = await fetch(`${baseUrl}${NOTIFICATIONS_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      const text = await response.text();
      latency.record(performance.now() - sentAt);
      if (!response.ok) throw new Error(`POST ${NOTIFICATIONS_PATH} answered ${response.status}: ${text}`);
      stored += (JSON.parse(text) as { data: { stored: number } }).data.stored;
    },
  );
  const seconds = (performance.now() - startedAt) / 1000;
  const resources = await meter.stop();
  return {
    concurrency,
    requests,
    stored,
    seconds: Math.round(seconds * 1000) / 1000,
    storedPerS: Math.round(stored / seconds),
    latency: latency.summary(),
    ...resources,
  };
}
