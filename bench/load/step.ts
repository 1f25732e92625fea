import { performance } from 'node:perf_hooks';
import { stampContent } from '../wire.js';
import { DeliveryRecorder, type Fleet } from './fleet.js';
import { Histogram, type LatencySummary } from './histogram.js';
import type { LightClient } from './light-client.js';
import type { Probe } from './probe.js';
import type { ResourceMeter, ResourceUsage } from './resources.js';

/** One room of a step: where its messages go and who sends them. */
export interface RoomTraffic {
  chatId: string;
  senders: LightClient[];
  /** Lightweight clients in the room, the senders included: each receives every message. */
  lightweightMembers: number;
  probes: Probe[];
}

export interface StepSpec {
  /** Unique within a target's run; carried in every message's stamp. */
  step: number;
  event: string;
  rooms: RoomTraffic[];
  messagesPerS: number;
  durationMs: number;
  graceMs: number;
  contentLength: number;
}

export interface StepResult extends ResourceUsage {
  messagesPerS: number;
  messages: number;
  /** Lightweight deliveries due; probes are checked apart. */
  expectedDeliveries: number;
  deliveredInTime: number;
  lateDeliveries: number;
  deliveredPerS: number;
  deliveredRatio: number;
  delivery: LatencySummary;
  /** Times a client saw a sender's sequence jump ahead. */
  gaps: number;
  outOfOrder: number;
  ackedInTime: number;
  ackedPerS: number;
  ackedRatio: number;
  ack: LatencySummary;
  /** Refused messages by error code. */
  ackFailures: Record<string, number>;
  /** How far behind its schedule the load sent a message at worst. */
  maxSendLagMs: number;
  /** Everything due arrived (late or not) before the drain gave up. */
  drained: boolean;
  /** Every probe received what the lightweight members of its room did; null without probes. */
  probesAgree: boolean | null;
}

const OK_ACK = Buffer.from('[{"ok":true');
const STALL_MS = 3_000;
export const DRAIN_LIMIT_MS = 60_000;
const WATCHDOG_MS = 100;
export const SETTLE_QUIET_MS = 500;
/** The first message is due this long after the step is set up, so it does not start late. */
export const LEAD_MS = 5;

/**
 * One open-loop step: message `k` is due at `start + k / rate` and stamped with that time
 * whether or not the load could send it then, so latency includes any queueing, on either
 * side. Messages go round-robin over the rooms and, within a room, over its senders.
 */
