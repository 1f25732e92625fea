import { applyDecorators } from '@nestjs/common';
import { corsOriginProblems } from './cors-origins.js';
import { parseTrustProxy } from './trust-proxy.js';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsEnum,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';

export enum NodeEnv {
  Development = 'development',
  Production = 'production',
  Test = 'test',
}

const SUPPORTED_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
];

const emptyToUndefined = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const toInt = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string' || value.trim() === '') return value;
  return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
};

/** A whole number from the environment's text, within bounds. */
function Integer(min: number, max?: number): PropertyDecorator {
  const bounds = max === undefined ? [Min(min)] : [Min(min), Max(max)];
  return applyDecorators(Transform(toInt), IsInt(), ...bounds);
}

/** A variable that may be unset; an empty value counts as unset. */
function Optional(): PropertyDecorator {
  return applyDecorators(Transform(emptyToUndefined), IsOptional());
}

/**
 * Every variable the server reads, with its default. Validated once at boot by
 * `validateEnvironment`; the rest of the code reads the typed `AppConfig` built from it.
 */
export class EnvironmentVariables {
  @IsEnum(NodeEnv)
  NODE_ENV: NodeEnv = NodeEnv.Development;

  @Integer(0, 65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @Optional()
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, {
    message: 'SERVER_ID must be 1-64 characters of letters, digits, . _ : -',
  })
  SERVER_ID?: string;

  @IsString()
  DATA_DIR = './data';

