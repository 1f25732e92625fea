import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { performance } from 'node:perf_hooks';
import { translateDatabaseError } from './database-errors.js';

/** Told each query's kind (Kysely's node kind, e.g. `SelectQueryNode`) and how long it took. */
export type QueryDurationListener = (kind: string, seconds: number) => void;

const queryDurationListeners = new Set<QueryDurationListener>();

/**
 * Times every query of every database this process opened (metrics). Returns the function that
 * stops it. Without listeners, queries are not timed at all.
 */
export function onQueryDuration(listener: QueryDurationListener): () => void {
  queryDurationListeners.add(listener);
  return () => queryDurationListeners.delete(listener);
}

async function timed<T>(compiledQuery: CompiledQuery, operation: () => Promise<T>): Promise<T> {
  const startedAt = performance.now();
  try {
    return await operation();
  } finally {
    const seconds = (performance.now() - startedAt) / 1000;
    for (const listener of queryDurationListeners) listener(compiledQuery.query.kind, seconds);
  }
}

async function translatingErrors<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw translateDatabaseError(error);
  }
}

class ErrorTranslatingConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const execute = () => translatingErrors(() => this.inner.executeQuery<R>(compiledQuery));
    return queryDurationListeners.size === 0 ? execute() : timed(compiledQuery, execute);
  }

  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(compiledQuery, chunkSize);
    } catch (error) {
      throw translateDatabaseError(error);
    }
  }
}

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof ErrorTranslatingConnection ? connection.inner : connection;
}

class ErrorTranslatingDriver implements Driver {
  readonly savepoint?: Driver['savepoint'];
  readonly rollbackToSavepoint?: Driver['rollbackToSavepoint'];
  readonly releaseSavepoint?: Driver['releaseSavepoint'];

  constructor(private readonly inner: Driver) {
    // Kysely decides whether savepoints are supported by the presence of these methods.
    const savepoint = inner.savepoint?.bind(inner);
    const rollbackToSavepoint = inner.rollbackToSavepoint?.bind(inner);
    const releaseSavepoint = inner.releaseSavepoint?.bind(inner);
    if (savepoint) {
      this.savepoint = (connection, name, compile) =>
        translatingErrors(() => savepoint(unwrap(connection), name, compile));
    }
    if (rollbackToSavepoint) {
      this.rollbackToSavepoint = (connection, name, compile) =>
        translatingErrors(() => rollbackToSavepoint(unwrap(connection), name, compile));
    }
    if (releaseSavepoint) {
      this.releaseSavepoint = (connection, name, compile) =>
        translatingErrors(() => releaseSavepoint(unwrap(connection), name, compile));
    }
  }

  init(): Promise<void> {
    return translatingErrors(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new ErrorTranslatingConnection(await translatingErrors(() => this.inner.acquireConnection()));
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return translatingErrors(() => this.inner.beginTransaction(unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return translatingErrors(() => this.inner.commitTransaction(unwrap(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return translatingErrors(() => this.inner.rollbackTransaction(unwrap(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/**
 * Wraps a Kysely dialect so that every query, transaction and connection attempt reports an
 * unreachable database as `AppError.unavailable`, whichever repository issued it.
 */
export class ErrorTranslatingDialect implements Dialect {
  constructor(private readonly inner: Dialect) {}

  createDriver(): Driver {
    return new ErrorTranslatingDriver(this.inner.createDriver());
  }

  createQueryCompiler(): QueryCompiler {
    return this.inner.createQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return this.inner.createAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return this.inner.createIntrospector(db);
  }
}