export async function runStep(
  spec: StepSpec,
  fleet: Fleet,
  startMeter: () => Promise<ResourceMeter>,
): Promise<StepResult> {
  const { rooms } = spec;
  const stride = Math.max(...rooms.map((room) => room.senders.length));
  const intervalMs = 1000 / spec.messagesPerS;
  const total = Math.max(1, Math.floor(spec.durationMs / intervalMs));
  /** The last sequence number sent by each sender. */
  const sequences = new Map<number, number>();
  /** Messages sent to each room, and how many of them were refused. */
  const tallies = rooms.map((room) => ({ room, sent: 0, refused: 0 }));
  const ackLatency = new Histogram();
  const ackFailures: Record<string, number> = {};
  let expectedDeliveries = 0;
  let refusedDeliveries = 0;
  let acks = 0;
  let ackedInTime = 0;
  let maxSendLagMs = 0;
  let lastProgressAt = performance.now();

  await fleet.settle(SETTLE_QUIET_MS, DRAIN_LIMIT_MS);
  const meter = await startMeter();
  const start = performance.now() + LEAD_MS;
  const recorder = new DeliveryRecorder(
    spec.step,
    start + spec.durationMs + spec.graceMs,
    stride,
    rooms.length,
  );
  fleet.record(recorder);

  let finish: (drained: boolean) => void = () => undefined;
  const finished = new Promise<boolean>((resolve) => (finish = resolve));
  let allSent = false;
  const probeDue = () =>
    tallies.every(({ room, sent, refused }) =>
      room.probes.every((probe) => probe.received(spec.step) >= sent - refused),
    );
  const progress = () => {
    lastProgressAt = performance.now();
    if (
      allSent &&
      acks === total &&
      recorder.received >= expectedDeliveries - refusedDeliveries &&
      probeDue()
    ) {
      finish(true);
    }
  };
  recorder.whenProgressing(progress);
  for (const room of rooms) for (const probe of room.probes) probe.onReceived = progress;

  const send = (index: number, now: number) => {
    const intendedAt = start + index * intervalMs;
    maxSendLagMs = Math.max(maxSendLagMs, now - intendedAt);
    const roomIndex = index % tallies.length;
    const tally = tallies[roomIndex];
    if (!tally) throw new Error(`No room ${roomIndex} among ${tallies.length}`);
    const { room } = tally;
    const senderIndex = Math.floor(index / tallies.length) % room.senders.length;
    const client = room.senders[senderIndex];
    if (!client) throw new Error(`No sender ${senderIndex} in chat ${room.chatId}`);
    const sender = roomIndex * stride + senderIndex;
    const sequence = (sequences.get(sender) ?? 0) + 1;
    sequences.set(sender, sequence);
    const content = stampContent(
      { step: spec.step, sender, sequence, intendedAtMicros: intendedAt * 1000 },
      spec.contentLength,
    );
    tally.sent += 1;
    expectedDeliveries += room.lightweightMembers;
    client.emit(
      spec.event,
      { chatId: room.chatId, content, clientId: `${spec.step}-${sender}-${sequence}` },
      (response) => {
        const receivedAt = performance.now();
        acks += 1;
        ackLatency.record(receivedAt - intendedAt);
        if (response.subarray(0, OK_ACK.length).equals(OK_ACK)) {
          if (receivedAt <= recorder.deadline) ackedInTime += 1;
        } else {
          const code = failureCode(response);
          ackFailures[code] = (ackFailures[code] ?? 0) + 1;
          tally.refused += 1;
          refusedDeliveries += room.lightweightMembers;
        }
        progress();
      },
    );
  };

  await sendOnSchedule(total, start, intervalMs, send);
  allSent = true;
  progress();
  const { drained, resources } = await drainStep(
    meter,
    recorder.deadline,
    finished,
    finish,
    () => lastProgressAt,
  );
  fleet.stopRecording(drained);
  for (const room of rooms) for (const probe of room.probes) probe.onReceived = () => undefined;

  const seconds = spec.durationMs / 1000;
  const broadcastTo = ({ sent, refused }: { sent: number; refused: number }) => sent - refused;
  const probed = rooms.some((room) => room.probes.length > 0);
  return {
    messagesPerS: spec.messagesPerS,
    messages: total,
    expectedDeliveries,
    deliveredInTime: recorder.inTime,
    lateDeliveries: recorder.late,
    deliveredPerS: Math.round(recorder.inTime / seconds),
    deliveredRatio: ratio(recorder.inTime, expectedDeliveries),
    delivery: recorder.summary(),
    gaps: recorder.gaps,
    outOfOrder: recorder.outOfOrder,
    ackedInTime,
    ackedPerS: Math.round(ackedInTime / seconds),
    ackedRatio: ratio(ackedInTime, total),
    ack: ackLatency.summary(),
    ackFailures,
    ...resources,
    maxSendLagMs: Math.round(maxSendLagMs * 10) / 10,
    drained,
    probesAgree:
      probed && drained
        ? tallies.every(
            (tally, index) =>
              recorder.byRoom[index] === broadcastTo(tally) * tally.room.lightweightMembers &&
              tally.room.probes.every((probe) => probe.received(spec.step) === broadcastTo(tally)),
          )
        : null,
  };
}

/** `part / whole` to four decimals; 1 when nothing was due. */
export function ratio(part: number, whole: number): number {
  return whole === 0 ? 1 : Math.round((part / whole) * 10_000) / 10_000;
}

/** The error code of a refusing ack (`[{ ok: false, error: { code } }]`). */
function failureCode(response: Buffer): string {
  try {
    const [answer] = JSON.parse(response.toString()) as [{ error?: { code?: unknown } }];
    return typeof answer.error?.code === 'string' ? answer.error.code : 'UNKNOWN';
  } catch {
    return 'UNPARSABLE';
  }
}

/** Calls `send(k, now)` for item `k` of `total` at `start + k × intervalMs`, late ones at once. */
export function sendOnSchedule(
  total: number,
  start: number,
  intervalMs: number,
  send: (index: number, now: number) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * intervalMs <= now) {
        send(next, now);
        next += 1;
      }
      if (next < total) setTimeout(tick, Math.max(0, start + next * intervalMs - now));
      else resolve();
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
}

/**
 * After a step's last send: waits until everything due arrived (`finished`), or gives up once
 * nothing progressed for a while past the deadline, or long past it. Resources are measured
 * until everything arrived, or until the deadline if that comes first.
 */
export async function drainStep(
  meter: ResourceMeter,
  deadline: number,
  finished: Promise<boolean>,
  finish: (drained: boolean) => void,
  lastProgressAt: () => number,
): Promise<{ drained: boolean; resources: ResourceUsage }> {
  let usage: Promise<ResourceUsage> | null = null;
  const stopMeter = () => (usage ??= meter.stop());
  const deadlineTimer = setTimeout(() => void stopMeter(), Math.max(0, deadline - performance.now()));
  const watchdog = setInterval(() => {
    const now = performance.now();
    const stalled = now > deadline && now - lastProgressAt() > STALL_MS;
    if (stalled || now > deadline + DRAIN_LIMIT_MS) finish(false);
  }, WATCHDOG_MS);
  const drained = await finished;
  clearInterval(watchdog);
  clearTimeout(deadlineTimer);
  return { drained, resources: await stopMeter() };
}
