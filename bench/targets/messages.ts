import type { ChatMessage, SendMessageRequest } from '../../src/chat/chat.events.js';

/**
 * Messages for the targets that store nothing (the baselines and the bench relay): the same
 * shape and size on the wire as a message Switchboard stores, with ids and per-chat seqs from counters.
 */
export class UnstoredMessages {
  private lastId = 0;
  private readonly lastSeqByChat = new Map<string, number>();

  create(senderId: string, request: SendMessageRequest): ChatMessage {
    this.lastId += 1;
    const seq = (this.lastSeqByChat.get(request.chatId) ?? 0) + 1;
    this.lastSeqByChat.set(request.chatId, seq);
    return {
      id: this.lastId,
      chatId: request.chatId,
      seq,
      senderId,
      content: request.content,
      ...(request.clientId === undefined ? {} : { clientId: request.clientId }),
      createdAt: new Date().toISOString(),
    };
  }
}

/** The fields a baseline reads from a `message:send` payload; anything else is ignored. */
export function asSendRequest(payload: unknown): SendMessageRequest | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const { chatId, content, clientId } = payload as Record<string, unknown>;
  if (typeof chatId !== 'string' || typeof content !== 'string') return null;
  return { chatId, content, clientId: typeof clientId === 'string' ? clientId : undefined };
}
