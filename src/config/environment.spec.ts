import { buildAppConfig } from './app-config.js';
import { ConfigValidationError, validateEnvironment } from './environment.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    validateEnvironment(env);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems;
    throw error;
  }
  return [];
}

describe('environment validation', () => {
  it('applies the documented defaults', () => {
    const config = buildAppConfig(validateEnvironment({ JWT_SECRET: 'secret' }));
    expect(config.server.port).toBe(3000);
    expect(config.env).toBe('development');
    expect(config.sessions.broadcastMs).toBe(1000);
    expect(config.limits.maxPayloadBytes).toBe(1048576);
    expect(config.limits.sessionPolicy).toBe('multi');
    expect(config.redis).toBeNull();
    expect(config.database).toEqual({ kind: 'sqlite', filename: './data/switchboard.db' });
    expect(config.auth.algorithms).toEqual(['HS256']);
    expect(config.presence).toEqual({
      ttlMs: 10000,
      graceMs: 5000,
      visibility: 'all',
      chatMaxMembers: 100,
      maxSubscriptions: 1000,
      batchMs: 20,
    });
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['SESSION_POLICY', { SESSION_POLICY: 'some' }],
    ['REDIS_URL', { REDIS_URL: 'http://localhost:6379' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db' }],
    ['JWT_ALGORITHMS', { JWT_ALGORITHMS: 'none' }],
    ['MAX_PAYLOAD_BYTES', { MAX_PAYLOAD_BYTES: '10' }],
    ['REDIS_CLUSTER_NODES', { REDIS_CLUSTER_NODES: 'a:1,b' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: '*.example.com' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'https://app.example.com/path' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'https://app.example.com,ftp://files.example.com' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'https://app.*.example.com' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'the load balancer' }],
    ['CHAT_TYPING_IDLE_MS', { CHAT_TYPING_IDLE_MS: '10' }],
    ['PRESENCE_BATCH_MS', { PRESENCE_BATCH_MS: '1001' }],
    ['PRESENCE_BATCH_MS', { PRESENCE_BATCH_MS: 'soon' }],
  ])('names %s when its value is bad', (variable, env) => {
    const problems = problemsOf({ JWT_SECRET: 'secret', ...env });
    expect(problems.some((problem) => problem.startsWith(variable))).toBe(true);
  });

  it('accepts origins, wildcard subdomains and * in CORS_ORIGINS', () => {
    const config = buildAppConfig(
      validateEnvironment({
        JWT_SECRET: 'secret',
        CORS_ORIGINS:
          'https://app.example.com, https://*.example.com,http://localhost:5173,http://[::1]:8080,*',
      }),
    );
    expect(config.limits.corsOrigins).toHaveLength(5);
  });

  it('reads the Redis Cluster credentials, TLS and NAT mapping, for REDIS_CLUSTER_NODES only', () => {
    const config = buildAppConfig(
      validateEnvironment({
        JWT_SECRET: 'secret',
        REDIS_CLUSTER_NODES: 'redis-a:6379,redis-b:6379',
        REDIS_USERNAME: 'switchboard',
        REDIS_PASSWORD: 'secret',
        REDIS_TLS: 'true',
        REDIS_TLS_CA_FILE: '/etc/ssl/redis-ca.pem',
        REDIS_CLUSTER_NAT_MAP: '10.0.0.5:6379=redis-a:6379,10.0.0.6:6379=redis-b:6379',
      }),
    );
    expect(config.redis).toMatchObject({
      kind: 'cluster',
      username: 'switchboard',
      password: 'secret',
      tls: { caFile: '/etc/ssl/redis-ca.pem' },
      natMap: {
        '10.0.0.5:6379': { host: 'redis-a', port: 6379 },
        '10.0.0.6:6379': { host: 'redis-b', port: 6379 },
      },
    });
    expect(
      problemsOf({ JWT_SECRET: 'secret', REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'x' }).join(),
    ).toContain('REDIS_PASSWORD applies to REDIS_CLUSTER_NODES');
    expect(
      problemsOf({ JWT_SECRET: 'secret', REDIS_URL: 'redis://r:6379', REDIS_TLS: 'true' }).join(),
    ).toContain('rediss://');
    expect(
      problemsOf({
        JWT_SECRET: 'secret',
        REDIS_CLUSTER_NODES: 'a:1',
        REDIS_CLUSTER_NAT_MAP: '10.0.0.5=a:1',
      }).join(),
    ).toContain('REDIS_CLUSTER_NAT_MAP');
  });

  it('reads TRUST_PROXY as a hop count or trusted addresses', () => {
    const trustOf = (value: string) =>
      buildAppConfig(validateEnvironment({ JWT_SECRET: 'secret', TRUST_PROXY: value })).server.trustProxy;
    expect(trustOf('false')).toEqual({ kind: 'none' });
    expect(trustOf('true')).toEqual({ kind: 'hops', hops: 1 });
    expect(trustOf('2')).toEqual({ kind: 'hops', hops: 2 });
    expect(trustOf('loopback, 10.0.0.0/8')).toEqual({ kind: 'addresses', list: ['loopback', '10.0.0.0/8'] });
  });

  it('requires a key in production and a long secret', () => {
    expect(problemsOf({ NODE_ENV: 'production' }).join()).toContain(
      'JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required',
    );
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'short' }).join()).toContain(
      'at least 32 characters',
    );
  });

  it('refuses two key sources, and algorithm lists that invite confusion', () => {
    expect(problemsOf({ JWT_SECRET: 's', JWT_JWKS_URL: 'https://idp.example.com/jwks' }).join()).toContain(
      'exactly one',
    );
    expect(problemsOf({ JWT_SECRET: 's', JWT_ALGORITHMS: 'HS256,RS256' }).join()).toContain(
      'algorithm confusion',
    );
    expect(problemsOf({ JWT_SECRET: 's', JWT_ALGORITHMS: 'RS256' }).join()).toContain('JWT_SECRET needs HS*');
  });

  it('reports every bad variable at once', () => {
    const problems = problemsOf({ JWT_SECRET: 's', PORT: 'x', SESSION_POLICY: 'y' });
    expect(problems.filter((problem) => /^(PORT|SESSION_POLICY)/.test(problem))).toHaveLength(2);
  });

  it('reads Redis, PostgreSQL and list variables', () => {
    const config = buildAppConfig(
      validateEnvironment({
        JWT_SECRET: 's',
        REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7001',
        DATABASE_URL: 'postgres://u:p@db/switchboard',
        CORS_ORIGINS: 'https://a.example.com, https://*.example.org',
      }),
    );
    expect(config.redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      keyPrefix: 'sb:',
      username: undefined,
      password: undefined,
      tls: null,
      natMap: {},
    });
    expect(config.database).toEqual({
      kind: 'postgres',
      connectionString: 'postgres://u:p@db/switchboard',
      poolSize: 10,
    });
    expect(config.limits.corsOrigins).toEqual(['https://a.example.com', 'https://*.example.org']);
  });

  it('uses the development secret only outside production', () => {
    const secret = () => 'generated';
    const config = buildAppConfig(validateEnvironment({}), { developmentSecret: secret });
    expect(config.auth.key).toEqual({ kind: 'secret', secret: 'generated', generated: true });
  });
});
