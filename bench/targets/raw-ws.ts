import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { envelope } from '../../src/common/envelope.js';
import {
  baselineChatRoom,
  baselineUserRoom,
  NEW_MESSAGE_EVENT,
  RAW_CHATS_PARAM,
  RAW_USER_PARAM,
  SEND_EVENT,
} from '../wire.js';
import { reportStartFailure, serveControl } from './control.js';
import { asSendRequest, UnstoredMessages } from './messages.js';
import { MAX_PAYLOAD_BYTES } from './settings.js';

/**
 * The physical reference: `ws` and a map of rooms, nothing else. Same events as the Socket.IO
 * targets without Engine.IO and Socket.IO framing, heartbeats or acknowledgement machinery:
 * a client frame `<ackId>["message:send",{…}]` is broadcast to the chat's room as
 * `["message:new",envelope]`, serialized once, and answered `<ackId>[{ ok: true, data }]`.
 */
const rooms = new Map<string, Set<WebSocket>>();
const messages = new UnstoredMessages();

function join(socket: WebSocket, room: string): void {
  let members = rooms.get(room);
  if (!members) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(socket);
}

function leave(socket: WebSocket, joined: string[]): void {
  for (const room of joined) {
    const members = rooms.get(room);
    members?.delete(socket);
    if (members?.size === 0) rooms.delete(room);
  }
}

function onPacket(socket: WebSocket, userId: string, text: string): void {
  const arrayStart = text.indexOf('[');
  if (arrayStart < 0) return;
  const ackId = text.slice(0, arrayStart);
  let packet: unknown;
  try {
    packet = JSON.parse(text.slice(arrayStart));
  } catch {
    return;
  }
  if (!Array.isArray(packet) || packet[0] !== SEND_EVENT) return;
  const request = asSendRequest(packet[1]);
  if (!request) return;
  const message = messages.create(userId, request);
  const frame = JSON.stringify([NEW_MESSAGE_EVENT, envelope(NEW_MESSAGE_EVENT, message)]);
  for (const member of rooms.get(baselineChatRoom(request.chatId)) ?? []) member.send(frame);
  if (ackId !== '') socket.send(`${ackId}${JSON.stringify([{ ok: true, data: message }])}`);
}

async function main(): Promise<void> {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: MAX_PAYLOAD_BYTES });
  wss.on('connection', (socket, request) => {
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const userId = query.get(RAW_USER_PARAM) ?? '';
    const chatIds = (query.get(RAW_CHATS_PARAM) ?? '').split(',').filter((chatId) => chatId !== '');
    const joined = [baselineUserRoom(userId), ...chatIds.map(baselineChatRoom)];
    for (const room of joined) join(socket, room);
    socket.on('message', (data: Buffer) => onPacket(socket, userId, data.toString()));
    socket.once('close', () => leave(socket, joined));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serveControl((server.address() as AddressInfo).port, async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

main().catch(reportStartFailure);
