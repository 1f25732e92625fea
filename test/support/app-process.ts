import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { findExecutable } from './system.js';
import { TEST_SECRET } from './app.js';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const OUTPUT_LINES_KEPT = 200;
const STOP_GRACE_MS = 15_000;
const APP_START_TIMEOUT_MS = 30_000;
const APP_SHUTDOWN_GRACE_MS = 5_000;
const MAIN_SCRIPT = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const LISTENING_LINE = /Listening on http:\/\/(\S+):(\d+) as server (\S+)/;

/** Where available, the kernel kills a child whose test runner died without stopping it. */
const PARENT_DEATH_WRAPPER = findExecutable('setpriv');

/**
 * A child process whose stdout and stderr are read line by line: the last lines are kept for
 * failure messages, and a test can wait for a line it expects.
 */
export class WatchedProcess {
  readonly exited: Promise<ProcessExit>;
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly lineListeners = new Set<(line: string) => void>();
  private exit: ProcessExit | undefined;

  constructor(
    readonly label: string,
    command: string,
    args: string[],
    options: { cwd: string; env: Record<string, string> },
  ) {
    const [file, argv] = PARENT_DEATH_WRAPPER
      ? [PARENT_DEATH_WRAPPER, ['--pdeathsig', 'KILL', '--', command, ...args]]
      : [command, args];
    this.child = spawn(file, argv, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream)
        createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.record(line));
    }
    this.child.on('error', (error) => this.record(`[${label}] ${error.message}`));
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  recentOutput(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the first line printed from now on that matches; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.lineListeners.delete(onLine);
        outcome();
      };
      const onLine = (line: string) => {
        const match = line.match(pattern) ?? logMessageOf(line)?.match(pattern);
        if (match) settle(() => resolve(match));
      };
      const timer = setTimeout(
        () =>
          settle(() => reject(this.failure(`printed no line matching ${pattern} within ${timeoutMs} ms`))),
        timeoutMs,
      );
      this.lineListeners.add(onLine);
      void this.exited.then((exit) =>
        settle(() =>
          reject(this.failure(`exited (${describeExit(exit)}) before printing a line matching ${pattern}`)),
        ),
      );
    });
  }

  /** Sends `signal` and resolves when the process has exited. */
  signal(signal: NodeJS.Signals): Promise<ProcessExit> {
    if (this.exit) return Promise.resolve(this.exit);
    this.child.kill(signal);
    return this.exited;
  }

  /** Sends `signal`, and SIGKILL if the process is still there after the grace period. */
  async stop(signal: NodeJS.Signals, graceMs = STOP_GRACE_MS): Promise<ProcessExit> {
    if (this.exit) return this.exit;
    const escalation = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.signal(signal);
    } finally {
      clearTimeout(escalation);
    }
  }

  /** An error naming this process, with its last output. */
  failure(message: string): Error {
    return new Error(
      `${this.label} ${message}\n--- last output of ${this.label} ---\n${this.recentOutput()}`,
    );
  }

  private record(line: string): void {
    this.lines.push(line);
    if (this.lines.length > OUTPUT_LINES_KEPT) this.lines.shift();
    for (const listener of [...this.lineListeners]) listener(line);
  }
}

/**
 * The message of a JSON log line (the app logs JSON lines), where quotes are not escaped: a
 * pattern written against the message text matches it.
 */
function logMessageOf(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const { msg } = JSON.parse(line) as { msg?: unknown };
    return typeof msg === 'string' ? msg : undefined;
  } catch {
    return undefined;
  }
}

export function describeExit(exit: ProcessExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

export interface AppProcessOptions {
  serverId: string;
  /** Turns on the Redis adapter and the cluster-wide state. */
  redisUrl?: string;
  /** More variables, or overrides of the test defaults (e.g. `PRESENCE_TTL_MS`, `DATABASE_URL`). */
  env?: Record<string, string>;
}

/**
 * The built app (`dist/main.js`) running as its own process, configured only by an explicit
 * environment (nothing inherited, no `.env`: it runs in a temp dir that is removed at exit).
 */
export class AppProcess {
  /** Resolves once the process has exited and its temp dir is removed. */
  readonly exited: Promise<ProcessExit>;

  constructor(
    readonly serverId: string,
    readonly port: number,
    private readonly child: WatchedProcess,
    workDir: string,
  ) {
    this.exited = child.exited.then(async (exit) => {
      await rm(workDir, { recursive: true, force: true });
      return exit;
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.running;
  }

  recentOutput(): string {
    return this.child.recentOutput();
  }

  /** Resolves with the first line printed from now on that matches `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return this.child.waitForLine(pattern, timeoutMs);
  }

  /** Sends `signal` (SIGKILL unless told) and resolves at exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ProcessExit> {
    await this.child.signal(signal);
    return this.exited;
  }

  /** Graceful stop (SIGTERM), forced if it hangs; resolves at exit. Safe to call more than once. */
  async stop(): Promise<ProcessExit> {
    await this.child.stop('SIGTERM');
    return this.exited;
  }
}

/** Starts `dist/main.js` and resolves once it listens. */
export async function startAppProcess(options: AppProcessOptions): Promise<AppProcess> {
  if (!existsSync(MAIN_SCRIPT)) {
    throw new Error(
      `${MAIN_SCRIPT} not found: build the app first (npm run build; npm test builds it through pretest)`,
    );
  }
  const workDir = await mkdtemp(join(tmpdir(), `switchboard-${options.serverId}-`));
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    SERVER_ID: options.serverId,
    JWT_SECRET: TEST_SECRET,
    DATA_DIR: join(workDir, 'data'),
    DATABASE_URL: `sqlite:${join(workDir, 'switchboard.db')}`,
    LOG_LEVEL: 'log',
    SHUTDOWN_GRACE_MS: String(APP_SHUTDOWN_GRACE_MS),
    NO_COLOR: '1',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  };
  const child = new WatchedProcess(`app ${options.serverId}`, process.execPath, [MAIN_SCRIPT], {
    cwd: workDir,
    env,
  });
  try {
    const [, , port, serverId] = await child.waitForLine(LISTENING_LINE, APP_START_TIMEOUT_MS);
    if (serverId !== options.serverId) {
      throw child.failure(`announced server id ${serverId}, expected ${options.serverId}`);
    }
    return new AppProcess(options.serverId, Number(port), child, workDir);
  } catch (error) {
    await child.stop('SIGKILL');
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}
