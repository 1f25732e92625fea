import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Cluster, Redis } from 'ioredis';
import { Server } from 'socket.io';
import { Histogram, type LatencySummary } from './load/histogram.js';
import { LightClient, type DeliveryListener } from './load/light-client.js';
import { sourceAddress } from './load/connect.js';
import { inPool } from './pool.js';
import { RedisServer } from './redis-server.js';
import { BENCH_NAMESPACE, NEW_MESSAGE_EVENT, baselineUserRoom, readStamp, stampContent } from './wire.js';

/**
 * What the sharded adapter's `subscriptionMode` costs on a Redis Cluster, for N users each alone
 * in their own `user:<id>` room (as every Switchboard socket is). Per mode and size it measures:
 * the time to connect N sockets that each join their room, and until Redis holds every sharded
 * subscription they cause; the SSUBSCRIBE commands the masters served (`INFO commandstats`) and
 * the channels they hold (`pubsubshard_channels`); the masters' `used_memory` growth; the latency
 * of a broadcast to one room sent from another instance; whether a broadcast sent the moment a
 * socket connected reaches it; and the SUNSUBSCRIBEs and time to drop the subscriptions when
 * every socket leaves.
 *
 *   npm run bench:ssubscribe -- [--users 2000,10000] [--modes static,dynamic,dynamic-private]
 *                               [--rounds 3] [--probes 300] [--fresh 50] [--concurrency 100]
 *
 * Each size runs `--rounds` times, the modes in a different order each round, after a warm-up
 * round that is not reported; the table shows medians (totals for the broadcasts after connect).
 *
 * Redis Cluster: three masters started here with `redis-cli --cluster create`. Instance A (the
 * one the sockets connect to) runs in a child process; instance B (no sockets, it sends the
 * broadcasts) and the clients run in this one, so a broadcast's latency is read on one clock.
 */
type Mode = 'static' | 'dynamic' | 'dynamic-private';
const MODES: readonly Mode[] = ['static', 'dynamic', 'dynamic-private'];

const MASTERS = 3;
/** Per adapter: `/` and `/chat` each have a shared channel, and one for answers per instance. */
const NAMESPACES = ['/', BENCH_NAMESPACE];
const BASE_CHANNELS = NAMESPACES.length * (1 + 2);
const HANDSHAKE_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 2000;
/** How long a broadcast sent right after a connect is given to arrive before it counts as lost. */
const FRESH_TIMEOUT_MS = 500;
const SETTLE_TIMEOUT_MS = 120_000;
const SETTLE_POLL_MS = 20;
/** Source addresses 127.0.x.y, each used by this many connections over the whole run. */
const CONNECTIONS_PER_ADDRESS = 2000;
const SPARE_FILE_DESCRIPTORS = 256;
const SERVE_FLAG = '--serve';
const WARM_UP_USERS = 1000;
const MIB = 1024 * 1024;

interface Options {
  users: number[];
  modes: Mode[];
  rounds: number;
  probes: number;
  fresh: number;
  concurrency: number;
}

interface Row {
  mode: Mode;
  users: number;
  connectS: number;
  connectsPerS: number;
  handshake: LatencySummary;
  /** From the first connect until Redis held every subscription the sockets cause. */
  subscribedS: number;
  ssubscribeCalls: number;
  ssubscribeUsec: number;
  channels: number;
  memoryMiB: number;
  fanout: LatencySummary;
  fanoutLost: number;
  freshDelivered: number;
  fresh: number;
  freshLatency: LatencySummary;
  unsubscribedS: number;
  sunsubscribeCalls: number;
  unhandledRejections: number;
}

type ToServer = { type: 'start'; nodes: string[]; mode: Mode; prefix: string } | { type: 'stop' };
type FromServer = { type: 'started'; port: number } | { type: 'stopped'; unhandledRejections: number };

// ---------------------------------------------------------------------------------------------
// A Socket.IO server on the sharded adapter, as Switchboard configures it for a Redis Cluster.

interface SocketServer {
  readonly io: Server;
  readonly port: number;
  stop(): Promise<void>;
}

