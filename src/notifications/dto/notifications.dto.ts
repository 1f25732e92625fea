import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
} from 'class-validator';
import {
  NotificationsLimits,
  type ListNotificationsRequest,
  type ReadNotificationRequest,
  type SubscribeRequest,
  type SubscriptionScope,
  type SyncNotificationsRequest,
  type UnsubscribeRequest,
} from '../notifications.events.js';

/** Longest pattern or event type: 8 segments of at most 64 characters, and the dots. */
const MAX_PATTERN_LENGTH = 8 * 65;
/** More than any connection may hold (EVENTS_MAX_SUBSCRIPTIONS caps what is kept). */
const MAX_PATTERNS_PER_CALL = 1000;

/** `subscribe`: the patterns themselves are checked by the router (`patternProblem`). */
export class SubscribeDto implements SubscribeRequest {
  @IsArray()
  @ArrayMaxSize(MAX_PATTERNS_PER_CALL)
  @IsString({ each: true })
  @Length(1, MAX_PATTERN_LENGTH, { each: true })
  eventTypes!: string[];

  @IsOptional()
  @IsIn(['own', 'all'])
  scope?: SubscriptionScope;
}

export class UnsubscribeDto implements UnsubscribeRequest {
  @IsArray()
  @ArrayMaxSize(MAX_PATTERNS_PER_CALL)
  @IsString({ each: true })
  @Length(1, MAX_PATTERN_LENGTH, { each: true })
  eventTypes!: string[];
}

/** `notifications:list`. */
export class ListNotificationsDto implements ListNotificationsRequest {
  @IsOptional()
  @IsBoolean()
  unreadOnly?: boolean;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  before?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(NotificationsLimits.maxPageSize)
  limit?: number;
}

/** `GET /api/notifications?unreadOnly&before&limit`: text converted first. */
export class ListNotificationsQueryDto implements ListNotificationsRequest {
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  unreadOnly?: boolean;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  before?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(NotificationsLimits.maxPageSize)
  limit?: number;
}

/** `notification:read`. */
export class ReadNotificationDto implements ReadNotificationRequest {
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  id!: number;
}

export class NotificationIdParamDto {
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  id!: number;
}

/** `notifications:sync`. */
export class SyncNotificationsDto implements SyncNotificationsRequest {
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  afterId!: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(NotificationsLimits.maxPageSize)
  limit?: number;
}
