import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseTarget } from '../../src/config/app-config.js';
import { DatabaseService } from '../../src/database/database.service.js';
import { describeWithPostgres, startPostgres, type TestPostgres } from './postgres.js';

const START_TIMEOUT_MS = 120_000;

/** A database opened for a suite: where it is (to open it again), the service, and the repository on it. */
export interface OpenedDatabase<Repository> {
  target: DatabaseTarget;
  database: DatabaseService;
  repository: Repository;
}

/**
 * Declares `body` once per real database: a SQLite file in a temporary directory (`<subject> on
 * a SQLite file`), and PostgreSQL when its binaries are there (`<subject> on PostgreSQL`). Each
 * database is opened once for its suite, migrated, with `repositoryOn` built on it; `opened()`
 * answers them inside the tests.
 */
export function describeOnEachDatabase<Repository>(
  subject: string,
  repositoryOn: (database: DatabaseService) => Repository,
  body: (opened: () => OpenedDatabase<Repository>) => void,
): void {
  let directory: string | undefined;
  describeOn(
    `${subject} on a SQLite file`,
    async () => {
      directory = await mkdtemp(join(tmpdir(), 'switchboard-contract-'));
      return { kind: 'sqlite', filename: join(directory, 'contract.db') };
    },
    async () => {
      if (directory) await rm(directory, { recursive: true, force: true });
    },
    repositoryOn,
    body,
  );

  let postgres: TestPostgres | undefined;
  describeWithPostgres(`${subject} on PostgreSQL`, () => {
    describeOn(
      'contract',
      async () => {
        postgres = await startPostgres();
        return { kind: 'postgres', connectionString: postgres.connectionString, poolSize: 4 };
      },
      async () => {
        await postgres?.stop();
      },
      repositoryOn,
      body,
    );
  });
}

function describeOn<Repository>(
  title: string,
  openTarget: () => Promise<DatabaseTarget>,
  cleanUp: () => Promise<void>,
  repositoryOn: (database: DatabaseService) => Repository,
  body: (opened: () => OpenedDatabase<Repository>) => void,
): void {
  describe(title, () => {
    let opened: OpenedDatabase<Repository> | undefined;

    beforeAll(async () => {
      const target = await openTarget();
      const database = await DatabaseService.connect(target);
      opened = { target, database, repository: repositoryOn(database) };
    }, START_TIMEOUT_MS);

    afterAll(async () => {
      await opened?.database.close();
      await cleanUp();
    }, START_TIMEOUT_MS);

    body(() => {
      if (!opened) throw new Error('The database did not open');
      return opened;
    });
  });
}
