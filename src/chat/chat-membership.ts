import { Injectable } from '@nestjs/common';
import type { Audience } from '../realtime/realtime-channel.js';
import { CHAT_NAMESPACE } from './chat.events.js';
import { ChatRepository } from './chat.repository.js';
import { chatRoom } from './chat.service.js';

/** A chat and who is in it. */
export interface MemberChat {
  chatId: string;
  memberIds: string[];
}

/**
 * What other modules may know of chat membership (Presence tells co-members), without reaching
 * into the chat module. Provided by `ChatModule`; a module that finds none runs without it.
 */
export abstract class ChatMembership {
  /** For each of `userIds`, their chats that have at most `maxMembers` members, with their members. */
  abstract smallChatsOf(userIds: readonly string[], maxMembers: number): Promise<Map<string, MemberChat[]>>;

  /** Of `others`, those who share at least one chat with `userId`. */
  abstract sharingAChat(userId: string, others: readonly string[]): Promise<string[]>;

  /** Where chat clients listen for events about these chats: their rooms on `/chat`. */
  abstract audienceOf(chatIds: readonly string[]): { namespace: string; audience: Audience };
}

@Injectable()
export class StoredChatMembership extends ChatMembership {
  constructor(private readonly chats: ChatRepository) {
    super();
  }

  smallChatsOf(userIds: readonly string[], maxMembers: number): Promise<Map<string, MemberChat[]>> {
    return this.chats.smallChatsOf(userIds, maxMembers);
  }

  sharingAChat(userId: string, others: readonly string[]): Promise<string[]> {
    return others.length === 0 ? Promise.resolve([]) : this.chats.usersSharingAChat(userId, others);
  }

  audienceOf(chatIds: readonly string[]): { namespace: string; audience: Audience } {
    return { namespace: CHAT_NAMESPACE, audience: { rooms: chatIds.map(chatRoom) } };
  }
}
