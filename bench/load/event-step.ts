import { performance } from 'node:perf_hooks';
import { readStamp, stampContent } from '../wire.js';
import type { EventListener, EventSubscriber } from './event-subscriber.js';
import { StepBacklog } from './fleet.js';
import { Histogram } from './histogram.js';
import type { ResourceMeter } from './resources.js';
import {
  DRAIN_LIMIT_MS,
  drainStep,
  LEAD_MS,
  ratio,
  sendOnSchedule,
  SETTLE_QUIET_MS,
  type StepResult,
} from './step.js';

/** Sends one event whose `data.content` is `content`; resolves with the HTTP status. */
export type Publish = (content: string) => Promise<number>;

export interface EventStepSpec {
  /** Unique within a target's run; carried in every event's stamp. */
  step: number;
  eventsPerS: number;
  durationMs: number;
  graceMs: number;
  contentLength: number;
}

/** The one publisher's number in the stamps: events have no sending client. */
const PUBLISHER = 0;

/** Deliveries of one step, by the stamp each event carries. */
class EventRecorder {
  readonly latency = new Histogram();
  inTime = 0;
  late = 0;
  gaps = 0;
  outOfOrder = 0;

  constructor(
    readonly step: number,
    readonly deadline: number,
    readonly onProgress: () => void,
  ) {}

  get received(): number {
    return this.inTime + this.late;
  }
}

/** Every subscriber of one target, and where their deliveries go. */
export class EventFleet implements EventListener {
  subscribers: EventSubscriber[] = [];
  unexpectedCloses = 0;
  /** Deliveries of no running step: left over from a step that did not drain. */
  strayDeliveries = 0;
  private recorder: EventRecorder | null = null;
  private readonly backlog = new StepBacklog();

  onEvent(subscriber: EventSubscriber, frame: Buffer, contentAt: number): void {
    const now = performance.now();
    this.backlog.delivered();
    const stamp = readStamp(frame, contentAt);
    const recorder = this.recorder;
    if (!stamp || recorder?.step !== stamp.step) {
      this.strayDeliveries += 1;
      return;
    }
    recorder.latency.record(now - stamp.intendedAtMicros / 1000);
    if (now <= recorder.deadline) recorder.inTime += 1;
    else recorder.late += 1;
    const expected = subscriber.lastSequence + 1;
    if (stamp.sequence < expected) {
      recorder.outOfOrder += 1;
    } else {
      if (stamp.sequence > expected) recorder.gaps += 1;
      subscriber.lastSequence = stamp.sequence;
    }
    recorder.onProgress();
  }

  onUnexpectedClose(): void {
    this.unexpectedCloses += 1;
  }

  record(recorder: EventRecorder): void {
    this.recorder = recorder;
    for (const subscriber of this.subscribers) subscriber.lastSequence = 0;
  }

  stopRecording(drained: boolean): void {
    this.recorder = null;
    this.backlog.stepEnded(drained);
  }

  /** See `StepBacklog.settle`. */
  settle(quietMs: number, limitMs: number): Promise<void> {
    return this.backlog.settle(quietMs, limitMs);
  }

  close(): void {
    for (const subscriber of this.subscribers) subscriber.close();
    this.subscribers = [];
  }
}

/**
 * One open-loop step of broadcast events, as `runStep` does for chat messages: event `k` is due
 * at `start + k / rate` and stamped with that time whether or not it could be published then.
 * Every subscriber is due every event; the publish answer stands for the ack.
 */
export async function runEventStep(
  spec: EventStepSpec,
  fleet: EventFleet,
  publish: Publish,
  startMeter: () => Promise<ResourceMeter>,
): Promise<StepResult> {
  const subscribers = fleet.subscribers.length;
  const intervalMs = 1000 / spec.eventsPerS;
  const total = Math.max(1, Math.floor(spec.durationMs / intervalMs));
  const answerLatency = new Histogram();
  const failures: Record<string, number> = {};
  let answers = 0;
  let answeredInTime = 0;
  let refused = 0;
  let maxSendLagMs = 0;
  let lastProgressAt = performance.now();
  let allSent = false;
  let finish: (drained: boolean) => void = () => undefined;
  const finished = new Promise<boolean>((resolve) => (finish = resolve));

  await fleet.settle(SETTLE_QUIET_MS, DRAIN_LIMIT_MS);
  const meter = await startMeter();
  const start = performance.now() + LEAD_MS;
  const progress = () => {
    lastProgressAt = performance.now();
    if (allSent && answers === total && recorder.received >= (total - refused) * subscribers) finish(true);
  };
  const recorder = new EventRecorder(spec.step, start + spec.durationMs + spec.graceMs, progress);
  fleet.record(recorder);

  const send = (index: number, now: number) => {
    const intendedAt = start + index * intervalMs;
    maxSendLagMs = Math.max(maxSendLagMs, now - intendedAt);
    const content = stampContent(
      { step: spec.step, sender: PUBLISHER, sequence: index + 1, intendedAtMicros: intendedAt * 1000 },
      spec.contentLength,
    );
    const failed = (reason: string) => {
      failures[reason] = (failures[reason] ?? 0) + 1;
      refused += 1;
    };
    publish(content)
      .then(
        (status) => {
          const answeredAt = performance.now();
          answerLatency.record(answeredAt - intendedAt);
          if (status < 200 || status > 299) failed(`HTTP ${status}`);
          else if (answeredAt <= recorder.deadline) answeredInTime += 1;
        },
        () => failed('NETWORK'),
      )
      .finally(() => {
        answers += 1;
        progress();
      });
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

  const seconds = spec.durationMs / 1000;
  const expectedDeliveries = total * subscribers;
  return {
    messagesPerS: spec.eventsPerS,
    messages: total,
    expectedDeliveries,
    deliveredInTime: recorder.inTime,
    lateDeliveries: recorder.late,
    deliveredPerS: Math.round(recorder.inTime / seconds),
    deliveredRatio: ratio(recorder.inTime, expectedDeliveries),
    delivery: recorder.latency.summary(),
    gaps: recorder.gaps,
    outOfOrder: recorder.outOfOrder,
    ackedInTime: answeredInTime,
    ackedPerS: Math.round(answeredInTime / seconds),
    ackedRatio: ratio(answeredInTime, total),
    ack: answerLatency.summary(),
    ackFailures: failures,
    ...resources,
    maxSendLagMs: Math.round(maxSendLagMs * 10) / 10,
    drained,
    probesAgree: null,
  };
}
