import { applyDecorators } from '@nestjs/common';
import { ArrayMaxSize, IsArray, IsIn, IsString, Length, type ValidationOptions } from 'class-validator';
import {
  CHOSEN_STATUSES,
  PresenceLimits,
  type ChosenStatus,
  type PresenceUsersRequest,
  type SetPresenceRequest,
} from '../presence.events.js';

/**
 * A user id as the token's `sub` may carry it. Ids are not checked against anything else: an
 * unknown user answers `offline`, exactly like a stranger, so ids cannot be probed.
 */
const IsPresenceUserId = (options?: ValidationOptions) =>
  applyDecorators(IsString(options), Length(1, PresenceLimits.maxUserIdLength, options));

/** `presence:set`. `offline` is never chosen: it is the absence of connections. */
export class SetPresenceDto implements SetPresenceRequest {
  @IsIn(CHOSEN_STATUSES, {
    message: `status must be one of ${CHOSEN_STATUSES.join(', ')} (offline is not chosen: it is having no connection)`,
  })
  status!: ChosenStatus;
}

/**
 * `presence:subscribe`, `presence:unsubscribe`, `presence:query` and `POST /api/presence/query`.
 * An empty list is a valid request that asks about nobody.
 */
export class PresenceUsersDto implements PresenceUsersRequest {
  @IsArray()
  @ArrayMaxSize(PresenceLimits.maxIdsPerCall, {
    message: `at most ${PresenceLimits.maxIdsPerCall} user ids per call`,
  })
  @IsPresenceUserId({ each: true })
  userIds!: string[];
}

/** `GET /api/presence/:userId`. */
export class PresenceUserParamDto {
  @IsPresenceUserId()
  userId!: string;
}
