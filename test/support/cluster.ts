import type { Socket } from 'socket.io-client';
import request from 'supertest';
import {
  CHAT_NAMESPACE,
  type ChatClientToServerEvents,
  type ChatServerToClientEvents,
} from '../../src/chat/chat.events.js';
import type { AckResponse } from '../../src/contracts/index.js';
import type { AppProcess } from './app-process.js';
import { ChatInbox } from './chat-inbox.js';
import { client, connected } from './clients.js';
import { signToken } from './tokens.js';

export type ChatSocket = Socket<ChatServerToClientEvents, ChatClientToServerEvents>;

/** A user's `/chat` socket on one instance, and what it received. */
export interface ChatMember {
  userId: string;
  socket: ChatSocket;
  inbox: ChatInbox;
}

const countReader = signToken({ sub: 'cluster-count-reader' });

/** The data of a successful ack; a failed one fails the calling test with its error. */
export function ackData<T>(ack: AckResponse<T>): T {
  if (!ack.ok) throw new Error(`Expected success, got ${JSON.stringify(ack.error)}`);
  return ack.data;
}

/** The cluster-wide count as `instance` answers it over REST. */
export async function restCount(instance: AppProcess): Promise<number> {
  const response = await request(instance.url)
    .get('/api/sessions/count')
    .set({ Authorization: `Bearer ${countReader}` });
  if (response.status !== 200) {
    throw new Error(`GET /api/sessions/count on ${instance.serverId} answered ${response.status}`);
  }
  return (response.body as { data: { activeSessionsCount: number } }).data.activeSessionsCount;
}

/** The cluster-wide count as the instance behind `socket` answers it over the socket. */
export async function ackCount(socket: Socket): Promise<number> {
  const ack = (await socket.emitWithAck('sessions:count', {})) as AckResponse<{
    activeSessionsCount: number;
  }>;
  return ackData(ack).activeSessionsCount;
}

/** Stops every app process that started, whether or not its suite's `beforeAll` got far. */
export async function stopStarted(starting: Promise<AppProcess>[]): Promise<void> {
  const instances = await Promise.allSettled(starting);
  await Promise.all(
    instances.flatMap((instance) => (instance.status === 'fulfilled' ? [instance.value.stop()] : [])),
  );
}

/** Connects `userId` to `/chat` on `instance`; `sockets` keeps the socket for the suite to close. */
export async function joinChat(instance: AppProcess, userId: string, sockets: Socket[]): Promise<ChatMember> {
  const socket = client(instance.url, CHAT_NAMESPACE, {
    auth: { token: signToken({ sub: userId }) },
  }) as ChatSocket;
  sockets.push(socket);
  const inbox = new ChatInbox(socket);
  await connected(socket);
  return { userId, socket, inbox };
}
