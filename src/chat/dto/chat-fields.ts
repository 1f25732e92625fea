import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsString, Length, Max, Min, type ValidationOptions } from 'class-validator';
import { ChatLimits } from '../chat.events.js';

/**
 * Field rules shared by the socket payloads and the REST bodies, params and queries. Socket
 * payloads are taken as sent; REST params and queries arrive as text and are converted first.
 */
export const IsChatId = () => applyDecorators(IsString(), Length(1, ChatLimits.maxChatIdLength));

export const IsUserId = (options?: ValidationOptions) =>
  applyDecorators(IsString(options), Length(1, ChatLimits.maxUserIdLength, options));

/** Message ids are positive; 0 as a cursor means "before the first message". */
export const IsMessageId = (minimum: 0 | 1 = 1) =>
  applyDecorators(IsInt(), Min(minimum), Max(Number.MAX_SAFE_INTEGER));

export const IsMessageIdText = (minimum: 0 | 1 = 1) =>
  applyDecorators(
    Type(() => Number),
    IsMessageId(minimum),
  );

/** A position in a chat's sequence; 0 is before its first message. */
export const IsSeq = () => applyDecorators(IsInt(), Min(0), Max(Number.MAX_SAFE_INTEGER));

export const IsSeqText = () =>
  applyDecorators(
    Type(() => Number),
    IsSeq(),
  );

export const IsPageSize = () => applyDecorators(IsInt(), Min(1), Max(ChatLimits.maxPageSize));

export const IsPageSizeText = () =>
  applyDecorators(
    Type(() => Number),
    IsPageSize(),
  );

export const IsClientId = () => applyDecorators(IsString(), Length(1, ChatLimits.maxClientIdLength));

/**
 * Only the type here: the content rule (not blank, at most `CHAT_MAX_CONTENT` characters) is
 * `contentProblem` in `message-content.ts`, applied by the service, which every transport and
 * importing module goes through and which knows the configured bound.
 */
export const IsContent = () => IsString();
