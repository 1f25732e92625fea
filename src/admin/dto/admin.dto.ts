import { applyDecorators } from '@nestjs/common';
import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  ValidateIf,
  type ValidationOptions,
} from 'class-validator';
import { NOTIFICATION_LEVELS, type NotificationLevel } from '../../notifications/notifications.events.js';
import {
  AdminLimits,
  type AuditQuery,
  type BroadcastRequest,
  type ConnectionsQuery,
  type DisconnectUserRequest,
  type RevokeSessionRequest,
} from '../admin.events.js';

/**
 * An optional field that, when present, must be valid: `null` is refused rather than taken for
 * "absent".
 */
const IfPresent = () => ValidateIf((_object: object, value: unknown) => value !== undefined);

const IsText = (maxLength: number, options?: ValidationOptions) =>
  applyDecorators(IsString(options), Length(1, maxLength, options));

const IsUserId = () => IsText(AdminLimits.maxUserIdLength);

/** `true` / `false` in a query string. */
const QueryBoolean = () =>
  Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value));

/** A page number or size in a query string. */
const QueryInteger = (min: number, max: number) =>
  applyDecorators(
    IsOptional(),
    Type(() => Number),
    IsInt(),
    Min(min),
    Max(max),
  );

/** `DELETE /api/admin/users/:userId/connections`: `reason` and `revoke` in the body… */
export class DisconnectOptionsDto implements Omit<DisconnectUserRequest, 'userId'> {
  @IfPresent()
  @IsText(AdminLimits.maxReasonLength)
  reason?: string;

  @IfPresent()
  @IsBoolean()
  revoke?: boolean;
}

/** `admin:disconnect-user`: the same options, and the user. */
export class DisconnectUserDto extends DisconnectOptionsDto implements DisconnectUserRequest {
  @IsUserId()
  userId!: string;
}

/** …or in the query (`?reason=…&revoke=true`). */
export class DisconnectOptionsQueryDto implements Omit<DisconnectUserRequest, 'userId'> {
  @IsOptional()
  @IsText(AdminLimits.maxReasonLength)
  reason?: string;

  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  revoke?: boolean;
}

/** `admin:broadcast` and `POST /api/admin/broadcast`; blank text is refused by the service. */
export class BroadcastDto implements BroadcastRequest {
  @IsIn(NOTIFICATION_LEVELS, { message: `level must be one of ${NOTIFICATION_LEVELS.join(', ')}` })
  level!: NotificationLevel;

  @IfPresent()
  @IsText(AdminLimits.maxTitleLength)
  title?: string;

  @IsText(AdminLimits.maxMessageLength)
  message!: string;
}

/** `admin:revoke-session`. */
export class RevokeSessionDto implements RevokeSessionRequest {
  @IsText(AdminLimits.maxSessionIdLength)
  sessionId!: string;
}

/** `/api/admin/users/:userId/…`. */
export class AdminUserParamDto {
  @IsUserId()
  userId!: string;
}

/** `GET /api/admin/users?page&limit`. */
export class PageQueryDto {
  @QueryInteger(1, Number.MAX_SAFE_INTEGER)
  page?: number;

  @QueryInteger(1, AdminLimits.maxPageSize)
  limit?: number;
}

/** `GET /api/admin/connections?userId&namespace&serverId&page&limit`. */
export class ConnectionsQueryDto extends PageQueryDto implements ConnectionsQuery {
  @IsOptional()
  @IsUserId()
  userId?: string;

  @IsOptional()
  @IsText(AdminLimits.maxNamespaceLength)
  namespace?: string;

  @IsOptional()
  @IsText(AdminLimits.maxServerIdLength)
  serverId?: string;
}

/** `GET /api/admin/audit?before&limit`. */
export class AuditQueryDto implements AuditQuery {
  @QueryInteger(1, Number.MAX_SAFE_INTEGER)
  before?: number;

  @QueryInteger(1, AdminLimits.maxPageSize)
  limit?: number;
}