async function startSocketServer(nodes: string[], mode: Mode, prefix: string): Promise<SocketServer> {
  const startup = nodes.map((node) => {
    const [host = '', port = ''] = node.split(':');
    return { host, port: Number(port) };
  });
  const pub = new Cluster(startup);
  // One subscriber connection per master, each SSUBSCRIBE routed by slot (as Switchboard does).
  const sub = new Cluster(startup, { shardedSubscribers: true });
  await Promise.all([pub, sub].map((client) => new Promise((resolve) => client.once('ready', resolve))));
  const http = createHttpServer();
  const io = new Server(http, {
    serveClient: false,
    transports: ['websocket'],
    adapter: createShardedAdapter(pub, sub, { channelPrefix: prefix, subscriptionMode: mode }),
  });
  // In a middleware, before the socket connects, as Switchboard's authentication joins it.
  io.of(BENCH_NAMESPACE).use((socket, next) => {
    void socket.join(baselineUserRoom(String((socket.handshake.auth as { userId?: unknown }).userId)));
    next();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    io,
    port: (http.address() as AddressInfo).port,
    async stop() {
      await io.close();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}

/** The child process: instance A, started and stopped on request. */
function serve(): void {
  let server: SocketServer | undefined;
  let unhandledRejections = 0;
  process.on('unhandledRejection', (reason) => {
    unhandledRejections += 1;
    process.stderr.write(`instance A: unhandled rejection: ${String(reason)}\n`);
  });
  const send = (message: FromServer) => process.send?.(message);
  process.on('message', (message: ToServer) => {
    void (async () => {
      if (message.type === 'start') {
        server = await startSocketServer(message.nodes, message.mode, message.prefix);
        unhandledRejections = 0;
        send({ type: 'started', port: server.port });
      } else {
        await server?.stop();
        server = undefined;
        send({ type: 'stopped', unhandledRejections });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

class InstanceA {
  private constructor(private readonly child: ChildProcess) {}

  static spawn(): InstanceA {
    const child = fork(fileURLToPath(import.meta.url), [SERVE_FLAG], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new InstanceA(child);
  }

  start(nodes: string[], mode: Mode, prefix: string): Promise<number> {
    return this.request({ type: 'start', nodes, mode, prefix }).then((reply) =>
      reply.type === 'started' ? reply.port : Promise.reject(new Error('instance A did not start')),
    );
  }

  stop(): Promise<number> {
    return this.request({ type: 'stop' }).then((reply) =>
      reply.type === 'stopped' ? reply.unhandledRejections : -1,
    );
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  private request(message: ToServer): Promise<FromServer> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`instance A exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (reply: FromServer) => {
        this.child.off('exit', onExit);
        resolve(reply);
      });
      this.child.send(message);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The Redis Cluster and what its masters report.

class BenchCluster {
  private constructor(
    readonly nodes: RedisServer[],
    private readonly directory: string,
    readonly masters: Redis[],
  ) {}

  static async start(): Promise<BenchCluster> {
    const directory = mkdtempSync(join(tmpdir(), 'switchboard-bench-ssubscribe-'));
    const nodes: RedisServer[] = [];
    try {
      for (let index = 0; index < MASTERS; index += 1) {
        // The bus on a port of its own: the default, client port + 10,000, may exceed 65,535.
        nodes.push(
          await RedisServer.start(null, [
            ...['--cluster-enabled', 'yes', '--cluster-port', String(await freePort())],
            ...['--cluster-config-file', join(directory, `node-${index}.conf`), '--dir', directory],
          ]),
        );
      }
      const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
      const created = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes'], {
        encoding: 'utf8',
      });
      if (created.status !== 0)
        throw new Error(`redis-cli --cluster create: ${created.stdout}${created.stderr}`);
      const masters = nodes.map((node) => new Redis({ host: '127.0.0.1', port: node.port }));
      const cluster = new BenchCluster(nodes, directory, masters);
      await cluster.until(
        async () =>
          (await cluster.each((master) => master.cluster('INFO'))).every((info) =>
            /cluster_state:ok/.test(String(info)),
          ),
        'cluster_state:ok',
      );
      return cluster;
    } catch (error) {
      await Promise.all(nodes.map((node) => node.stop()));
      rmSync(directory, { recursive: true, force: true });
      throw error;
    }
  }

  get addresses(): string[] {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`);
  }

  each<T>(query: (master: Redis) => Promise<T>): Promise<T[]> {
    return Promise.all(this.masters.map(query));
  }

  async resetStats(): Promise<void> {
    await this.each((master) => master.config('RESETSTAT'));
  }

  /** Sum over the masters of a numeric field of `INFO <section>`. */
  async infoSum(section: string, field: RegExp): Promise<number> {
    const infos = await this.each((master) => master.info(section));
    return infos.reduce((sum, info) => sum + Number(field.exec(info)?.[1] ?? 0), 0);
  }

  channels(): Promise<number> {
    return this.infoSum('stats', /pubsubshard_channels:(\d+)/);
  }

  usedMemory(): Promise<number> {
    return this.infoSum('memory', /used_memory:(\d+)/);
  }

  calls(command: string): Promise<number> {
    return this.infoSum('commandstats', new RegExp(`cmdstat_${command}:calls=(\\d+)`));
  }

  usec(command: string): Promise<number> {
    return this.infoSum('commandstats', new RegExp(`cmdstat_${command}:calls=\\d+,usec=(\\d+)`));
  }

  /** Resolves with the ms until the masters hold `expected` sharded channels. */
  async untilChannels(expected: number, since = performance.now()): Promise<number> {
    await this.until(async () => (await this.channels()) === expected, `${expected} sharded channels`);
    return performance.now() - since;
  }

  async until(condition: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = performance.now() + SETTLE_TIMEOUT_MS;
    while (!(await condition())) {
      if (performance.now() > deadline) throw new Error(`no ${what} within ${SETTLE_TIMEOUT_MS} ms`);
      await delay(SETTLE_POLL_MS);
    }
  }

  async stop(): Promise<void> {
    for (const master of this.masters) master.disconnect();
    await Promise.all(this.nodes.map((node) => node.stop()));
    rmSync(this.directory, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The clients: one lightweight socket per user, and the broadcasts they wait for.

class Deliveries implements DeliveryListener {
  private readonly waiting = new Map<number, (receivedAt: number) => void>();
  unexpectedCloses = 0;

  /** Resolves with the latency of broadcast `sequence`, or null once `timeoutMs` passed. */
  expect(sequence: number, sentAt: number, timeoutMs: number): Promise<number | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(sequence);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(sequence, (receivedAt) => {
        clearTimeout(timer);
        resolve(receivedAt - sentAt);
      });
    });
  }

  onNewMessage(_client: LightClient, frame: Buffer, contentAt: number): void {
    const receivedAt = performance.now();
    const stamp = readStamp(frame, contentAt);
    if (!stamp) return;
    const waiter = this.waiting.get(stamp.sequence);
    this.waiting.delete(stamp.sequence);
    waiter?.(receivedAt);
  }

  /** Nothing here sends presence. */
  onPresenceEvent(): void {}

  onUnexpectedClose(): void {
    this.unexpectedCloses += 1;
  }
}

let nextClient = 0;
let nextBroadcast = 0;

async function connectUser(port: number, user: number, deliveries: Deliveries) {
  const index = nextClient;
  nextClient += 1;
  return LightClient.connect({
    url: `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`,
    protocol: 'socket-io',
    auth: { userId: String(user) },
    localAddress: sourceAddress(index, CONNECTIONS_PER_ADDRESS),
    listener: deliveries,
    timeoutMs: HANDSHAKE_TIMEOUT_MS,
  });
}

/** Sends one broadcast from B to `user`'s room and resolves with its latency (null: lost). */
function broadcast(b: SocketServer, user: number, deliveries: Deliveries, timeoutMs: number) {
  const sequence = nextBroadcast;
  nextBroadcast += 1;
  const sentAt = performance.now();
  const arrived = deliveries.expect(sequence, sentAt, timeoutMs);
  const content = stampContent({ step: 0, sender: 0, sequence, intendedAtMicros: sentAt * 1000 }, 0);
  b.io
    .of(BENCH_NAMESPACE)
    .to(baselineUserRoom(String(user)))
    .emit(NEW_MESSAGE_EVENT, { content });
  return arrived;
}

// ---------------------------------------------------------------------------------------------

async function measure(
  cluster: BenchCluster,
  a: InstanceA,
  mode: Mode,
  users: number,
  options: Pick<Options, 'probes' | 'fresh' | 'concurrency'>,
  label: string,
): Promise<Row> {
  const prefix = `bench-ssubscribe-${label}-${mode}-${users}:socket.io`;
  const progress = (step: string) => process.stderr.write(`[${label}: ${mode}, ${users} users] ${step}\n`);
  await cluster.untilChannels(0);
  await cluster.resetStats();

  const aPort = await a.start(cluster.addresses, mode, prefix);
  const b = await startSocketServer(cluster.addresses, mode, prefix);
  await cluster.untilChannels(BASE_CHANNELS);
  const memoryIdle = await cluster.usedMemory();

  progress('connecting');
  const deliveries = new Deliveries();
  const clients: LightClient[] = [];
  const handshakes = new Histogram();
  const connectStarted = performance.now();
  await inPool(
    Array.from({ length: users }, (_, user) => user),
    options.concurrency,
    async (user) => {
      const { client, handshakeMs } = await connectUser(aPort, user, deliveries);
      clients.push(client);
      handshakes.record(handshakeMs);
    },
  );
  const connectMs = performance.now() - connectStarted;
  const perUser = mode === 'static' ? 0 : mode === 'dynamic' ? 1 : 2;
  const subscribedMs = await cluster.untilChannels(BASE_CHANNELS + perUser * users, connectStarted);
  const memoryConnected = await cluster.usedMemory();
  const ssubscribeCalls = await cluster.calls('ssubscribe');
  const ssubscribeUsec = await cluster.usec('ssubscribe');

  progress('broadcasting');
  const fanout = new Histogram();
  let fanoutLost = 0;
  for (let probe = 0; probe < options.probes; probe += 1) {
    const user = (probe * 7919) % users;
    const latency = await broadcast(b, user, deliveries, DELIVERY_TIMEOUT_MS);
    if (latency === null) fanoutLost += 1;
    else fanout.record(latency);
  }

  progress('broadcasting to fresh connections');
  const freshLatency = new Histogram();
  let freshDelivered = 0;
  for (let index = 0; index < options.fresh; index += 1) {
    const user = users + index;
    const { client } = await connectUser(aPort, user, deliveries);
    const latency = await broadcast(b, user, deliveries, FRESH_TIMEOUT_MS);
    if (latency !== null) {
      freshDelivered += 1;
      freshLatency.record(latency);
    }
    clients.push(client);
  }
  await cluster.untilChannels(BASE_CHANNELS + perUser * (users + options.fresh));

  progress('disconnecting');
  const sunsubscribeBefore = await cluster.calls('sunsubscribe');
  const disconnectStarted = performance.now();
  for (const client of clients) client.close();
  const unsubscribedMs = await cluster.untilChannels(BASE_CHANNELS, disconnectStarted);
  const sunsubscribeCalls = (await cluster.calls('sunsubscribe')) - sunsubscribeBefore;

  await b.stop();
  const unhandledRejections = await a.stop();
  if (deliveries.unexpectedCloses > 0)
    throw new Error(`${deliveries.unexpectedCloses} sockets closed by the server`);
  return {
    mode,
    users,
    connectS: round(connectMs / 1000, 2),
    connectsPerS: Math.round(users / (connectMs / 1000)),
    handshake: handshakes.summary(),
    subscribedS: round(subscribedMs / 1000, 2),
    ssubscribeCalls,
    ssubscribeUsec,
    channels: BASE_CHANNELS + perUser * users,
    memoryMiB: round((memoryConnected - memoryIdle) / MIB, 2),
    fanout: fanout.summary(),
    fanoutLost,
    freshDelivered,
    fresh: options.fresh,
    freshLatency: freshLatency.summary(),
    unsubscribedS: round(unsubscribedMs / 1000, 2),
    sunsubscribeCalls,
    unhandledRejections,
  };
}

function render(rows: Row[]): string {
  const header = [
    'mode',
    'users',
    'connect s (conn/s)',
    'subscribed s',
    'SSUBSCRIBE calls (Redis CPU)',
    'sharded channels',
    'Redis used_memory',
    'fan-out p50 / p99 ms',
    'first broadcast after connect',
    'all leave: s, SUNSUBSCRIBE',
  ];
  const lines = rows.map((row) => [
    row.mode,
    String(row.users),
    `${row.connectS} (${row.connectsPerS})`,
    String(row.subscribedS),
    `${row.ssubscribeCalls} (${round(row.ssubscribeUsec / 1000, 1)} ms)`,
    String(row.channels),
    `${row.memoryMiB >= 0 ? '+' : '−'}${Math.abs(row.memoryMiB)} MiB`,
    `${row.fanout.p50Ms} / ${row.fanout.p99Ms}${row.fanoutLost > 0 ? ` (${row.fanoutLost} lost)` : ''}`,
    `${row.freshDelivered}/${row.fresh} delivered`,
    `${row.unsubscribedS}, ${row.sunsubscribeCalls}`,
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  const format = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [format(header), format(widths.map((width) => '-'.repeat(width))), ...lines.map(format)].join('\n');
}

function parseOptions(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      users: { type: 'string', default: '2000,10000' },
      modes: { type: 'string', default: MODES.join(',') },
      probes: { type: 'string', default: '300' },
      fresh: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const modes = values.modes.split(',').map((mode) => {
    if (!(MODES as readonly string[]).includes(mode))
      throw new Error(`unknown mode ${mode}: ${MODES.join(', ')}`);
    return mode as Mode;
  });
  return {
    users: values.users.split(',').map(Number),
    modes,
    rounds: Number(values.rounds),
    probes: Number(values.probes),
    fresh: Number(values.fresh),
    concurrency: Number(values.concurrency),
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  const largest = Math.max(...options.users) + options.fresh;
  if (Number.isFinite(limit) && largest + SPARE_FILE_DESCRIPTORS > limit) {
    throw new Error(`${largest} connections need more than the ${limit} open files allowed (ulimit -n)`);
  }
  const cluster = await BenchCluster.start();
  const a = InstanceA.spawn();
  const rows: Row[] = [];
  try {
    // Unreported: the first connections of a process run cold (JIT, pools).
    await measure(
      cluster,
      a,
      'static',
      WARM_UP_USERS,
      { probes: 20, fresh: 5, concurrency: options.concurrency },
      'warm-up',
    );
    for (const users of options.users) {
      const results = new Map<Mode, Row[]>(options.modes.map((mode) => [mode, []]));
      for (let round = 0; round < options.rounds; round += 1) {
        // Each round in another order, so that no mode always runs first or last.
        const order = options.modes.map((_, index) => options.modes[(index + round) % options.modes.length]!);
        for (const mode of order) {
          const row = await measure(cluster, a, mode, users, options, `round-${round + 1}`);
          process.stderr.write(`${JSON.stringify(row)}\n`);
          results.get(mode)!.push(row);
        }
      }
      for (const mode of options.modes) rows.push(combine(results.get(mode)!));
    }
  } finally {
    a.kill();
    await cluster.stop();
  }
  process.stdout.write(
    `${options.rounds} rounds; times, memory and latencies are medians, broadcasts after connect are totals\n`,
  );
  process.stdout.write(`${render(rows)}\n`);
  const rejections = rows.filter((row) => row.unhandledRejections > 0);
  for (const row of rejections) {
    process.stdout.write(
      `${row.mode}, ${row.users} users: ${row.unhandledRejections} unhandled rejections in instance A\n`,
    );
  }
}

/** One row of the rounds of a mode and size: medians of what varies, totals of the broadcasts. */
function combine(rounds: Row[]): Row {
  const median = (pick: (row: Row) => number | null) => {
    const values = rounds
      .map(pick)
      .filter((value): value is number => value !== null)
      .sort((x, y) => x - y);
    return values.length === 0 ? null : values[Math.floor((values.length - 1) / 2)]!;
  };
  const medianOr0 = (pick: (row: Row) => number | null) => median(pick) ?? 0;
  const sum = (pick: (row: Row) => number) => rounds.reduce((total, row) => total + pick(row), 0);
  const first = rounds[0]!;
  return {
    ...first,
    connectS: medianOr0((row) => row.connectS),
    connectsPerS: medianOr0((row) => row.connectsPerS),
    subscribedS: medianOr0((row) => row.subscribedS),
    ssubscribeCalls: medianOr0((row) => row.ssubscribeCalls),
    ssubscribeUsec: medianOr0((row) => row.ssubscribeUsec),
    memoryMiB: medianOr0((row) => row.memoryMiB),
    fanout: {
      count: sum((row) => row.fanout.count),
      p50Ms: median((row) => row.fanout.p50Ms),
      p99Ms: median((row) => row.fanout.p99Ms),
      maxMs: median((row) => row.fanout.maxMs),
    },
    fanoutLost: sum((row) => row.fanoutLost),
    freshDelivered: sum((row) => row.freshDelivered),
    fresh: sum((row) => row.fresh),
    unsubscribedS: medianOr0((row) => row.unsubscribedS),
    sunsubscribeCalls: medianOr0((row) => row.sunsubscribeCalls),
    unhandledRejections: sum((row) => row.unhandledRejections),
  };
}

function round(value: number, digits: number): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

if (process.argv.includes(SERVE_FLAG)) {
  serve();
} else {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
