import { Logger } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { RealtimeGateway } from '../realtime/realtime-gateway.decorator.js';
import { identityOf } from '../connections/connection.types.js';
import { HandshakeError } from '../common/errors.js';
import { CHAT_NAMESPACE, ChatEvent, type ReadReceipt, type TypingState } from './chat.events.js';
import { ChatService } from './chat.service.js';
import type { ChatMessage, SyncPage } from './chat.types.js';
import {
  DeleteMessageDto,
  EditMessageDto,
  ReadMessageDto,
  SendMessageDto,
  SyncDto,
  TypingDto,
} from './dto/message.dto.js';
import { errorMessage } from '../common/failure-log.js';

/**
 * The `/chat` namespace (docs/protocol.md, Chat). A socket is in `user:<id>` and in the room of every chat
 * of its user before it connects, so the `authenticated` event already finds it there.
 */
@RealtimeGateway(CHAT_NAMESPACE)
export class ChatGateway implements OnGatewayInit<Namespace>, OnGatewayDisconnect<Socket> {
  private readonly logger = new Logger(ChatGateway.name);

  constructor(private readonly chat: ChatService) {}

  /**
   * Runs after the authentication middleware. A socket whose chats cannot be loaded is refused
   * rather than connected without its rooms, where it would silently miss its chats' messages.
   */
  afterInit(namespace: Namespace): void {
    namespace.use((socket, next) => {
      this.joinRooms(socket).then(
        () => next(),
        (error: unknown) => {
          this.logger.error(
            `Refused a /chat socket of ${identityOf(socket).userId}: its chats could not be loaded: ${errorMessage(error)}`,
          );
          next(
            new HandshakeError(
              'SERVICE_UNAVAILABLE',
              'Your chats could not be loaded; reconnect in a moment',
            ),
          );
        },
      );
    });
  }

  handleDisconnect(socket: Socket): void {
    this.chat.endTypingOf(socket.id);
  }

  @SubscribeMessage(ChatEvent.SendMessage)
  async send(@MessageBody() request: SendMessageDto, @CurrentUser() user: Principal): Promise<ChatMessage> {
    return (await this.chat.sendMessage(user, request)).message;
  }

  @SubscribeMessage(ChatEvent.EditMessage)
  edit(@MessageBody() request: EditMessageDto, @CurrentUser() user: Principal): Promise<ChatMessage> {
    return this.chat.editMessage(user, request);
  }

  @SubscribeMessage(ChatEvent.DeleteMessage)
  delete(@MessageBody() request: DeleteMessageDto, @CurrentUser() user: Principal): Promise<ChatMessage> {
    return this.chat.deleteMessage(user, request);
  }

  @SubscribeMessage(ChatEvent.Read)
  read(@MessageBody() request: ReadMessageDto, @CurrentUser() user: Principal): Promise<ReadReceipt> {
    return this.chat.markRead(user, request);
  }

  @SubscribeMessage(ChatEvent.Typing)
  typing(
    @MessageBody() request: TypingDto,
    @CurrentUser() user: Principal,
    @ConnectedSocket() socket: Socket,
  ): Promise<TypingState> {
    return this.chat.startTyping(user, request.chatId, socket.id);
  }

  @SubscribeMessage(ChatEvent.StopTyping)
  stopTyping(@MessageBody() request: TypingDto, @CurrentUser() user: Principal): Promise<TypingState> {
    return this.chat.stopTyping(user, request.chatId);
  }

  @SubscribeMessage(ChatEvent.Sync)
  sync(@MessageBody() request: SyncDto, @CurrentUser() user: Principal): Promise<SyncPage> {
    return this.chat.sync(user, request);
  }

  private async joinRooms(socket: Socket): Promise<void> {
    const { userId } = identityOf(socket);
    await socket.join(await this.chat.chatRoomsOf(userId));
  }
}
