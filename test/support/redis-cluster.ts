import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { WatchedProcess } from './app-process.js';
import { describeWhenAvailable, findExecutable, freePort } from './system.js';

const run = promisify(execFile);

/** A throwaway Redis Cluster of three masters and no replicas on 127.0.0.1, without persistence. */
export interface TestRedisCluster {
  readonly ports: readonly number[];
  /** `host:port,host:port,…`, as `REDIS_CLUSTER_NODES` takes it. */
  readonly nodes: string;
  /** SIGKILLs the node at `index` of `ports`, as a crash would; resolves once it is gone. */
  kill(index: number): Promise<void>;
  /** Shuts every node down and deletes their files. Safe to call more than once. */
  stop(): Promise<void>;
}

const SERVER = 'redis-server';
const CLI = 'redis-cli';
const MASTERS = 3;
const READY_LINE = /Ready to accept connections/;
const PORT_TAKEN = /Address already in use/;
const READY_TIMEOUT_MS = 15_000;
const CLUSTER_OK_TIMEOUT_MS = 20_000;
const START_ATTEMPTS = 3;

/** Why Redis Cluster tests cannot run on this machine, or undefined when they can. */
export function redisClusterUnavailableReason(): string | undefined {
  const missing = [SERVER, CLI].filter((name) => findExecutable(name) === undefined);
  return missing.length > 0
    ? `${missing.join(' and ')} not found on PATH (install Redis 7, e.g. apt-get install redis-server redis-tools)`
    : undefined;
}

/** `describe` for suites that need a real Redis Cluster (see `describeWhenAvailable`). */
export function describeWithRedisCluster(title: string, body: () => void): void {
  describeWhenAvailable(title, 'Redis Cluster', redisClusterUnavailableReason(), body);
}

/**
 * Starts three cluster-enabled `redis-server`s on free ports in one temp dir, joins them as a
 * cluster (each master serving a third of the slots) and resolves once every node reports
 * `cluster_state:ok`.
 */
export async function startRedisCluster(options: { password?: string } = {}): Promise<TestRedisCluster> {
  const auth = options.password === undefined ? [] : ['-a', options.password, '--no-auth-warning'];
  const server = findExecutable(SERVER);
  const cli = findExecutable(CLI);
  if (server === undefined || cli === undefined) throw new Error(redisClusterUnavailableReason());
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-redis-cluster-'));
  const processes: WatchedProcess[] = [];
  const cluster = new RedisClusterProcesses(dir, processes);
  try {
    for (let index = 0; index < MASTERS; index++) {
      processes.push(await launchNode(server, join(dir, `node-${index}`), options.password));
    }
    const nodes = processes.map((process) => `127.0.0.1:${portOf(process)}`);
    await run(cli, [...auth, '--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: CLUSTER_OK_TIMEOUT_MS,
    });
    await waitForClusterOk(cli, cluster.ports, auth);
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

class RedisClusterProcesses implements TestRedisCluster {
  constructor(
    private readonly dir: string,
    private readonly processes: WatchedProcess[],
  ) {}

  get ports(): number[] {
    return this.processes.map(portOf);
  }

  get nodes(): string {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',');
  }

  async kill(index: number): Promise<void> {
    const node = this.processes[index];
    if (!node) throw new Error(`no node at index ${index}`);
    await node.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((process) => process.stop('SIGTERM')));
    await rm(this.dir, { recursive: true, force: true });
  }
}

const ports = new WeakMap<WatchedProcess, number>();

function portOf(process: WatchedProcess): number {
  const port = ports.get(process);
  if (port === undefined) throw new Error(`${process.label} has no port`);
  return port;
}

/** One cluster-enabled node in its own directory, retried on another port if the one chosen was taken. */
async function launchNode(binary: string, dir: string, password?: string): Promise<WatchedProcess> {
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  await mkdir(dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const node = new WatchedProcess(
      `redis-server (cluster) :${port}`,
      binary,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        '2000',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--logfile',
        '',
        '--daemonize',
        'no',
        ...auth,
      ],
      { cwd: dir, env: {} },
    );
    ports.set(node, port);
    try {
      await node.waitForLine(READY_LINE, READY_TIMEOUT_MS);
      return node;
    } catch (error) {
      await node.stop('SIGKILL');
      const portTaken = error instanceof Error && PORT_TAKEN.test(error.message);
      if (!portTaken || attempt === START_ATTEMPTS) throw error;
    }
  }
}

/** Resolves once every node answers `cluster_state:ok`: all slots served and the nodes agree. */
async function waitForClusterOk(cli: string, nodePorts: number[], auth: string[]): Promise<void> {
  const deadline = performance.now() + CLUSTER_OK_TIMEOUT_MS;
  let last = '';
  for (;;) {
    const states = await Promise.all(
      nodePorts.map((port) =>
        run(cli, [...auth, '-h', '127.0.0.1', '-p', String(port), 'cluster', 'info']).then(
          ({ stdout }) => /cluster_state:(\w+)/.exec(stdout)?.[1] ?? 'unknown',
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        ),
      ),
    );
    if (states.every((state) => state === 'ok')) return;
    last = states.map((state, index) => `:${nodePorts[index]} ${state}`).join(', ');
    if (performance.now() > deadline) {
      throw new Error(`Redis Cluster not ok within ${CLUSTER_OK_TIMEOUT_MS} ms: ${last}`);
    }
    await delay(100);
  }
}
