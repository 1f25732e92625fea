import type { ChosenStatus } from '../../src/presence/presence.events.js';
import { PresenceRepository, type StoredPresence } from '../../src/presence/presence.repository.js';

/** The `PresenceRepository` contract in memory, counting every write it is asked for. */
export class InMemoryPresenceRepository extends PresenceRepository {
  private readonly stored = new Map<string, StoredPresence>();
  /** Every write, in order: `status <user> <status>` or `lastSeen <user> <iso>`. */
  readonly writes: string[] = [];

  find(userIds: readonly string[]): Promise<Map<string, StoredPresence>> {
    return Promise.resolve(
      new Map(
        [...new Set(userIds)].map((userId) => [
          userId,
          structuredClone(this.stored.get(userId) ?? { status: 'online', lastSeenAt: null }),
        ]),
      ),
    );
  }

  setStatus(userId: string, status: ChosenStatus, seenAt?: Date): Promise<void> {
    const current = this.stored.get(userId) ?? { status: 'online', lastSeenAt: null };
    this.stored.set(userId, { status, lastSeenAt: seenAt ?? current.lastSeenAt });
    this.writes.push(`status ${userId} ${status}`);
    return Promise.resolve();
  }

  recordLastSeen(userId: string, seenAt: Date): Promise<void> {
    const current = this.stored.get(userId) ?? { status: 'online', lastSeenAt: null };
    this.stored.set(userId, { ...current, lastSeenAt: seenAt });
    this.writes.push(`lastSeen ${userId} ${seenAt.toISOString()}`);
    return Promise.resolve();
  }
}
