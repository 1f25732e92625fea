import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';

const READY_TIMEOUT_MS = 10_000;
const CLUSTER_MASTERS = 3;

/** What a Switchboard target needs to know of the Redis the bench started, and how to stop it. */
export interface BenchRedis {
  readonly pids: number[];
  /** `REDIS_URL` or `REDIS_CLUSTER_NODES` for the target. */
  readonly environment: Record<string, string>;
  stop(): Promise<void>;
}

/** A throwaway `redis-server` on a free local port: no persistence, pinned like the load. */
export class RedisServer implements BenchRedis {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('redis-server has no process id');
    return this.child.pid;
  }

  get pids(): number[] {
    return [this.pid];
  }

  get environment(): Record<string, string> {
    return { REDIS_URL: `redis://127.0.0.1:${this.port}` };
  }

  static isInstalled(): boolean {
    return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  }

  static async start(cpu: number | null, extraArgs: string[] = []): Promise<RedisServer> {
    const port = await freePort();
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      ...extraArgs,
    ];
    const child =
      cpu === null
        ? spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] })
        : spawn('taskset', ['-c', String(cpu), 'redis-server', ...args], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('redis-server did not start')), READY_TIMEOUT_MS);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}`));
      });
      if (!child.stdout) throw new Error('redis-server has no stdout');
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      await ready;
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return new RedisServer(child, port);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}

/**
 * A Redis Cluster of three masters on the load's CPU, built with `redis-cli --cluster create`;
 * each node keeps its cluster state in a throwaway directory.
 */
export class RedisCluster implements BenchRedis {
  private constructor(
    private readonly nodes: RedisServer[],
    private readonly directory: string,
  ) {}

  static isInstalled(): boolean {
    return (
      RedisServer.isInstalled() && spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0
    );
  }

  static async start(cpu: number | null): Promise<RedisCluster> {
    const directory = mkdtempSync(join(tmpdir(), 'switchboard-bench-cluster-'));
    const nodes: RedisServer[] = [];
    try {
      for (let index = 0; index < CLUSTER_MASTERS; index += 1) {
        const configFile = join(directory, `node-${index}.conf`);
        nodes.push(
          await RedisServer.start(cpu, ['--cluster-enabled', 'yes', '--cluster-config-file', configFile]),
        );
      }
      const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
      const created = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes'], {
        encoding: 'utf8',
      });
      if (created.status !== 0)
        throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      await waitForClusterState(nodes);
      return new RedisCluster(nodes, directory);
    } catch (error) {
      await Promise.all(nodes.map((node) => node.stop()));
      rmSync(directory, { recursive: true, force: true });
      throw error;
    }
  }

  get pids(): number[] {
    return this.nodes.map((node) => node.pid);
  }

  get environment(): Record<string, string> {
    return { REDIS_CLUSTER_NODES: this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',') };
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
    rmSync(this.directory, { recursive: true, force: true });
  }
}

/** Every node reports `cluster_state:ok` once the slots are assigned and the nodes agree. */
async function waitForClusterState(nodes: RedisServer[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const states = nodes.map(
      (node) =>
        spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout,
    );
    if (states.every((state) => state.includes('cluster_state:ok'))) return;
    if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok');
    await delay(100);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
