import type { Socket } from 'socket.io-client';
import {
  ChatEvent,
  type ChatClientToServerEvents,
  type ChatServerPayloads,
  type ChatServerToClientEvents,
} from '../../src/chat/chat.events.js';
import type { Envelope } from '../../src/common/envelope.js';

type ServerEvent = keyof ChatServerPayloads;

/** Everything a `/chat` socket receives, in order, with a way to wait for what has not come yet. */
export class ChatInbox {
  readonly received: { event: string; envelope: Envelope }[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(socket: Socket<ChatServerToClientEvents, ChatClientToServerEvents>) {
    socket.onAny((event: string, envelope: Envelope) => {
      this.received.push({ event, envelope });
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  of<E extends ServerEvent>(event: E): Envelope<E, ChatServerPayloads[E]>[] {
    return this.received
      .filter((entry) => entry.event === event)
      .map((entry) => entry.envelope as Envelope<E, ChatServerPayloads[E]>);
  }

  /** Ids of the `message:new` events received so far, in order of arrival. */
  newMessageIds(): number[] {
    return this.of(ChatEvent.NewMessage).map((envelope) => envelope.data.id);
  }

  /** The first envelope of `event` satisfying `matches`, received already or to come. */
  waitFor<E extends ServerEvent>(
    event: E,
    matches: (data: ChatServerPayloads[E]) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Envelope<E, ChatServerPayloads[E]>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.of(event).find((envelope) => matches(envelope.data));
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`No matching "${event}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}
