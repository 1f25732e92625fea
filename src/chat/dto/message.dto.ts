import { IsISO8601, IsOptional, MaxLength } from 'class-validator';
import type {
  DeleteMessageRequest,
  EditContentRequest,
  EditMessageRequest,
  MarkReadRequest,
  PostMessageRequest,
  ReadMessageRequest,
  SendMessageRequest,
  SyncRequest,
  TypingRequest,
} from '../chat.events.js';
import { IsChatId, IsClientId, IsContent, IsMessageId, IsPageSize, IsSeq } from './chat-fields.js';

/** Longer than any ISO-8601 time with a zone and nanoseconds. */
const SINCE_MAX_LENGTH = 40;

/** `POST /api/chats/:id/messages`. */
export class PostMessageDto implements PostMessageRequest {
  @IsContent()
  content!: string;

  @IsOptional()
  @IsClientId()
  clientId?: string;
}

/** `message:send`. */
export class SendMessageDto extends PostMessageDto implements SendMessageRequest {
  @IsChatId()
  chatId!: string;
}

/** `PATCH /api/chats/:id/messages/:messageId`. */
export class EditContentDto implements EditContentRequest {
  @IsContent()
  content!: string;
}

/** `message:edit`. */
export class EditMessageDto extends EditContentDto implements EditMessageRequest {
  @IsMessageId()
  messageId!: number;
}

/** `message:delete`. */
export class DeleteMessageDto implements DeleteMessageRequest {
  @IsMessageId()
  messageId!: number;
}

/** `POST /api/chats/:id/read`. */
export class MarkReadDto implements MarkReadRequest {
  @IsMessageId()
  messageId!: number;
}

/** `message:read`. */
export class ReadMessageDto extends MarkReadDto implements ReadMessageRequest {
  @IsChatId()
  chatId!: string;
}

/** `user:typing` and `user:stop-typing`. */
export class TypingDto implements TypingRequest {
  @IsChatId()
  chatId!: string;
}

/** `chat:sync`. */
export class SyncDto implements SyncRequest {
  @IsChatId()
  chatId!: string;

  @IsOptional()
  @IsSeq()
  afterSeq?: number;

  @IsOptional()
  @IsMessageId(0)
  afterMessageId?: number;

  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  @MaxLength(SINCE_MAX_LENGTH)
  since?: string;

  @IsOptional()
  @IsPageSize()
  limit?: number;
}
