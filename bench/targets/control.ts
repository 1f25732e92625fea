import { setImmediate as nextMacrotask } from 'node:timers/promises';

/** Harness → target, over the IPC channel of the forked target process. */
export type ControlRequest = { kind: 'sample'; id: number; collectGarbage: boolean } | { kind: 'stop' };

export interface ProcessSample {
  rssBytes: number;
  heapUsedBytes: number;
  /** User plus system CPU time since the process started. */
  cpuMicros: number;
  /** When the sample was taken, on the monotonic clock every process shares (`monotonicMicros`). */
  atMicros: number;
  /** What a Switchboard target counted of presence since it started; null for the baselines. */
  presence: PresenceCounters | null;
}

/** Counted in the Switchboard target through the services a host application can use. */
export interface PresenceCounters {
  /** `PRESENCE_GRACE_MS` as the target read it. */
  graceMs: number;
  /** `ConnectionLifecycle`: a user's first live connection. */
  usersConnected: number;
  /** `ConnectionLifecycle`: a user's last live connection gone (their grace period starts). */
  usersDisconnected: number;
  /** `PresenceService.changes`, by event: each change told to others (once, whatever the audience). */
  changes: Record<string, number>;
  /** The latest changes, oldest first, numbered from 1 in the order told (at most `RECENT_CHANGES`). */
  recent: { number: number; event: string; userId: string }[];
}

/** How many of the latest presence changes a sample names, to tell whose they were. */
export const RECENT_CHANGES = 50;

/** Microseconds of CLOCK_MONOTONIC, the clock V8 also stamps CPU profile samples with. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Target → harness. */
export type ControlReply =
  | { kind: 'ready'; port: number }
  | { kind: 'sample'; id: number; sample: ProcessSample }
  | { kind: 'failed'; message: string };

/**
 * What every target does beside serving: tell the harness its port, answer memory and CPU
 * samples (after a full GC when asked) and stop cleanly, so that `--cpu-prof` writes its profile.
 * A Switchboard target also reports its presence counters with each sample.
 */
export function serveControl(
  port: number,
  stop: () => Promise<void>,
  presence: () => PresenceCounters | null = () => null,
): void {
  const send = requireChannel();
  const collectGarbage = global.gc;
  if (!collectGarbage) throw new Error('A bench target runs with --expose-gc');
  process.on('message', (request: ControlRequest) => {
    if (request.kind === 'stop') {
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`stop failed: ${describe(error)}\n`);
          process.exit(1);
        },
      );
      return;
    }
    void sample(request.collectGarbage ? () => collectGarbage() : null, presence).then((result) =>
      send({ kind: 'sample', id: request.id, sample: result }),
    );
  });
  process.once('disconnect', () => process.exit(1));
  send({ kind: 'ready', port });
}

export function reportStartFailure(error: unknown): never {
  const message = describe(error);
  process.stderr.write(`${message}\n`);
  if (process.send) process.send({ kind: 'failed', message } satisfies ControlReply);
  process.exit(1);
}

/** Two collections a macrotask apart, so that objects freed by finalizers go too. */
async function sample(
  collectGarbage: (() => void) | null,
  presence: () => PresenceCounters | null,
): Promise<ProcessSample> {
  if (collectGarbage) {
    collectGarbage();
    await nextMacrotask();
    collectGarbage();
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    cpuMicros: cpu.user + cpu.system,
    atMicros: monotonicMicros(),
    presence: presence(),
  };
}

function requireChannel(): (reply: ControlReply) => void {
  if (!process.send) throw new Error('A bench target runs as a child of the harness, with an IPC channel');
  return (reply) => {
    process.send?.(reply);
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
