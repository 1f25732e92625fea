import { parseArgs } from 'node:util';

export const TARGET_NAMES = [
  'socket.io',
  'ws',
  'switchboard',
  'switchboard-redis',
  'switchboard-redis-cluster',
] as const;
export type BaseTargetName = (typeof TARGET_NAMES)[number];

export const PHASE_NAMES = [
  'connect',
  'memory',
  'fanout-room',
  'fanout-groups',
  'inbound',
  'reconnect-wave',
  'events',
] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

export interface BenchOptions {
  smoke: boolean;
  targets: BaseTargetName[];
  /** Adds a Switchboard target whose host module puts a gateway of this many handlers on `/chat`. */
  extraHandlers: number | null;
  phases: PhaseName[];
  /** Lightweight client connections (socket.io-client probes come on top). */
  connections: number;
  /** Handshakes in flight during the connect phase. */
  handshakeConcurrency: number;
  /**
   * Connections per client source address (127.0.x.y): under the per-address handshake limit
   * and the unauthenticated connections one address may have waiting (`PREAUTH_CONNECTIONS_PER_IP`).
   */
  connectionsPerAddress: number;
  probes: number;
  groupRooms: number;
  groupRoomSize: number;
  /** Members of each room that take turns sending, so no socket nears the per-socket event limit. */
  sendersPerRoom: number;
  inboundSenders: number;
  /** Characters of message content, the stamp included. */
  contentLength: number;
  stepMs: number;
  /**
   * Length of the step at half of bare Socket.IO's capacity, whose latency and CPU cost are
   * compared: one Engine.IO heartbeat period (25 s) in full runs.
   */
  referenceStepMs: number;
  /** A delivery or ack counts when it arrives at most this long after its step's schedule ends. */
  graceMs: number;
  /** Fan-out steps in deliveries per second. */
  fanoutSteps: number[];
  /**
   * Reconnect wave (Switchboard targets only): the first `waveUsers` clients of the fleet, each
   * its own user; `waveDropped` of them, spread evenly, drop and come back within the grace period.
   */
  waveUsers: number;
  waveDropped: number;
  /** Inbound steps in messages per second, all senders together. */
  inboundSteps: number[];
  /** Between the sustainable step and the failing one above it, steps this ratio apart; null for none. */
  refineRatio: number | null;
  /** Events phase: subscribers of the broadcast events, stepped at `fanoutSteps` deliveries/s. */
  eventSubscribers: number;
  /** Events phase, Switchboard only: `POST /api/notifications` requests per concurrency. */
  notifyRequests: number;
  /** Events phase: how long each size of the subscription index is matched against. */
  patternCostMs: number;
  /** Targets whose server process runs under `node --cpu-prof`. */
  profile: string[];
  output: string | null;
}

const FULL = {
  connections: 10_000,
  handshakeConcurrency: 100,
  probes: 3,
  groupRooms: 100,
  groupRoomSize: 100,
  inboundSenders: 1_000,
  stepMs: 5_000,
  referenceStepMs: 25_000,
  graceMs: 1_000,
  fanoutSteps: geometric(20_000, 1.25, 24),
  inboundSteps: geometric(250, 1.5, 14),
  refineRatio: 1.05 as number | null,
  waveUsers: 5_000,
  eventSubscribers: 10_000,
  notifyRequests: 50,
  patternCostMs: 300,
};

const SMOKE: typeof FULL = {
  connections: 40,
  handshakeConcurrency: 8,
  probes: 2,
  groupRooms: 4,
  groupRoomSize: 10,
  inboundSenders: 20,
  stepMs: 300,
  referenceStepMs: 300,
  graceMs: 300,
  fanoutSteps: [1_000, 2_000],
  inboundSteps: [40, 80],
  refineRatio: null,
  waveUsers: 20,
  eventSubscribers: 40,
  notifyRequests: 3,
  patternCostMs: 20,
};

/** The share of the wave's users that drop and come back (the issue: 2,000 of 5,000). */
const WAVE_DROPPED_SHARE = 0.4;

const USAGE = `Usage: npm run bench -- [options]

  --smoke                    every phase with tiny sizes, in under a minute
  --targets a,b              ${TARGET_NAMES.join(', ')} (default: all)
  --extra-handlers K         also run Switchboard with a host gateway of K handlers on /chat
  --phases a,b               ${PHASE_NAMES.join(', ')} (default: all; connect runs with any
                             other phase; reconnect-wave runs on the Switchboard targets only: it
                             needs presence; events runs last, on its own connections, on
                             Switchboard and bare Socket.IO)
  --connections N            lightweight connections (default ${FULL.connections})
  --handshake-concurrency C  handshakes in flight (default ${FULL.handshakeConcurrency})
  --probes P                 socket.io-client probes (default ${FULL.probes})
  --rooms R --room-size S    the many-rooms fan-out shape (default ${FULL.groupRooms} x ${FULL.groupRoomSize})
  --step-seconds T           length of each rate step (default ${FULL.stepMs / 1000})
  --fanout-steps a,b         deliveries/s per step (default ${FULL.fanoutSteps[0]} x1.25 upwards)
  --inbound-steps a,b        acked messages/s per step (default ${FULL.inboundSteps[0]} x1.5 upwards);
                             past the last passing step, steps 5% apart up to the first failing one
  --subscribers N            events: subscribers of the broadcast events (default ${FULL.eventSubscribers})
  --wave-users N             reconnect wave: connected users, ${WAVE_DROPPED_SHARE * 100}% of whom drop and return
                             within the presence grace period (default ${FULL.waveUsers}, at most --connections)
  --profile a,b              run these targets under node --cpu-prof and summarise the profile
  --out FILE                 the JSON result (default bench/results/<date>-<mode>.json)
`;

