import { Module } from '@nestjs/common';
import { ChatMembership, StoredChatMembership } from './chat-membership.js';
import { ChatRoomRepair } from './chat-room.repair.js';
import { ChatController } from './chat.controller.js';
import { ChatGateway } from './chat.gateway.js';
import { ChatRepository } from './chat.repository.js';
import { ChatService } from './chat.service.js';
import { KyselyChatRepository } from './kysely-chat.repository.js';

/**
 * Chats over `/chat` and `/api/chats`; importing modules use `ChatService`, and `ChatMembership`
 * for who is in which chat.
 */
@Module({
  controllers: [ChatController],
  providers: [
    ChatService,
    ChatGateway,
    ChatRoomRepair,
    { provide: ChatRepository, useClass: KyselyChatRepository },
    { provide: ChatMembership, useClass: StoredChatMembership },
  ],
  exports: [ChatService, ChatMembership],
})
export class ChatModule {}
