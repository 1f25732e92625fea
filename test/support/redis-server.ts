import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WatchedProcess } from './app-process.js';
import { describeWhenAvailable, findExecutable, freePort } from './system.js';

/** A throwaway `redis-server` on 127.0.0.1, without persistence. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts an empty server again on the same port; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Shuts the server down and deletes its files. Safe to call more than once. */
  stop(): Promise<void>;
}

const BINARY = 'redis-server';
const READY_LINE = /Ready to accept connections/;
const PORT_TAKEN = /Address already in use/;
const READY_TIMEOUT_MS = 15_000;
const START_ATTEMPTS = 3;

/** Why Redis tests cannot run on this machine, or undefined when they can. */
export function redisUnavailableReason(): string | undefined {
  return findExecutable(BINARY) === undefined
    ? `${BINARY} not found on PATH (install the Redis server, e.g. apt-get install redis-server)`
    : undefined;
}

/** `describe` for suites that need a real Redis (see `describeWhenAvailable`). */
export function describeWithRedis(title: string, body: () => void): void {
  describeWhenAvailable(title, 'Redis', redisUnavailableReason(), body);
}

/** Starts `redis-server` on a free port in its own temp dir; resolves once it is ready. */
export async function startRedis(): Promise<TestRedis> {
  const binary = findExecutable(BINARY);
  if (binary === undefined) throw new Error(redisUnavailableReason());
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-redis-'));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        const server = new RedisServerProcess(binary, dir, port);
        await server.launch();
        return server;
      } catch (error) {
        const portTaken = error instanceof Error && PORT_TAKEN.test(error.message);
        if (!portTaken || attempt === START_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

class RedisServerProcess implements TestRedis {
  private current: WatchedProcess | undefined;

  constructor(
    private readonly binary: string,
    private readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.current?.running ?? false;
  }

  async kill(): Promise<void> {
    await this.current?.signal('SIGKILL');
  }

  async restart(): Promise<void> {
    if (this.running) throw new Error(`redis-server on port ${this.port} is still running`);
    await this.launch();
  }

  async launch(): Promise<void> {
    const server = new WatchedProcess(
      `redis-server :${this.port}`,
      this.binary,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--logfile',
        '',
        '--daemonize',
        'no',
      ],
      { cwd: this.dir, env: {} },
    );
    this.current = server;
    try {
      await server.waitForLine(READY_LINE, READY_TIMEOUT_MS);
    } catch (error) {
      await server.stop('SIGKILL');
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.current?.stop('SIGTERM');
    await rm(this.dir, { recursive: true, force: true });
  }
}
