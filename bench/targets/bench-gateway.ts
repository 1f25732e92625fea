import { Module, type Type } from '@nestjs/common';
import { MessageBody, SubscribeMessage } from '@nestjs/websockets';
import { CurrentUser } from '../../src/auth/current-user.decorator.js';
import type { Principal } from '../../src/auth/principal.js';
import { RealtimeGateway } from '../../src/realtime/realtime-gateway.decorator.js';
import type { ChatMessage } from '../../src/chat/chat.events.js';
import { chatRoom } from '../../src/chat/chat.service.js';
import { SendMessageDto } from '../../src/chat/dto/message.dto.js';
import { envelope } from '../../src/common/envelope.js';
import { RealtimeServer } from '../../src/realtime/realtime-server.js';
import { BENCH_NAMESPACE, NEW_MESSAGE_EVENT, RELAY_EVENT } from '../wire.js';
import { UnstoredMessages } from './messages.js';

/**
 * A host application's gateway on `/chat` with `handlerCount` handlers, served by Switchboard
 * under its rules (authentication, per-socket gate, validation, acks). One handler is the
 * relay: `bench:relay { chatId, content, clientId? }` broadcasts a `message:new` to the chat's
 * room like `message:send` does, without the membership check and without storing anything.
 * The others (`bench:noop:<n>`) only answer, and exist to weigh what a handler costs.
 */
export function benchGatewayModule(handlerCount: number): Type<unknown> {
  if (!Number.isInteger(handlerCount) || handlerCount < 1) {
    throw new Error('The bench gateway has at least one handler: the relay');
  }

  @RealtimeGateway(BENCH_NAMESPACE)
  class BenchGateway {
    private readonly messages = new UnstoredMessages();

    constructor(private readonly realtime: RealtimeServer) {}

    @SubscribeMessage(RELAY_EVENT)
    relay(@MessageBody() request: SendMessageDto, @CurrentUser() user: Principal): ChatMessage {
      const message = this.messages.create(user.userId, request);
      this.realtime
        .namespace(BENCH_NAMESPACE)
        .to(chatRoom(request.chatId))
        .emit(NEW_MESSAGE_EVENT, envelope(NEW_MESSAGE_EVENT, message));
      return message;
    }
  }

  for (let index = 1; index < handlerCount; index += 1) {
    const method = `noop${index}`;
    const descriptor: PropertyDescriptor = { value: () => index, writable: true, configurable: true };
    Object.defineProperty(BenchGateway.prototype, method, descriptor);
    SubscribeMessage(`bench:noop:${index}`)(BenchGateway.prototype, method, descriptor);
  }

  @Module({ providers: [BenchGateway] })
  class BenchGatewayModule {}

  return BenchGatewayModule;
}