  @IsIn(['fatal', 'error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL = 'log';

  /** A Bearer token that lets a scraper read `GET /metrics` without a JWT (admins use theirs). */
  @Optional()
  @Matches(/^\S{16,}$/, { message: 'METRICS_TOKEN must be at least 16 characters, without spaces' })
  METRICS_TOKEN?: string;

  @Integer(0)
  SHUTDOWN_GRACE_MS = 10000;

  /** `false`, `true` (one hop), a hop count, or a comma-separated list of proxy addresses/CIDRs. */
  @IsString()
  TRUST_PROXY = 'false';

  /** `/api/docs`, `/api/docs-json`, `/api/asyncapi.json`; when unset, served everywhere but in production. */
  @Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : emptyToUndefined({ value }),
  )
  @IsOptional()
  @IsBoolean({ message: 'API_DOCS must be true or false' })
  API_DOCS?: boolean;

  @Optional()
  @IsString()
  JWT_SECRET?: string;

  @Optional()
  @IsString()
  JWT_PUBLIC_KEY?: string;

  @Optional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  JWT_JWKS_URL?: string;

  @Optional()
  @Matches(new RegExp(`^(${SUPPORTED_ALGORITHMS.join('|')})(,(${SUPPORTED_ALGORITHMS.join('|')}))*$`), {
    message: `JWT_ALGORITHMS must be a comma-separated list of ${SUPPORTED_ALGORITHMS.join(', ')}`,
  })
  JWT_ALGORITHMS?: string;

  @Optional()
  @IsString()
  JWT_ISSUER?: string;

  @Optional()
  @IsString()
  JWT_AUDIENCE?: string;

  @IsString()
  @Matches(/^\S+$/, { message: 'JWT_ROLES_CLAIM must be a claim name without spaces' })
  JWT_ROLES_CLAIM = 'roles';

  @Integer(0, 300)
  JWT_CLOCK_TOLERANCE_S = 0;

  @Integer(1000)
  JWT_JWKS_CACHE_MS = 600000;

  @Integer(1)
  REVOCATION_TTL_S = 86400;

  @Integer(50)
  SESSIONS_BROADCAST_MS = 1000;

  /** `sync:required` asks each client to wait a random time below this before syncing. */
  @Integer(0, 600000)
  RESYNC_SPREAD_MS = 5000;

  @IsString()
  CORS_ORIGINS = '';

  @Integer(0)
  MAX_CONNECTIONS = 0;

  @Integer(0)
  MAX_CONNECTIONS_PER_USER = 0;

  @IsIn(['multi', 'single'])
  SESSION_POLICY: 'multi' | 'single' = 'multi';

  @Integer(0)
  RATE_LIMIT_HANDSHAKES_PER_MIN = 120;

  @Integer(0)
  RATE_LIMIT_EVENTS_PER_S = 50;

  @Integer(1)
  RATE_LIMIT_FLOOD_SECONDS = 5;

  @Integer(1024)
  MAX_PAYLOAD_BYTES = 1048576;

  @Integer(1, 256)
  MAX_PAYLOAD_DEPTH = 32;

  @Integer(65536)
  MAX_OUTBOUND_BUFFER_BYTES = 4194304;

  @Integer(100)
  HANDSHAKE_TIMEOUT_MS = 10000;

  @Integer(0)
  PREAUTH_CONNECTIONS_PER_IP = 50;

  @Integer(0)
  RATE_LIMIT_REST_PER_IP_PER_MIN = 1200;

  @Integer(0)
  RATE_LIMIT_REST_PER_USER_PER_MIN = 600;

  @Optional()
  @IsUrl({ require_tld: false, protocols: ['redis', 'rediss'] })
  REDIS_URL?: string;

  @Optional()
  @Matches(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, {
    message: 'REDIS_CLUSTER_NODES must be a comma-separated list of host:port',
  })
  REDIS_CLUSTER_NODES?: string;

  /** For REDIS_CLUSTER_NODES; REDIS_URL carries its own (`redis://user:password@host`). */
  @Optional()
  @IsString()
  REDIS_USERNAME?: string;

  @Optional()
  @IsString()
  REDIS_PASSWORD?: string;

  /** For REDIS_CLUSTER_NODES; REDIS_URL says it by its scheme (`rediss://`). */
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'REDIS_TLS must be true or false' })
  REDIS_TLS = false;

  /** PEM file of the CA that signed the Redis servers' certificates (system CAs when unset). */
  @Optional()
  @IsString()
  REDIS_TLS_CA_FILE?: string;

  /** Addresses cluster nodes announce, mapped to those this instance reaches them at. */
  @Optional()
  @Matches(/^[^\s,=]+:\d+=[^\s,=]+:\d+(,[^\s,=]+:\d+=[^\s,=]+:\d+)*$/, {
    message: 'REDIS_CLUSTER_NAT_MAP must be announced-host:port=reachable-host:port, comma-separated',
  })
  REDIS_CLUSTER_NAT_MAP?: string;

  @IsString()
  @Matches(/^[A-Za-z0-9:_-]*$/, { message: 'REDIS_KEY_PREFIX may hold letters, digits, : _ -' })
  REDIS_KEY_PREFIX = 'sb:';

  @Integer(1000)
  PRESENCE_TTL_MS = 10000;

  @Integer(0)
  PRESENCE_GRACE_MS = 5000;

  @Integer(1, 10000)
  EVENTS_MAX_SUBSCRIPTIONS = 100;

  @Integer(1, 36500)
  NOTIFICATIONS_RETENTION_DAYS = 90;

  /** How often `/admin` sockets are sent `stats` (docs/protocol.md, Admin). */
  @Integer(100, 3600000)
  ADMIN_STATS_MS = 2000;

  @IsIn(['all', 'shared-chats'])
  PRESENCE_VISIBILITY: 'all' | 'shared-chats' = 'all';

  @Integer(0)
  PRESENCE_CHAT_MAX_MEMBERS = 100;

  /** How long a presence change waits for others to be told with it (docs/protocol.md, Presence). */
  @Integer(0, 1000)
  PRESENCE_BATCH_MS = 20;

  @Integer(1, 100000)
  PRESENCE_MAX_SUBSCRIPTIONS = 1000;

  @Optional()
  @Matches(/^(postgres(ql)?:\/\/\S+|sqlite:\S+)$/, {
    message: 'DATABASE_URL must be postgres://…, sqlite:<file> or sqlite::memory:',
  })
  DATABASE_URL?: string;

  @Integer(1, 100)
  DATABASE_POOL_SIZE = 10;

  @Integer(1, 100000)
  CHAT_MAX_CONTENT = 4000;

  /** A typing state not refreshed for this long ends by itself (`user:stop-typing`). */
  @Integer(100, 60000)
  CHAT_TYPING_IDLE_MS = 3000;
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigValidationError';
  }
}

