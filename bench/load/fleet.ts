import { performance } from 'node:perf_hooks';
import { readStamp } from '../wire.js';
import { Histogram, type LatencySummary } from './histogram.js';
import type { DeliveryListener, LightClient } from './light-client.js';
import type { Probe } from './probe.js';

/** Delivery accounting of one step, fed by every client of the fleet. */
export class DeliveryRecorder {
  readonly latency = new Histogram();
  inTime = 0;
  late = 0;
  gaps = 0;
  outOfOrder = 0;
  readonly byRoom: number[];
  private onProgress: () => void = () => undefined;

  constructor(
    readonly step: number,
    /** `performance.now()` after which a delivery is late. */
    readonly deadline: number,
    private readonly sendersPerRoom: number,
    rooms: number,
  ) {
    this.byRoom = new Array<number>(rooms).fill(0);
  }

  get received(): number {
    return this.inTime + this.late;
  }

  whenProgressing(listener: () => void): void {
    this.onProgress = listener;
  }

  record(client: LightClient, sender: number, sequence: number, intendedAtMicros: number): void {
    const now = performance.now();
    this.latency.record(now - intendedAtMicros / 1000);
    if (now <= this.deadline) this.inTime += 1;
    else this.late += 1;
    const room = Math.floor(sender / this.sendersPerRoom);
    const roomDeliveries = this.byRoom[room];
    if (roomDeliveries !== undefined) this.byRoom[room] = roomDeliveries + 1;
    const expected = (client.lastSequence.get(sender) ?? 0) + 1;
    if (sequence < expected) {
      this.outOfOrder += 1;
    } else {
      if (sequence > expected) this.gaps += 1;
      client.lastSequence.set(sender, sequence);
    }
    this.onProgress();
  }

  summary(): LatencySummary {
    return this.latency.summary();
  }
}

/** Whether deliveries of a step that ended undrained may still be on their way. */
export class StepBacklog {
  private lastDeliveryAt = performance.now();
  private pending = false;

  delivered(): void {
    this.lastDeliveryAt = performance.now();
  }

  /** `drained`: everything the step was due had arrived. */
  stepEnded(drained: boolean): void {
    this.pending = !drained;
  }

  /**
   * After a step that ended with a backlog, resolves once no delivery has arrived for `quietMs`
   * (at most `limitMs`), so that it does not spill into the next step. Only the passing of time
   * can tell that nothing more is coming.
   */
  settle(quietMs: number, limitMs: number): Promise<void> {
    if (!this.pending) return Promise.resolve();
    this.pending = false;
    const startedAt = performance.now();
    return new Promise((resolve) => {
      const check = setInterval(() => {
        const now = performance.now();
        if (now - this.lastDeliveryAt >= quietMs || now - startedAt >= limitMs) {
          clearInterval(check);
          resolve();
        }
      }, quietMs / 10);
    });
  }
}

/** Every connection of the load process for one target, and where their deliveries go. */
export class Fleet implements DeliveryListener {
  clients: LightClient[] = [];
  probes: Probe[] = [];
  unexpectedCloses = 0;
  /** Deliveries of no running step: left over from a step that did not drain. */
  strayDeliveries = 0;
  /** Presence events (`user:online`, `user:offline`, `user:status`) the clients received on `/chat`. */
  presenceDeliveries = 0;
  private recorder: DeliveryRecorder | null = null;
  private readonly backlog = new StepBacklog();

  /** Sends deliveries to `recorder` from now on. */
  record(recorder: DeliveryRecorder): void {
    this.recorder = recorder;
    for (const client of this.clients) client.lastSequence.clear();
  }

  /** Ends a step's recording; `drained` tells whether everything due had arrived. */
  stopRecording(drained: boolean): void {
    this.recorder = null;
    this.backlog.stepEnded(drained);
  }

  onNewMessage(client: LightClient, frame: Buffer, contentAt: number): void {
    this.backlog.delivered();
    const stamp = readStamp(frame, contentAt);
    if (stamp && this.recorder?.step === stamp.step) {
      this.recorder.record(client, stamp.sender, stamp.sequence, stamp.intendedAtMicros);
    } else {
      this.strayDeliveries += 1;
    }
  }

  /** See `StepBacklog.settle`. */
  settle(quietMs: number, limitMs: number): Promise<void> {
    return this.backlog.settle(quietMs, limitMs);
  }

  onPresenceEvent(): void {
    this.presenceDeliveries += 1;
  }

  onUnexpectedClose(): void {
    this.unexpectedCloses += 1;
  }

  close(): void {
    for (const client of this.clients) client.close();
    for (const probe of this.probes) probe.close();
    this.clients = [];
    this.probes = [];
  }
}
