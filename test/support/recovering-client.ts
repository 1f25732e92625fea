import type { Socket } from 'socket.io-client';
import {
  ChatEvent,
  type ChatClientToServerEvents,
  type ChatMessage,
  type ChatServerToClientEvents,
} from '../../src/chat/chat.events.js';
import type { CommonServerEvents } from '../../src/contracts/index.js';
import { ackData } from './cluster.js';
import { Conditions } from './conditions.js';

type RecoveringSocket = Socket<ChatServerToClientEvents & CommonServerEvents, ChatClientToServerEvents>;

const SYNC_PAGE_SIZE = 50;

/**
 * A `/chat` client that follows docs/protocol.md's recovery: it holds each chat's messages up to
 * a contiguous `seq`; a live message past the next one makes it sync that chat from there, an
 * older one is a late arrival it already holds. With `followsSignal`, `sync:required` makes it
 * sync every chat it follows after the wait the signal gives. Without, it only sees jumps.
 */
export class RecoveringChatClient {
  private readonly held = new Map<string, ChatMessage[]>();
  private readonly syncing = new Map<string, Promise<void>>();
  private readonly conditions = new Conditions();
  readonly signals: { reason: string; since: string; syncAfterMs: number }[] = [];
  /** Syncs that failed while the socket was connected. */
  readonly failures: unknown[] = [];
  syncCalls = 0;

  constructor(
    private readonly socket: RecoveringSocket,
    readonly followsSignal: boolean,
  ) {
    socket.on(ChatEvent.NewMessage, ({ data }) => this.receive(data));
    socket.on('sync:required', ({ data }) => {
      this.signals.push(data);
      this.changed();
      if (!this.followsSignal) return;
      setTimeout(() => {
        for (const chatId of this.held.keys()) void this.sync(chatId);
      }, data.syncAfterMs);
    });
  }

  /** Starts following a chat, from the start. */
  follow(chatId: string): void {
    if (!this.held.has(chatId)) this.held.set(chatId, []);
  }

  messagesOf(chatId: string): ChatMessage[] {
    return [...(this.held.get(chatId) ?? [])];
  }

  /** Resolves once `condition` holds, checked after every change. */
  until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    return this.conditions.until(condition, what, timeoutMs);
  }

  private receive(message: ChatMessage): void {
    const messages = this.held.get(message.chatId);
    if (!messages) return;
    const lastSeq = messages.at(-1)?.seq ?? 0;
    if (message.seq === lastSeq + 1) this.append(message);
    else if (message.seq > lastSeq + 1) void this.sync(message.chatId);
  }

  /** One sync per chat at a time; another asked for meanwhile runs after it. */
  private sync(chatId: string): Promise<void> {
    const previous = this.syncing.get(chatId) ?? Promise.resolve();
    const next = previous.then(() =>
      this.syncOnce(chatId).catch((error: unknown) => {
        if (this.socket.connected) this.failures.push(error);
      }),
    );
    this.syncing.set(chatId, next);
    return next;
  }

  private async syncOnce(chatId: string): Promise<void> {
    for (;;) {
      const afterSeq = this.held.get(chatId)?.at(-1)?.seq ?? 0;
      this.syncCalls += 1;
      const page = ackData(
        await this.socket.emitWithAck(ChatEvent.Sync, { chatId, afterSeq, limit: SYNC_PAGE_SIZE }),
      );
      for (const message of page.messages) {
        const lastSeq = this.held.get(chatId)?.at(-1)?.seq ?? 0;
        if (message.seq === lastSeq + 1) this.append(message);
      }
      if (!page.hasMore) return;
    }
  }

  private append(message: ChatMessage): void {
    this.held.get(message.chatId)?.push(message);
    this.changed();
  }

  private changed(): void {
    this.conditions.changed();
  }
}
