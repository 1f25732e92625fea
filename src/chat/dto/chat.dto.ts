import { ArrayMaxSize, IsArray, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import {
  ChatLimits,
  type AddMemberRequest,
  type CreateChatRequest,
  type MessagesQuery,
} from '../chat.events.js';
import { IsChatId, IsMessageIdText, IsPageSizeText, IsSeqText, IsUserId } from './chat-fields.js';

/** `POST /api/chats`. */
export class CreateChatDto implements CreateChatRequest {
  @IsArray()
  @ArrayMaxSize(ChatLimits.maxParticipants)
  @IsUserId({ each: true })
  participantIds!: string[];

  @IsOptional()
  @IsString()
  @MaxLength(ChatLimits.maxTitleLength)
  @Matches(/\S/, { message: 'title must not be blank' })
  title?: string;
}

/** `POST /api/chats/:id/members`. */
export class AddMemberDto implements AddMemberRequest {
  @IsUserId()
  userId!: string;
}

export class ChatIdParamDto {
  @IsChatId()
  id!: string;
}

export class ChatMemberParamDto extends ChatIdParamDto {
  @IsUserId()
  userId!: string;
}

export class ChatMessageParamDto extends ChatIdParamDto {
  @IsMessageIdText()
  messageId!: number;
}

/** `GET /api/chats/:id/messages?before&after&afterSeq&limit`. */
export class ListMessagesQueryDto implements MessagesQuery {
  @IsOptional()
  @IsMessageIdText()
  before?: number;

  @IsOptional()
  @IsMessageIdText(0)
  after?: number;

  @IsOptional()
  @IsSeqText()
  afterSeq?: number;

  @IsOptional()
  @IsPageSizeText()
  limit?: number;
}
