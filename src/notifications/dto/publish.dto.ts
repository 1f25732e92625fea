import { applyDecorators } from '@nestjs/common';
import {
  Allow,
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  Length,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { AppError } from '../../common/errors.js';
import {
  NOTIFICATION_LEVELS,
  NotificationsLimits,
  type NotificationLevel,
  type PublishEventRequest,
} from '../notifications.events.js';
import type { PublishOptions } from '../notifications.service.js';

/** Longest event type: 8 segments of at most 64 characters, and the dots (`eventTypeProblem`). */
const MAX_EVENT_TYPE_LENGTH = 8 * 65;
const MAX_SESSION_ID_LENGTH = 256;

/**
 * An optional field that, when present, must be valid: unlike `@IsOptional()`, `null` is refused
 * rather than taken for "absent" (a null `userId` must never reach the service as a recipient).
 */
const IfPresent = () => ValidateIf((_object: object, value: unknown) => value !== undefined);

const IsUserId = (each = false) =>
  applyDecorators(IsString({ each }), Length(1, NotificationsLimits.maxUserIdLength, { each }));

/**
 * Any JSON value; its size (`NotificationsLimits.maxDataBytes` serialized) is checked by the
 * service, which every caller goes through.
 */
const IsData = () => applyDecorators(IsOptional(), Allow());

/**
 * The recipients of a notification or message. Exactly one of `userId`, `userIds` and
 * `broadcast: true` is required; the service enforces that (for REST and importing modules
 * alike) and names the field, so the DTO only checks each field's own shape.
 */
class RecipientsDto {
  @IfPresent()
  @IsUserId()
  userId?: string;

  @IfPresent()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(NotificationsLimits.maxUserIds)
  @IsUserId(true)
  userIds?: string[];

  @IfPresent()
  @IsBoolean()
  broadcast?: boolean;
}

/** `POST /api/events`: the type's format (dotted segments) is checked by the service. */
export class PublishEventDto implements PublishEventRequest {
  @IsString()
  @MaxLength(MAX_EVENT_TYPE_LENGTH)
  type!: string;

  @IfPresent()
  @IsUserId()
  userId?: string;

  @IfPresent()
  @IsBoolean()
  broadcast?: boolean;

  @IfPresent()
  @IsString()
  @Length(1, MAX_SESSION_ID_LENGTH)
  sessionId?: string;

  @IsData()
  data?: unknown;
}

/** `POST /api/notifications`: title and body must also not be blank (checked by the service). */
export class NotifyDto extends RecipientsDto {
  @IsString()
  @MaxLength(NotificationsLimits.maxTitleLength)
  title!: string;

  @IsString()
  @MaxLength(NotificationsLimits.maxBodyLength)
  body!: string;

  @IfPresent()
  @IsIn(NOTIFICATION_LEVELS)
  level?: NotificationLevel;

  @IsData()
  data?: unknown;
}

/** `POST /api/messages`: the sender's own `type`, delivered as is. */
export class SendMessageDto extends RecipientsDto {
  @IsString()
  @MaxLength(NotificationsLimits.maxMessageTypeLength)
  type!: string;

  @IsData()
  data?: unknown;
}

/** The header that makes a publish idempotent (a retry answers the first result). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Printable ASCII, not starting or ending with a space. */
const IDEMPOTENCY_KEY = /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/;

/**
 * The service's `PublishOptions` for a REST publish: the `Idempotency-Key` header, when sent,
 * scoped to the caller (keys of different callers never collide). A key that is empty, too long
 * or not printable ASCII is `VALIDATION_FAILED` on the header.
 */
export function publishOptionsOf(key: string | undefined, actorId: string): PublishOptions {
  if (key === undefined) return { actorId };
  if (key.length > NotificationsLimits.maxIdempotencyKeyLength || !IDEMPOTENCY_KEY.test(key)) {
    const problem = `Idempotency-Key must be 1 to ${NotificationsLimits.maxIdempotencyKeyLength} printable ASCII characters`;
    throw AppError.validation(problem, [{ field: 'Idempotency-Key', problems: [problem] }]);
  }
  return { idempotencyKey: key, actorId };
}
