import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { ChatLimits, type Chat } from '../src/chat/chat.events.js';
import type { BenchPlan } from './plan.js';
import { inPool } from './pool.js';

const TOKEN_LIFETIME_S = 6 * 3600;
const SETUP_CONCURRENCY = 8;

/** HS256 tokens for the bench users, signed with the secret the Switchboard targets get. */
export class BenchTokens {
  readonly secret = randomBytes(32).toString('hex');
  private readonly issued = new Map<string, string>();

  /** Signs every user's token up front, so that no timed phase pays for signing. */
  constructor(userIds: string[]) {
    for (const userId of userIds) this.issued.set(userId, this.sign(userId));
  }

  /** A token as the Switchboard targets accept it; `roles` makes, say, a service caller. */
  sign(userId: string, roles?: string[]): string {
    return jwt.sign({ sub: userId, ...(roles ? { roles } : {}) }, this.secret, {
      algorithm: 'HS256',
      expiresIn: TOKEN_LIFETIME_S,
    });
  }

  for(userId: string): string {
    const token = this.issued.get(userId);
    if (!token) throw new Error(`No token was signed for ${userId}`);
    return token;
  }
}

/**
 * Creates the plan's chats over REST as a user would, before anyone connects: `POST /api/chats`
 * with as many participants as the API takes, then `POST /api/chats/:id/members` for the rest.
 * Returns the chat id of each room key.
 */
export async function createChats(
  baseUrl: string,
  plan: BenchPlan,
  tokens: BenchTokens,
): Promise<Map<string, string>> {
  const chatIds = new Map<string, string>();
  const additions: { chatId: string; userId: string; token: string }[] = [];
  await inPool(plan.rooms, SETUP_CONCURRENCY, async (room) => {
    const [creator, ...others] = plan.usersOf(room);
    const token = tokens.for(creator);
    const participantIds = others.slice(0, ChatLimits.maxParticipants - 1);
    const chat = await request<Chat>(baseUrl, token, 'POST', '/api/chats', {
      participantIds,
      title: room.key,
    });
    chatIds.set(room.key, chat.id);
    for (const userId of others.slice(participantIds.length))
      additions.push({ chatId: chat.id, userId, token });
  });
  await inPool(additions, SETUP_CONCURRENCY, async ({ chatId, userId, token }) => {
    await request<Chat>(baseUrl, token, 'POST', `/api/chats/${chatId}/members`, { userId });
  });
  return chatIds;
}

async function request<T>(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body: unknown,
): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return (JSON.parse(text) as { data: T }).data;
}