export class UsageError extends Error {
  constructor(
    message: string,
    /** Asked for with --help: not an error. */
    readonly requested = false,
  ) {
    super(`${message}\n\n${USAGE}`);
    this.name = 'UsageError';
  }
}

export function parseOptions(argv: string[]): BenchOptions {
  const values = readArguments(argv);
  if (values.help) throw new UsageError('Benchmark of Switchboard against bare Socket.IO and raw ws', true);
  const defaults = values.smoke ? SMOKE : FULL;
  const options: BenchOptions = {
    smoke: values.smoke,
    targets: values.targets ? names(values.targets, TARGET_NAMES, '--targets') : [...TARGET_NAMES],
    extraHandlers: values['extra-handlers'] ? integer(values['extra-handlers'], '--extra-handlers', 1) : null,
    phases: values.phases ? names(values.phases, PHASE_NAMES, '--phases') : [...PHASE_NAMES],
    connections: integer(values.connections, '--connections', 2, defaults.connections),
    handshakeConcurrency: integer(
      values['handshake-concurrency'],
      '--handshake-concurrency',
      1,
      defaults.handshakeConcurrency,
    ),
    connectionsPerAddress: 50,
    probes: integer(values.probes, '--probes', 0, defaults.probes),
    groupRooms: integer(values.rooms, '--rooms', 1, defaults.groupRooms),
    groupRoomSize: integer(values['room-size'], '--room-size', 1, defaults.groupRoomSize),
    sendersPerRoom: 10,
    inboundSenders: defaults.inboundSenders,
    contentLength: 100,
    stepMs: values['step-seconds']
      ? positiveNumber(values['step-seconds'], '--step-seconds') * 1000
      : defaults.stepMs,
    referenceStepMs: defaults.referenceStepMs,
    graceMs: defaults.graceMs,
    fanoutSteps: values['fanout-steps']
      ? numberList(values['fanout-steps'], '--fanout-steps')
      : defaults.fanoutSteps,
    inboundSteps: values['inbound-steps']
      ? numberList(values['inbound-steps'], '--inbound-steps')
      : defaults.inboundSteps,
    refineRatio: defaults.refineRatio,
    waveUsers: integer(values['wave-users'], '--wave-users', 2, defaults.waveUsers),
    waveDropped: 0,
    eventSubscribers: integer(values.subscribers, '--subscribers', 1, defaults.eventSubscribers),
    notifyRequests: defaults.notifyRequests,
    patternCostMs: defaults.patternCostMs,
    profile: values.profile ? values.profile.split(',').map((name) => name.trim()) : [],
    output: values.out ?? null,
  };
  if (options.groupRooms * options.groupRoomSize > options.connections) {
    throw new UsageError(
      `--rooms x --room-size (${options.groupRooms * options.groupRoomSize}) exceeds --connections (${options.connections})`,
    );
  }
  options.inboundSenders = Math.min(options.inboundSenders, options.connections);
  if (values['wave-users'] !== undefined && options.waveUsers > options.connections) {
    throw new UsageError(
      `--wave-users (${options.waveUsers}) exceeds --connections (${options.connections})`,
    );
  }
  fitWave(options, options.connections);
  return options;
}

/** The wave's users are clients of the fleet: at most `connections` of them, 40 % dropping. */
export function fitWave(options: BenchOptions, connections: number): void {
  options.waveUsers = Math.min(options.waveUsers, connections);
  options.waveDropped = Math.max(1, Math.round(options.waveUsers * WAVE_DROPPED_SHARE));
}

function readArguments(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      options: {
        smoke: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
        targets: { type: 'string' },
        'extra-handlers': { type: 'string' },
        phases: { type: 'string' },
        connections: { type: 'string' },
        'handshake-concurrency': { type: 'string' },
        probes: { type: 'string' },
        rooms: { type: 'string' },
        'room-size': { type: 'string' },
        'step-seconds': { type: 'string' },
        'fanout-steps': { type: 'string' },
        'inbound-steps': { type: 'string' },
        'wave-users': { type: 'string' },
        subscribers: { type: 'string' },
        profile: { type: 'string' },
        out: { type: 'string' },
      },
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** `count` rates from `start`, each `factor` times the previous, rounded to two significant digits. */
function geometric(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => {
    const value = start * factor ** index;
    const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(value)) - 1);
    return Math.round(value / magnitude) * magnitude;
  });
}

function names<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const chosen = value.split(',').map((name) => name.trim());
  const unknown = chosen.filter((name) => !(allowed as readonly string[]).includes(name));
  if (unknown.length > 0) throw new UsageError(`${flag}: unknown ${unknown.join(', ')}`);
  return chosen as T[];
}

function integer(value: string | undefined, flag: string, minimum: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < minimum) {
    throw new UsageError(`${flag} must be an integer of at least ${minimum}`);
  }
  return parsed;
}

function positiveNumber(value: string, flag: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new UsageError(`${flag} must be a positive number`);
  return parsed;
}

function numberList(value: string, flag: string): number[] {
  const list = value.split(',').map((item) => positiveNumber(item.trim(), flag));
  return list.sort((a, b) => a - b);
}
