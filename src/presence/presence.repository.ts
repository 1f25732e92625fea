import type { ChosenStatus } from './presence.events.js';

/** What is stored of a user's presence. */
export interface StoredPresence {
  /** The status the user chose; `online` when they never chose one. */
  status: ChosenStatus;
  /** When the user was last seen online as others may know it; null if never. */
  lastSeenAt: Date | null;
}

/**
 * Storage of chosen statuses and last-seen times. Unknown users read as `online` (never chose)
 * and never seen; a database that cannot be reached makes every method reject with `AppError`
 * `SERVICE_UNAVAILABLE`.
 */
export abstract class PresenceRepository {
  /** The stored presence of each of `userIds` (all of them, known or not). */
  abstract find(userIds: readonly string[]): Promise<Map<string, StoredPresence>>;

  /** Stores the chosen status; with `seenAt`, the last-seen time too (going invisible). */
  abstract setStatus(userId: string, status: ChosenStatus, seenAt?: Date): Promise<void>;

  /** Stores when the user was last seen (their last connection closed). */
  abstract recordLastSeen(userId: string, seenAt: Date): Promise<void>;
}