/** Parses and checks raw variables; throws a ConfigValidationError naming every bad variable. */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const env = plainToInstance(EnvironmentVariables, raw, { exposeDefaultValues: true });
  const errors = validateSync(env, { forbidUnknownValues: true, stopAtFirstError: true });
  const problems = errors.flatMap((error) =>
    Object.values(error.constraints ?? {}).map((text) =>
      text.startsWith(error.property) ? text : `${error.property}: ${text}`,
    ),
  );
  problems.push(...crossFieldProblems(env));
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return env;
}

function crossFieldProblems(env: EnvironmentVariables): string[] {
  const problems: string[] = [];
  const keySources = [env.JWT_SECRET, env.JWT_PUBLIC_KEY, env.JWT_JWKS_URL].filter(Boolean).length;
  if (keySources > 1) {
    problems.push('JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL: set exactly one of them');
  }
  if (keySources === 0 && env.NODE_ENV === NodeEnv.Production) {
    problems.push('JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required when NODE_ENV=production');
  }
  if (env.JWT_SECRET && env.JWT_SECRET.length < 32 && env.NODE_ENV === NodeEnv.Production) {
    problems.push('JWT_SECRET must be at least 32 characters when NODE_ENV=production');
  }
  if (env.JWT_ALGORITHMS) {
    const symmetric = env.JWT_ALGORITHMS.split(',').some((alg) => alg.startsWith('HS'));
    const asymmetric = env.JWT_ALGORITHMS.split(',').some((alg) => !alg.startsWith('HS'));
    if (symmetric && asymmetric) {
      problems.push('JWT_ALGORITHMS: do not mix HS* with RS*/ES*/PS* (algorithm confusion)');
    } else if (env.JWT_SECRET && asymmetric) {
      problems.push('JWT_ALGORITHMS: JWT_SECRET needs HS* algorithms');
    } else if ((env.JWT_PUBLIC_KEY || env.JWT_JWKS_URL) && symmetric) {
      problems.push('JWT_ALGORITHMS: JWT_PUBLIC_KEY and JWT_JWKS_URL need RS*/ES*/PS* algorithms');
    }
  }
  problems.push(...corsOriginProblems(env.CORS_ORIGINS).map((problem) => `CORS_ORIGINS: ${problem}`));
  try {
    parseTrustProxy(env.TRUST_PROXY);
  } catch (error) {
    problems.push(`TRUST_PROXY: ${(error as Error).message}`);
  }
  const clusterOnly = [
    'REDIS_USERNAME',
    'REDIS_PASSWORD',
    'REDIS_TLS_CA_FILE',
    'REDIS_CLUSTER_NAT_MAP',
  ] as const;
  for (const variable of clusterOnly) {
    if (env[variable] !== undefined && !env.REDIS_CLUSTER_NODES) {
      problems.push(`${variable} applies to REDIS_CLUSTER_NODES; with REDIS_URL, put it in the URL`);
    }
  }
  if (env.REDIS_TLS_CA_FILE !== undefined && !env.REDIS_TLS) {
    problems.push('REDIS_TLS_CA_FILE needs REDIS_TLS=true');
  }
  if (env.REDIS_TLS && !env.REDIS_CLUSTER_NODES) {
    problems.push('REDIS_TLS applies to REDIS_CLUSTER_NODES; with REDIS_URL, use the rediss:// scheme');
  }
  if (env.REDIS_URL && env.REDIS_CLUSTER_NODES) {
    problems.push('REDIS_URL and REDIS_CLUSTER_NODES: set one of them, not both');
  }
  return problems;
}
