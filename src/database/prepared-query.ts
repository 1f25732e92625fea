import type { Compilable, CompiledQuery, QueryResult } from 'kysely';

/** What runs a compiled query: a `Kysely` instance or a transaction. */
export interface CompiledQueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** Stands for a parameter while the query is built; its position is found after compiling. */
class Placeholder {
  constructor(readonly name: string) {}
}

/**
 * A query built and compiled once, then run with new values: building and compiling Kysely's
 * query tree costs more than SQLite takes to run a prepared statement, which matters on the
 * paths taken per connection and per message. The builder gets stand-ins for the parameters;
 * they must reach the query as bound values (`where`, `values`), not be computed with.
 */
export class PreparedQuery<Params extends Record<string, unknown>, Row> {
  private readonly compiled: CompiledQuery<Row>;
  /** For each compiled parameter: the name of the value it takes, or the constant it is. */
  private readonly slots: readonly unknown[];

  constructor(
    private readonly db: CompiledQueryRunner,
    build: (params: Params) => Compilable<Row>,
    names: readonly (keyof Params & string)[],
  ) {
    const stands = Object.fromEntries(names.map((name) => [name, new Placeholder(name)])) as Params;
    this.compiled = build(stands).compile();
    this.slots = this.compiled.parameters;
    const used = new Set(this.slots.filter((slot) => slot instanceof Placeholder).map((slot) => slot.name));
    const unused = names.filter((name) => !used.has(name));
    if (unused.length > 0) throw new Error(`Prepared query does not bind ${unused.join(', ')}`);
  }

  async execute(values: Params): Promise<Row[]> {
    const parameters = this.slots.map((slot) => (slot instanceof Placeholder ? values[slot.name] : slot));
    const result = await this.db.executeQuery<Row>({ ...this.compiled, parameters });
    return result.rows;
  }

  async executeTakeFirst(values: Params): Promise<Row | undefined> {
    return (await this.execute(values))[0];
  }
}
