import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Hands Kysely's SQLite driver a prepared statement per distinct SQL text instead of compiling
 * the same statement again for every query: the hot paths (storing a message, membership
 * checks) then skip SQLite's parser and planner. Least recently used statements are evicted
 * beyond `capacity`, which bounds memory when SQL text varies (e.g. multi-row inserts).
 */
export class SqliteStatementCache implements SqliteDatabase {
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly capacity: number,
  ) {}

  prepare(sql: string): SqliteStatement {
    const cached = this.statements.get(sql);
    if (cached) {
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    const statement = this.database.prepare(sql);
    this.statements.set(sql, statement);
    if (this.statements.size > this.capacity) {
      const leastRecentlyUsed = this.statements.keys().next().value;
      if (leastRecentlyUsed !== undefined) this.statements.delete(leastRecentlyUsed);
    }
    return statement;
  }

  close(): void {
    this.statements.clear();
    this.database.close();
  }
}
