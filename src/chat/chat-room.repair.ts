import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { identityOf } from '../connections/connection.types.js';
import { DeliveryGaps } from '../realtime/delivery-gaps.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { CHAT_NAMESPACE } from './chat.events.js';
import { ChatService, isChatRoom } from './chat.service.js';

/** Users whose rooms are looked up at once; keeps a repair from flooding the database. */
const CONCURRENT_LOOKUPS = 8;

/**
 * Member additions and removals move sockets between chat rooms through the adapter, so those
 * made while the path between instances was down never reached the other instances' sockets.
 * After each delivery gap, this instance re-derives its own sockets' chat rooms from storage: a
 * removed member stops receiving, an added one starts (docs/protocol.md, Recovery).
 */
@Injectable()
export class ChatRoomRepair implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ChatRoomRepair.name);
  private stopListening?: () => void;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly gaps: DeliveryGaps,
    private readonly realtime: RealtimeServer,
    private readonly chat: ChatService,
  ) {}

  onModuleInit(): void {
    this.stopListening = this.gaps.onGap(() => this.repair());
  }

  onModuleDestroy(): void {
    this.stopListening?.();
  }

  /** Resolves once the rooms match storage; a gap during a repair runs one more after it. */
  repair(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.repairAll().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.repair();
      }
    });
    return this.running;
  }

  private async repairAll(): Promise<void> {
    if (!this.realtime.isReady) return;
    const socketsByUser = new Map<string, Socket[]>();
    for (const socket of this.realtime.namespace(CHAT_NAMESPACE).sockets.values()) {
      const { userId } = identityOf(socket);
      socketsByUser.set(userId, [...(socketsByUser.get(userId) ?? []), socket]);
    }
    const users = [...socketsByUser.entries()];
    let moved = 0;
    let failed = 0;
    const work = async () => {
      for (let next = users.pop(); next !== undefined; next = users.pop()) {
        const [userId, sockets] = next;
        try {
          const rooms = new Set(await this.chat.chatRoomsOf(userId));
          for (const socket of sockets) moved += await reconcile(socket, rooms);
        } catch {
          failed += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT_LOOKUPS }, work));
    if (moved > 0 || failed > 0) {
      this.logger.log(
        `Chat rooms repaired after a delivery gap: ${moved} room changes, ${failed} users not looked up`,
      );
    }
  }
}

/** Puts a connected socket in exactly `rooms` among the chat rooms; answers how many it changed. */
async function reconcile(socket: Socket, rooms: ReadonlySet<string>): Promise<number> {
  if (!socket.connected) return 0;
  let changes = 0;
  for (const room of [...socket.rooms]) {
    if (isChatRoom(room) && !rooms.has(room)) {
      await socket.leave(room);
      changes += 1;
    }
  }
  const missing = [...rooms].filter((room) => !socket.rooms.has(room));
  if (missing.length > 0) {
    await socket.join(missing);
    changes += missing.length;
  }
  return changes;
}
