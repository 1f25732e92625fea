import { Module } from '@nestjs/common';
import { ChatRoomRepair } from './chat-room.repair.js';
import { ChatController } from './chat.controller.js';
import { ChatGateway } from './chat.gateway.js';
import { ChatRepository } from './chat.repository.js';
import { ChatService } from './chat.service.js';
import { KyselyChatRepository } from './kysely-chat.repository.js';

/** Chats over `/chat` and `/api/chats`; importing modules use `ChatService`. */
@Module({
  controllers: [ChatController],
  providers: [
    ChatService,
    ChatGateway,
    ChatRoomRepair,
    { provide: ChatRepository, useClass: KyselyChatRepository },
  ],
  exports: [ChatService],
})
export class ChatModule {}
