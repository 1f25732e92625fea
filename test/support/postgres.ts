import { execFile } from 'node:child_process';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describeWhenAvailable, findExecutable, freePort } from './system.js';

/** A throwaway PostgreSQL cluster; `stop()` shuts it down and deletes its files. */
export interface TestPostgres {
  readonly connectionString: string;
  /** Shuts the server down as an outage would (fast: sessions are cut), keeping its files. */
  halt(): Promise<void>;
  /** Starts the halted server again on the same port; resolves once it accepts connections. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

interface OsUser {
  uid: number;
  gid: number;
}

const REQUIRED_BINARIES = ['initdb', 'pg_ctl'];
const SUPERUSER = 'postgres';
const DATABASE = 'switchboard_test';
const START_ATTEMPTS = 3;
const COMMAND_TIMEOUT_MS = 120_000;

/** Why PostgreSQL tests cannot run on this machine, or undefined when they can. */
export function postgresUnavailableReason(): string | undefined {
  const missing = REQUIRED_BINARIES.filter((binary) => findExecutable(binary) === undefined);
  return missing.length === 0
    ? undefined
    : `PostgreSQL binaries not found on PATH: ${missing.join(', ')} (install PostgreSQL 15 server binaries)`;
}

/** `describe` for suites that need PostgreSQL (see `describeWhenAvailable`). */
export function describeWithPostgres(title: string, body: () => void): void {
  describeWhenAvailable(title, 'PostgreSQL', postgresUnavailableReason(), body);
}

/**
 * Creates a cluster with `initdb` in a temp dir, starts it with `pg_ctl` on a free 127.0.0.1
 * port and creates a database. As root, it runs as an existing unprivileged user (`postgres`,
 * else `nobody`) because PostgreSQL refuses to run as root.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const reason = postgresUnavailableReason();
  if (reason !== undefined) throw new Error(reason);

  const owner = await clusterOwner();
  const root = await mkdtemp(join(tmpdir(), 'switchboard-pg-'));
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  let running = false;
  let port = 0;

  const halt = async (): Promise<void> => {
    if (!running) return;
    running = false;
    await runAs(owner, root, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w']).catch(() =>
      runAs(owner, root, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w']),
    );
  };

  const resume = async (): Promise<void> => {
    if (running) throw new Error(`PostgreSQL on port ${port} is still running`);
    await startServer(owner, root, dataDir, logFile, port);
    running = true;
  };

  const stop = async (): Promise<void> => {
    try {
      await halt();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  };

  try {
    if (owner) await chown(root, owner.uid, owner.gid);
    await runAs(owner, root, 'initdb', [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--no-locale',
      '--no-sync',
    ]);
    port = await startOnFreePort(owner, root, dataDir, logFile);
    running = true;
    await createDatabase(port);
    return {
      connectionString: `postgres://${SUPERUSER}@127.0.0.1:${port}/${DATABASE}`,
      halt,
      resume,
      stop,
    };
  } catch (error) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await stop();
    throw new Error(`Could not start a test PostgreSQL: ${(error as Error).message}\n${log}`, {
      cause: error,
    });
  }
}

/** The port may be taken between probing and binding, so a failed start is retried on another. */
async function startOnFreePort(
  owner: OsUser | undefined,
  root: string,
  dataDir: string,
  logFile: string,
): Promise<number> {
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      await startServer(owner, root, dataDir, logFile, port);
      return port;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** `pg_ctl start` on `port`; resolves once the server accepts connections. */
async function startServer(
  owner: OsUser | undefined,
  root: string,
  dataDir: string,
  logFile: string,
  port: number,
): Promise<void> {
  const serverOptions = [
    `-p ${port}`,
    `-k ${root}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
  ].join(' ');
  await runAs(owner, root, 'pg_ctl', [
    'start',
    '-D',
    dataDir,
    '-w',
    '-t',
    '60',
    '-l',
    logFile,
    '-o',
    serverOptions,
  ]);
}

async function createDatabase(port: number): Promise<void> {
  const client = new pg.Client({ connectionString: `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres` });
  await client.connect();
  try {
    await client.query(`create database ${DATABASE}`);
  } finally {
    await client.end();
  }
}

async function clusterOwner(): Promise<OsUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const user = await lookUpUser(name);
    if (user) return user;
  }
  throw new Error('Running as root and neither a "postgres" nor a "nobody" user exists to run PostgreSQL');
}

async function lookUpUser(name: string): Promise<OsUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      runAs(undefined, tmpdir(), 'id', ['-u', name]),
      runAs(undefined, tmpdir(), 'id', ['-g', name]),
    ]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    return undefined;
  }
}

function runAs(owner: OsUser | undefined, cwd: string, command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, timeout: COMMAND_TIMEOUT_MS, env: { ...process.env, LC_ALL: 'C' }, ...owner },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}
