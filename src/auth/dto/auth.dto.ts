import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsOptional,
  IsString,
  Length,
  Matches,
  ValidateBy,
} from 'class-validator';
import type { DevTokenRequest, LogoutRequest } from '../auth.events.js';

const MAX_ROLES = 20;
const MAX_ROLE_LENGTH = 64;
const MAX_USER_ID_LENGTH = 256;
/** A week: development tokens are for trying things out. */
const MAX_DEV_TOKEN_TTL_S = 7 * 24 * 3600;
const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Whole seconds, or a duration such as `15m`, `1h`, `7d`, of at most a week. */
function ttlSeconds(value: unknown): number {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : NaN;
  if (typeof value !== 'string') return NaN;
  const match = /^(\d{1,7})([smhd]?)$/.exec(value);
  return match ? Number(match[1]) * (SECONDS_PER_UNIT[match[2] || 's'] ?? NaN) : NaN;
}

const IsTtl = () =>
  ValidateBy({
    name: 'isTtl',
    validator: {
      validate: (value: unknown) => {
        const seconds = ttlSeconds(value);
        return seconds >= 1 && seconds <= MAX_DEV_TOKEN_TTL_S;
      },
      defaultMessage: () => 'ttl must be whole seconds or a duration such as 15m, 1h, 7d, of at most 7d',
    },
  });

/** `POST /api/auth/logout`. */
export class LogoutDto implements LogoutRequest {
  @IsOptional()
  @IsBoolean()
  everywhere?: boolean;
}

/** `POST /api/auth/dev-token`. */
export class DevTokenDto implements DevTokenRequest {
  @IsString()
  @Length(1, MAX_USER_ID_LENGTH)
  @Matches(/\S/, { message: 'sub must not be blank' })
  sub!: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_ROLES)
  @IsString({ each: true })
  @Length(1, MAX_ROLE_LENGTH, { each: true })
  roles?: string[];

  @IsOptional()
  @IsTtl()
  ttl?: string | number;
}
