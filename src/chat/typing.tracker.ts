import { guarded } from '../common/failure-log.js';
export interface TypingKey {
  chatId: string;
  userId: string;
}

export interface TypingTrackerOptions {
  /** A state not refreshed for this long ends by itself. */
  idleMs: number;
  /** Refreshes closer together than this do not ask for a new broadcast. */
  rebroadcastMs: number;
  /** Called when a state ends by itself. */
  onIdle: (key: TypingKey) => void;
}

interface TypingEntry extends TypingKey {
  /** The socket that refreshed the state last; its disconnect ends the state. */
  socketId: string;
  lastAnnouncedAt: number;
  idleTimer: NodeJS.Timeout;
}

/**
 * Who is typing where, on this instance: one state per (chat, user), each with the timer that
 * ends it after `idleMs` without a refresh. A typing user's events reach the instance holding
 * their socket, so that instance alone decides when to announce and when the state lapses.
 */
export class TypingTracker {
  private readonly entries = new Map<string, TypingEntry>();
  private readonly keysBySocket = new Map<string, Set<string>>();

  constructor(private readonly options: TypingTrackerOptions) {}

  /**
   * Starts or refreshes the state of `key` from `socketId`. True when the others should be told:
   * the state is new, or it was last announced at least `rebroadcastMs` ago.
   */
  touch(key: TypingKey, socketId: string): boolean {
    const id = entryId(key);
    const now = Date.now();
    const existing = this.entries.get(id);
    if (existing) clearTimeout(existing.idleTimer);
    const announce = !existing || now - existing.lastAnnouncedAt >= this.options.rebroadcastMs;
    if (existing && existing.socketId !== socketId) this.unindex(id, existing.socketId);
    const idleTimer = setTimeout(
      guarded('end an idle typing state', () => {
        if (this.remove(id)) this.options.onIdle({ chatId: key.chatId, userId: key.userId });
      }),
      this.options.idleMs,
    );
    idleTimer.unref();
    this.entries.set(id, {
      chatId: key.chatId,
      userId: key.userId,
      socketId,
      lastAnnouncedAt: existing && !announce ? existing.lastAnnouncedAt : now,
      idleTimer,
    });
    const keys = this.keysBySocket.get(socketId) ?? new Set<string>();
    keys.add(id);
    this.keysBySocket.set(socketId, keys);
    return announce;
  }

  /** Ends the state of `key`; true when there was one. */
  end(key: TypingKey): boolean {
    return this.remove(entryId(key)) !== undefined;
  }

  /** Ends every state last refreshed by `socketId` and returns their keys. */
  endAllOf(socketId: string): TypingKey[] {
    const ids = [...(this.keysBySocket.get(socketId) ?? [])];
    return ids.flatMap((id) => {
      const entry = this.remove(id);
      return entry ? [{ chatId: entry.chatId, userId: entry.userId }] : [];
    });
  }

  /** Forgets every state without announcing anything (shutdown). */
  clear(): void {
    for (const entry of this.entries.values()) clearTimeout(entry.idleTimer);
    this.entries.clear();
    this.keysBySocket.clear();
  }

  private remove(id: string): TypingEntry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    clearTimeout(entry.idleTimer);
    this.entries.delete(id);
    this.unindex(id, entry.socketId);
    return entry;
  }

  private unindex(id: string, socketId: string): void {
    const keys = this.keysBySocket.get(socketId);
    if (!keys) return;
    keys.delete(id);
    if (keys.size === 0) this.keysBySocket.delete(socketId);
  }
}

function entryId({ chatId, userId }: TypingKey): string {
  return JSON.stringify([chatId, userId]);
}
