/** A user whose last connection closed, waiting out the grace period. */
export interface LeavingUser {
  userId: string;
  /** When their last connection closed, in epoch milliseconds. */
  leftAt: number;
}

/**
 * Who is announced online across the cluster, and who is leaving (docs/protocol.md, Presence).
 * The store arbitrates between instances: of several racing to announce a user online or
 * offline, exactly one wins, so every transition is told once.
 */
export abstract class PresenceStateStore {
  /**
   * The user has a connection: cancels a pending offline. True when they were not announced
   * online (neither online nor leaving): the caller tells the change.
   */
  abstract markOnline(userId: string): Promise<boolean>;

  /** The user's last connection closed at `leftAt`; they go offline after the grace unless back. */
  abstract markLeaving(userId: string, leftAt: number): Promise<void>;

  /** The users who left at or before `leftBefore` and are still leaving. */
  abstract leavingSince(leftBefore: number): Promise<LeavingUser[]>;

  /** The user turned out to be connected after all: no longer leaving, still online. */
  abstract keepOnline(userId: string): Promise<void>;

  /**
   * Takes a leaving user offline. True when this call did (the caller tells the change); false
   * when they came back meanwhile or another instance took them offline first.
   */
  abstract markOffline(userId: string): Promise<boolean>;

  /** Every user announced online, leaving ones included. */
  abstract onlineUsers(): Promise<string[]>;

  /** How many users `onlineUsers` would list, without listing them (metrics, on each scrape). */
  abstract countOnline(): Promise<number>;

  /** Of `userIds`, those announced online (leaving ones included). */
  abstract onlineAmong(userIds: readonly string[]): Promise<Set<string>>;

  /**
   * Whether the store still holds what `instanceId` put there, e.g. false once after Redis
   * restarted empty; the instance then puts its users back with `restore`.
   */
  abstract holdsStateOf(instanceId: string): Promise<boolean>;

  /** Puts users back online without telling anyone: they were online before the store lost them. */
  abstract restore(userIds: readonly string[]): Promise<void>;
}

/** The state of a single instance, in process. */
export class MemoryPresenceStateStore extends PresenceStateStore {
  private readonly online = new Set<string>();
  private readonly leaving = new Map<string, number>();

  markOnline(userId: string): Promise<boolean> {
    this.leaving.delete(userId);
    const added = !this.online.has(userId);
    this.online.add(userId);
    return Promise.resolve(added);
  }

  markLeaving(userId: string, leftAt: number): Promise<void> {
    this.online.add(userId);
    this.leaving.set(userId, leftAt);
    return Promise.resolve();
  }

  leavingSince(leftBefore: number): Promise<LeavingUser[]> {
    return Promise.resolve(
      [...this.leaving]
        .filter(([, leftAt]) => leftAt <= leftBefore)
        .map(([userId, leftAt]) => ({ userId, leftAt })),
    );
  }

  keepOnline(userId: string): Promise<void> {
    this.leaving.delete(userId);
    return Promise.resolve();
  }

  markOffline(userId: string): Promise<boolean> {
    if (!this.leaving.delete(userId)) return Promise.resolve(false);
    return Promise.resolve(this.online.delete(userId));
  }

  onlineUsers(): Promise<string[]> {
    return Promise.resolve([...this.online]);
  }

  countOnline(): Promise<number> {
    return Promise.resolve(this.online.size);
  }

  onlineAmong(userIds: readonly string[]): Promise<Set<string>> {
    return Promise.resolve(new Set(userIds.filter((userId) => this.online.has(userId))));
  }

  holdsStateOf(): Promise<boolean> {
    return Promise.resolve(true);
  }

  restore(userIds: readonly string[]): Promise<void> {
    for (const userId of userIds) this.online.add(userId);
    return Promise.resolve();
  }
}
