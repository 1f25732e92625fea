import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import BetterSqlite3 from 'better-sqlite3';
import {
  DEFAULT_MIGRATION_TABLE,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  sql,
  type Dialect,
} from 'kysely';
import pg, { type CustomTypesConfig } from 'pg';
import type { DatabaseTarget } from '../config/app-config.js';
import type { EnabledFeatures } from '../config/features.js';
import { AppError } from '../common/errors.js';
import { ErrorTranslatingDialect } from './error-translating-dialect.js';
import { InCodeMigrationProvider } from './migrations/index.js';
import type { DatabaseSchema } from './schema.js';
import { SqliteStatementCache } from './sqlite-statement-cache.js';

export type DatabaseDialect = DatabaseTarget['kind'];

export interface DatabaseHealth {
  status: 'up' | 'down';
  latencyMs?: number;
  error?: string;
}

const SQLITE_BUSY_TIMEOUT_MS = 5_000;
const SQLITE_STATEMENT_CACHE_CAPACITY = 256;
const POSTGRES_CONNECT_TIMEOUT_MS = 5_000;
const HEALTH_CHECK_TIMEOUT_MS = 3_000;

const logger = new Logger('DatabaseService');

/**
 * The one connection to the configured database (SQLite file or PostgreSQL pool), migrated to
 * the latest schema before anything uses it. Repositories query through `db`.
 */
export class DatabaseService implements OnApplicationShutdown {
  private closing?: Promise<void>;

  private constructor(
    readonly db: Kysely<DatabaseSchema>,
    /** Which SQL the few statements that cannot be written alike for both must speak. */
    readonly dialect: DatabaseDialect,
  ) {}

  /**
   * Opens the database and applies the pending migrations of `features` (every feature's when
   * absent); fails if either is impossible.
   */
  static async connect(target: DatabaseTarget, features?: EnabledFeatures): Promise<DatabaseService> {
    const db = new Kysely<DatabaseSchema>({ dialect: new ErrorTranslatingDialect(createDialect(target)) });
    try {
      await migrateToLatest(db, target.kind, features);
    } catch (error) {
      await db.destroy();
      throw error;
    }
    return new DatabaseService(db, target.kind);
  }

  async checkHealth(): Promise<DatabaseHealth> {
    const startedAt = performance.now();
    try {
      await withTimeout(sql`select 1`.execute(this.db), HEALTH_CHECK_TIMEOUT_MS);
      return { status: 'up', latencyMs: Number((performance.now() - startedAt).toFixed(2)) };
    } catch (error) {
      return { status: 'down', error: describeFailure(error) };
    }
  }

  close(): Promise<void> {
    this.closing ??= this.db.destroy();
    return this.closing;
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }
}

function createDialect(target: DatabaseTarget): Dialect {
  return target.kind === 'sqlite'
    ? new SqliteDialect({ database: openSqlite(target.filename) })
    : new PostgresDialect({ pool: createPostgresPool(target.connectionString, target.poolSize) });
}

function openSqlite(filename: string): SqliteStatementCache {
  if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
  const database = new BetterSqlite3(filename);
  try {
    database.pragma('journal_mode = WAL');
    // With WAL, NORMAL keeps the file consistent after any crash and only risks the last
    // commits on power loss, while sparing an fsync per stored message.
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  } catch (error) {
    database.close();
    throw error;
  }
  return new SqliteStatementCache(database, SQLITE_STATEMENT_CACHE_CAPACITY);
}

function createPostgresPool(connectionString: string, poolSize: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
    application_name: 'switchboard',
    types: postgresTypes,
  });
  // An idle client whose server goes away emits here; without a listener the process would crash.
  pool.on('error', (error) => logger.warn(`Idle PostgreSQL connection lost: ${error.message}`));
  return pool;
}

/** Ids and epoch milliseconds are bigint columns; they fit a JavaScript number exactly. */
const postgresTypes: CustomTypesConfig = {
  getTypeParser: (oid, format) =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? parseSafeInteger
      : (pg.types.getTypeParser(oid, format) as (value: string) => unknown),
};

function parseSafeInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) {
    throw new RangeError(`Integer ${value} is beyond the safe JavaScript range`);
  }
  return parsed;
}

async function migrateToLatest(
  db: Kysely<DatabaseSchema>,
  dialect: DatabaseDialect,
  features: EnabledFeatures | undefined,
): Promise<void> {
  const provider = new InCodeMigrationProvider(dialect, { features, applied: await appliedMigrations(db) });
  // A feature chosen after others ran theirs has migrations named before theirs: allowed.
  const migrator = new Migrator({ db, provider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  for (const result of results ?? []) {
    if (result.status === 'Success') logger.log(`Applied migration ${result.migrationName}`);
  }
  if (error === undefined) return;
  const failed = results?.find((result) => result.status === 'Error')?.migrationName;
  throw new Error(failed ? `Database migration ${failed} failed` : 'Database migration failed', {
    cause: error,
  });
}

/** The migrations this database already ran (none when Kysely's table does not exist yet). */
async function appliedMigrations(db: Kysely<DatabaseSchema>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((table) => table.name === DEFAULT_MIGRATION_TABLE)) return [];
  const { rows } = await sql<{
    name: string;
  }>`select name from ${sql.table(DEFAULT_MIGRATION_TABLE)}`.execute(db);
  return rows.map((row) => row.name);
}

async function withTimeout<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([operation, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeFailure(error: unknown): string {
  return error instanceof AppError && error.cause !== undefined
    ? `${error.message}: ${messageOf(error.cause)}`
    : messageOf(error);
}

function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}
