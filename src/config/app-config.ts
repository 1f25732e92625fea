import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Algorithm } from 'jsonwebtoken';
import { type EnvironmentVariables, NodeEnv } from './environment.js';
import { parseTrustProxy, type TrustProxy } from './trust-proxy.js';

export type JwtKeySource =
  | { kind: 'secret'; secret: string; generated: boolean }
  | { kind: 'publicKey'; publicKey: string }
  | { kind: 'jwks'; jwksUrl: string; cacheMs: number };

export type DatabaseTarget =
  { kind: 'sqlite'; filename: string } | { kind: 'postgres'; connectionString: string; poolSize: number };

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'single'; url: string; keyPrefix: string }
  | {
      kind: 'cluster';
      nodes: HostPort[];
      keyPrefix: string;
      username?: string;
      password?: string;
      /** TLS to every node; `caFile` names the CA to trust instead of the system's. */
      tls: { caFile?: string } | null;
      /** Announced address (`host:port`) → the address this instance reaches the node at. */
      natMap: Record<string, HostPort>;
    };

/**
 * The validated configuration, injected by class. Built once at boot from the environment;
 * nothing else reads `process.env`.
 */
export class AppConfig {
  readonly env!: NodeEnv;
  readonly server!: {
    readonly port: number;
    readonly host: string;
    readonly serverId: string;
    readonly dataDir: string;
    readonly logLevel: string;
    readonly shutdownGraceMs: number;
    /** Which proxies may name the client in X-Forwarded-For (behind a load balancer). */
    readonly trustProxy: TrustProxy;
    /** Whether the API documents are served (`API_DOCS`; by default, everywhere but production). */
    readonly apiDocs: boolean;
  };
  readonly auth!: {
    readonly key: JwtKeySource;
    readonly algorithms: Algorithm[];
    readonly issuer?: string;
    readonly audience?: string;
    readonly rolesClaim: string;
    readonly clockToleranceS: number;
    readonly revocationTtlS: number;
  };
  readonly sessions!: { readonly broadcastMs: number };
  readonly realtime!: {
    /** `sync:required` spreads clients' syncs over this window (docs/protocol.md, Recovery). */
    readonly resyncSpreadMs: number;
  };
  readonly limits!: {
    readonly corsOrigins: string[];
    readonly maxConnections: number;
    readonly maxConnectionsPerUser: number;
    readonly sessionPolicy: 'multi' | 'single';
    readonly handshakesPerIpPerMin: number;
    readonly eventsPerSocketPerS: number;
    readonly floodSeconds: number;
    readonly maxPayloadBytes: number;
    /** Deepest nesting of objects and arrays accepted in a socket event or request body. */
    readonly maxPayloadDepth: number;
    /** A socket whose unsent output grows past this is disconnected (a client that stopped reading). */
    readonly maxOutboundBufferBytes: number;
    /** How long a transport connection may stay without an authenticated namespace. */
    readonly handshakeTimeoutMs: number;
    /** Transport connections from one address that have not authenticated yet (0 = no limit). */
    readonly preAuthConnectionsPerIp: number;
    readonly restRequestsPerIpPerMin: number;
    readonly restRequestsPerUserPerMin: number;
  };
  readonly redis!: RedisTarget | null;
  readonly presence!: {
    /** A silent instance's connections count as gone after this (docs/protocol.md, Presence). */
    readonly ttlMs: number;
    /** A user stays online this long after their last connection closed. */
    readonly graceMs: number;
    /** `all`: any authenticated user may follow anyone; `shared-chats`: only co-members. */
    readonly visibility: 'all' | 'shared-chats';
    /** Co-members of larger chats are not told automatically. */
    readonly chatMaxMembers: number;
    /** Users one connection may follow at once. */
    readonly maxSubscriptions: number;
    /** How long a change waits for others to be told in the same batch. */
    readonly batchMs: number;
  };
  readonly notifications!: {
    /** Event patterns one connection may hold. */
    readonly maxSubscriptions: number;
    /** Stored notifications are deleted after this many days. */
    readonly retentionDays: number;
  };
  readonly admin!: {
    /** `/admin` sockets are sent `stats` this often. */
    readonly statsMs: number;
  };
  readonly metrics!: {
    /** Scrapers send it as a Bearer token to read `GET /metrics`; unset, only admins can. */
    readonly token?: string;
  };
  readonly database!: DatabaseTarget;
  readonly chat!: {
    readonly maxContentLength: number;
    /** A typing state not refreshed for this long ends by itself. */
    readonly typingIdleMs: number;
  };
}

export interface BuildConfigOptions {
  /** Supplies the HS256 secret used in development when no key is configured. */
  developmentSecret?: (dataDir: string) => string;
}

