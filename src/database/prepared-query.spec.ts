import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type Generated } from 'kysely';
import { PreparedQuery } from './prepared-query.js';

interface Schema {
  notes: { id: Generated<number>; owner: string; body: string; pinned: number };
}

describe('PreparedQuery', () => {
  let db: Kysely<Schema>;

  beforeEach(async () => {
    db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
    await db.schema
      .createTable('notes')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('owner', 'text', (column) => column.notNull())
      .addColumn('body', 'text', (column) => column.notNull())
      .addColumn('pinned', 'integer', (column) => column.notNull())
      .execute();
  });
  afterEach(() => db.destroy());

  it('runs one compiled statement with new values each time, keeping the constants it was built with', async () => {
    const insert = new PreparedQuery(
      db,
      (params: { owner: string; body: string }) =>
        db.insertInto('notes').values({ owner: params.owner, body: params.body, pinned: 1 }).returningAll(),
      ['owner', 'body'],
    );
    const byOwner = new PreparedQuery(
      db,
      (params: { owner: string }) =>
        db
          .selectFrom('notes')
          .select('body')
          .where('owner', '=', params.owner)
          .where('pinned', '=', 1)
          .orderBy('id'),
      ['owner'],
    );

    expect(await insert.executeTakeFirst({ owner: 'ada', body: 'first' })).toEqual({
      id: 1,
      owner: 'ada',
      body: 'first',
      pinned: 1,
    });
    await insert.execute({ owner: 'bob', body: 'other' });
    await insert.execute({ owner: 'ada', body: 'second' });

    expect(await byOwner.execute({ owner: 'ada' })).toEqual([{ body: 'first' }, { body: 'second' }]);
    expect(await byOwner.execute({ owner: 'bob' })).toEqual([{ body: 'other' }]);
    expect(await byOwner.executeTakeFirst({ owner: 'nobody' })).toBeUndefined();
  });

  it('refuses a builder that leaves a named parameter out of the query', () => {
    expect(
      () =>
        new PreparedQuery(
          db,
          (_params: { owner: string; body: string }) =>
            db.selectFrom('notes').selectAll().where('owner', '=', 'x'),
          ['owner', 'body'],
        ),
    ).toThrow('Prepared query does not bind owner, body');
  });
});
