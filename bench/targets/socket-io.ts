import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Namespace } from 'socket.io';
import { envelope } from '../../src/common/envelope.js';
import { NOTIFICATIONS_NAMESPACE, NotificationsEvent } from '../../src/notifications/notifications.events.js';
import { BASELINE_EVENTS_ROOM, baselineEvent, EVENTS_PATH } from '../event-wire.js';
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
 * For the events phase, `subscribe` on `/notifications` joins one room whatever the patterns, and
 * `POST /api/events { type, data }` broadcasts the event to that room.
 */
const messages = new UnstoredMessages();

async function main(): Promise<void> {
  // Engine.IO passes it the requests outside its own path.
  const httpServer = createServer((request, response) =>
    publishEvent(io.of(NOTIFICATIONS_NAMESPACE), request, response),
  );
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
  io.of(NOTIFICATIONS_NAMESPACE).on('connection', (socket) => {
    socket.on(NotificationsEvent.Subscribe, (payload: unknown, ack?: unknown) => {
      void socket.join(BASELINE_EVENTS_ROOM);
      if (typeof ack === 'function') (ack as (response: unknown) => void)({ ok: true, data: payload });
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  serveControl((httpServer.address() as AddressInfo).port, () => io.close());
}

function publishEvent(notifications: Namespace, request: IncomingMessage, response: ServerResponse): void {
  if (request.method !== 'POST' || request.url !== EVENTS_PATH) {
    response.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const { type, data } = JSON.parse(Buffer.concat(chunks).toString()) as { type: string; data: unknown };
    const event = baselineEvent(type, data);
    notifications.to(BASELINE_EVENTS_ROOM).emit(NotificationsEvent.Event, event);
    response.writeHead(202, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ message: 'Event published', data: { id: event.id, event } }));
  });
}

main().catch(reportStartFailure);
