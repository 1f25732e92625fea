import { randomUUID } from 'node:crypto';
import type { AdminAuditRepository, NewAuditEntry } from '../../src/admin/admin-audit.repository.js';
import type { AuditEntry } from '../../src/admin/admin.events.js';
import { KyselyAdminAuditRepository } from '../../src/admin/kysely-admin-audit.repository.js';
import { DatabaseService } from '../../src/database/database.service.js';
import { describeOnEachDatabase } from '../support/contract-databases.js';
import { InMemoryAdminAuditRepository } from '../support/memory-admin-audit.repository.js';

function newEntry(overrides: Partial<NewAuditEntry> = {}): NewAuditEntry {
  return {
    actorId: `admin-${randomUUID()}`,
    action: 'user.disconnected',
    target: `user-${randomUUID()}`,
    reason: 'spamming the lobby',
    details: { revoke: true, connections: 2, sessions: ['s-1', 's-2'], nested: { deep: [1, 'two', null] } },
    address: '203.0.113.7',
    via: 'socket',
    createdAt: new Date('2031-05-06T07:08:09.123Z'),
    ...overrides,
  };
}

/** What every `AdminAuditRepository` must do: each database, and the tests' double. */
function adminAuditRepositoryContract(repository: () => AdminAuditRepository): void {
  it('stores who did what to whom, why, when and from where, and answers it with its id', async () => {
    const entry = newEntry();
    const stored = await repository().append(entry);
    expect(stored).toEqual({
      id: expect.any(Number),
      actorId: entry.actorId,
      action: 'user.disconnected',
      target: entry.target,
      reason: 'spamming the lobby',
      details: entry.details,
      address: '203.0.113.7',
      via: 'socket',
      createdAt: '2031-05-06T07:08:09.123Z',
    });
    const { entries } = await repository().page({ limit: 1 });
    expect(entries).toEqual([stored]);
  });

  it('keeps the fields an action may lack as null, and empty details as an object', async () => {
    const stored = await repository().append(
      newEntry({ action: 'broadcast', target: null, reason: null, address: null, details: {}, via: 'rest' }),
    );
    expect(stored).toEqual(
      expect.objectContaining({
        action: 'broadcast',
        target: null,
        reason: null,
        address: null,
        details: {},
      }),
    );
    expect((await repository().page({ limit: 1 })).entries).toEqual([stored]);
  });

  it('gives increasing ids and pages newest first, with a cursor', async () => {
    const actorId = `admin-${randomUUID()}`;
    const stored: AuditEntry[] = [];
    for (const action of ['user.disconnected', 'broadcast', 'session.revoked'] as const) {
      stored.push(await repository().append(newEntry({ actorId, action })));
    }
    const [first, second, third] = stored as [AuditEntry, AuditEntry, AuditEntry];
    expect(first.id).toBeLessThan(second.id);
    expect(second.id).toBeLessThan(third.id);

    const newest = await repository().page({ limit: 2 });
    expect(newest).toEqual({ entries: [third, second], hasMore: true });
    const older = await repository().page({ before: second.id, limit: 1 });
    expect(older.entries).toEqual([first]);
    expect((await repository().page({ before: third.id + 1, limit: 3 })).entries).toEqual([
      third,
      second,
      first,
    ]);
    expect(await repository().page({ before: 1, limit: 5 })).toEqual({ entries: [], hasMore: false });
  });

  it('offers no way to change or delete an entry', () => {
    const methods = new Set<string>();
    for (
      let prototype: unknown = Object.getPrototypeOf(repository());
      prototype !== null && prototype !== Object.prototype;
      prototype = Object.getPrototypeOf(prototype)
    ) {
      for (const name of Object.getOwnPropertyNames(prototype)) if (name !== 'constructor') methods.add(name);
    }
    expect([...methods].filter((name) => !['append', 'page'].includes(name))).toEqual([]);
  });
}

describe('InMemoryAdminAuditRepository (the tests’ double)', () => {
  const repository = new InMemoryAdminAuditRepository();
  adminAuditRepositoryContract(() => repository);
});

describeOnEachDatabase(
  'KyselyAdminAuditRepository',
  (database) => new KyselyAdminAuditRepository(database),
  (opened) => {
    adminAuditRepositoryContract(() => opened().repository);

    it('keeps the entries when the database is opened again', async () => {
      const { target, repository } = opened();
      const stored = await repository.append(newEntry({ action: 'session.revoked', target: 'sid-kept' }));
      const reopened = await DatabaseService.connect(target);
      try {
        const { entries } = await new KyselyAdminAuditRepository(reopened).page({ limit: 1 });
        expect(entries).toEqual([stored]);
      } finally {
        await reopened.close();
      }
    });
  },
);