export function buildAppConfig(env: EnvironmentVariables, options: BuildConfigOptions = {}): AppConfig {
  const key = jwtKeySource(env, options);
  const keyPrefix = env.REDIS_KEY_PREFIX;
  const config: AppConfig = {
    env: env.NODE_ENV,
    server: {
      port: env.PORT,
      host: env.HOST,
      serverId: env.SERVER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      dataDir: env.DATA_DIR,
      logLevel: env.LOG_LEVEL,
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
      trustProxy: parseTrustProxy(env.TRUST_PROXY),
      apiDocs: env.API_DOCS ?? env.NODE_ENV !== NodeEnv.Production,
    },
    auth: {
      key,
      algorithms: (env.JWT_ALGORITHMS?.split(',') as Algorithm[] | undefined) ?? defaultAlgorithms(key),
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      rolesClaim: env.JWT_ROLES_CLAIM,
      clockToleranceS: env.JWT_CLOCK_TOLERANCE_S,
      revocationTtlS: env.REVOCATION_TTL_S,
    },
    sessions: { broadcastMs: env.SESSIONS_BROADCAST_MS },
    realtime: { resyncSpreadMs: env.RESYNC_SPREAD_MS },
    limits: {
      corsOrigins: splitList(env.CORS_ORIGINS),
      maxConnections: env.MAX_CONNECTIONS,
      maxConnectionsPerUser: env.MAX_CONNECTIONS_PER_USER,
      sessionPolicy: env.SESSION_POLICY,
      handshakesPerIpPerMin: env.RATE_LIMIT_HANDSHAKES_PER_MIN,
      eventsPerSocketPerS: env.RATE_LIMIT_EVENTS_PER_S,
      floodSeconds: env.RATE_LIMIT_FLOOD_SECONDS,
      maxPayloadBytes: env.MAX_PAYLOAD_BYTES,
      maxPayloadDepth: env.MAX_PAYLOAD_DEPTH,
      maxOutboundBufferBytes: env.MAX_OUTBOUND_BUFFER_BYTES,
      handshakeTimeoutMs: env.HANDSHAKE_TIMEOUT_MS,
      preAuthConnectionsPerIp: env.PREAUTH_CONNECTIONS_PER_IP,
      restRequestsPerIpPerMin: env.RATE_LIMIT_REST_PER_IP_PER_MIN,
      restRequestsPerUserPerMin: env.RATE_LIMIT_REST_PER_USER_PER_MIN,
    },
    redis: env.REDIS_CLUSTER_NODES
      ? {
          kind: 'cluster',
          nodes: splitList(env.REDIS_CLUSTER_NODES).map(parseHostPort),
          keyPrefix,
          username: env.REDIS_USERNAME,
          password: env.REDIS_PASSWORD,
          tls: env.REDIS_TLS ? { caFile: env.REDIS_TLS_CA_FILE } : null,
          natMap: Object.fromEntries(
            splitList(env.REDIS_CLUSTER_NAT_MAP ?? '').map((entry) => {
              const [announced = '', reachable = ''] = entry.split('=');
              return [announced, parseHostPort(reachable)];
            }),
          ),
        }
      : env.REDIS_URL
        ? { kind: 'single', url: env.REDIS_URL, keyPrefix }
        : null,
    notifications: {
      maxSubscriptions: env.EVENTS_MAX_SUBSCRIPTIONS,
      retentionDays: env.NOTIFICATIONS_RETENTION_DAYS,
    },
    presence: {
      ttlMs: env.PRESENCE_TTL_MS,
      graceMs: env.PRESENCE_GRACE_MS,
      visibility: env.PRESENCE_VISIBILITY,
      chatMaxMembers: env.PRESENCE_CHAT_MAX_MEMBERS,
      maxSubscriptions: env.PRESENCE_MAX_SUBSCRIPTIONS,
      batchMs: env.PRESENCE_BATCH_MS,
    },
    admin: { statsMs: env.ADMIN_STATS_MS },
    metrics: { token: env.METRICS_TOKEN },
    database: databaseTarget(env),
    chat: { maxContentLength: env.CHAT_MAX_CONTENT, typingIdleMs: env.CHAT_TYPING_IDLE_MS },
  };
  return Object.assign(new AppConfig(), config);
}

function jwtKeySource(env: EnvironmentVariables, options: BuildConfigOptions): JwtKeySource {
  if (env.JWT_SECRET) return { kind: 'secret', secret: env.JWT_SECRET, generated: false };
  if (env.JWT_PUBLIC_KEY) return { kind: 'publicKey', publicKey: env.JWT_PUBLIC_KEY.replace(/\\n/g, '\n') };
  if (env.JWT_JWKS_URL) return { kind: 'jwks', jwksUrl: env.JWT_JWKS_URL, cacheMs: env.JWT_JWKS_CACHE_MS };
  if (env.NODE_ENV !== NodeEnv.Production && options.developmentSecret) {
    return { kind: 'secret', secret: options.developmentSecret(env.DATA_DIR), generated: true };
  }
  throw new Error('JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required');
}

function defaultAlgorithms(key: JwtKeySource): Algorithm[] {
  return key.kind === 'secret' ? ['HS256'] : ['RS256', 'ES256'];
}

function databaseTarget(env: EnvironmentVariables): DatabaseTarget {
  const url = env.DATABASE_URL;
  if (url?.startsWith('postgres')) {
    return { kind: 'postgres', connectionString: url, poolSize: env.DATABASE_POOL_SIZE };
  }
  const filename = url ? url.slice('sqlite:'.length) : `${env.DATA_DIR}/switchboard.db`;
  return { kind: 'sqlite', filename };
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

function parseHostPort(value: string): HostPort {
  const separator = value.lastIndexOf(':');
  return { host: value.slice(0, separator), port: Number(value.slice(separator + 1)) };
}
