import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { envelope } from '../../src/common/envelope.js';
import {
  baselineChatRoom,
  baselineUserRoom,
  BENCH_NAMESPACE,
  NEW_MESSAGE_EVENT,
  SEND_EVENT,
} from '../wire.js';
import { reportStartFailure, serveControl } from './control.js';
import { asSendRequest, UnstoredMessages } from './messages.js';
import { MAX_PAYLOAD_BYTES } from './settings.js';

/**
 * Bare Socket.IO 4.8 with the transport and parser settings Switchboard's adapter uses
 * (default transports and parser, no client bundle, the same packet limit, no compression)
 * and nothing else: no authentication, no validation, no storage. A socket joins the rooms
 * named in its handshake `auth`; `message:send` is broadcast to the chat's room and acked.
 */
const messages = new UnstoredMessages();

async function main(): Promise<void> {
  const httpServer = createServer();
  const io = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: MAX_PAYLOAD_BYTES,
    cors: { origin: true, credentials: true },
  });
  const chat = io.of(BENCH_NAMESPACE);
  chat.on('connection', (socket) => {
    const { userId, chatIds } = socket.handshake.auth as { userId?: unknown; chatIds?: unknown };
    const user = typeof userId === 'string' ? userId : '';
    const chats = Array.isArray(chatIds) ? chatIds.filter((chatId) => typeof chatId === 'string') : [];
    void socket.join([baselineUserRoom(user), ...chats.map(baselineChatRoom)]);
    socket.on(SEND_EVENT, (payload: unknown, ack?: unknown) => {
      const request = asSendRequest(payload);
      if (!request) return;
      const message = messages.create(user, request);
      chat.to(baselineChatRoom(request.chatId)).emit(NEW_MESSAGE_EVENT, envelope(NEW_MESSAGE_EVENT, message));
      if (typeof ack === 'function') (ack as (response: unknown) => void)({ ok: true, data: message });
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  serveControl((httpServer.address() as AddressInfo).port, () => io.close());
}

main().catch(reportStartFailure);
