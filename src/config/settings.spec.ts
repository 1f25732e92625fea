import { ConfigValidationError } from './environment.js';
import { featureProblems, resolveFeatures, SWITCHBOARD_FEATURES } from './features.js';
import { resolveSettings, settingNames } from './settings.js';

const SECRET = 'a-secret-of-more-than-32-characters-0123456789';

describe('embedded settings', () => {
  it('know every environment variable by name', () => {
    for (const name of [
      'JWT_SECRET',
      'REDIS_URL',
      'DATABASE_URL',
      'SERVER_ID',
      'REDIS_TLS',
      'CHAT_MAX_CONTENT',
    ]) {
      expect(settingNames().has(name)).toBe(true);
    }
  });

  it('build the same configuration the environment builds, from typed values', () => {
    const config = resolveSettings({
      NODE_ENV: 'test',
      JWT_SECRET: SECRET,
      MAX_CONNECTIONS: 5,
      CORS_ORIGINS: 'https://app.example',
      REDIS_URL: undefined,
    });
    expect(config.limits.maxConnections).toBe(5);
    expect(config.limits.corsOrigins).toEqual(['https://app.example']);
    expect(config.auth.key).toEqual({ kind: 'secret', secret: SECRET, generated: false });
    expect(config.redis).toBeNull();
  });

  it('read only the settings, and NODE_ENV, unless told to read the environment', () => {
    const saved = process.env;
    process.env = { ...saved, NODE_ENV: 'production', MAX_CONNECTIONS: '7' };
    try {
      const own = resolveSettings({ JWT_SECRET: SECRET });
      expect(own.env).toBe('production');
      expect(own.limits.maxConnections).toBe(0);
      expect(resolveSettings({ JWT_SECRET: SECRET }, { readEnvironment: true }).limits.maxConnections).toBe(
        7,
      );
      expect(
        resolveSettings({ JWT_SECRET: SECRET, MAX_CONNECTIONS: 9 }, { readEnvironment: true }).limits
          .maxConnections,
      ).toBe(9);
    } finally {
      process.env = saved;
    }
  });

  it('refuse what the environment refuses, with its messages, and names that are not settings', () => {
    const attempt = () =>
      resolveSettings({ NODE_ENV: 'production', JWT_SECRET: 'short', PORT: 70000, NOPE: 1 } as never);
    expect(attempt).toThrow(ConfigValidationError);
    expect(attempt).toThrow('NOPE: not a Switchboard setting');
    expect(() => resolveSettings({ NODE_ENV: 'production' })).toThrow(
      'JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required when NODE_ENV=production',
    );
    expect(() => resolveSettings({ NODE_ENV: 'test', PORT: 70000 })).toThrow(
      'PORT must not be greater than 65535',
    );
  });

  it('need a key outside production too, when no development secret is supplied', () => {
    expect(() => resolveSettings({ NODE_ENV: 'development' })).toThrow(ConfigValidationError);
    const config = resolveSettings({ NODE_ENV: 'development' }, { developmentSecret: () => SECRET });
    expect(config.auth.key).toEqual({ kind: 'secret', secret: SECRET, generated: true });
  });
});

describe('features', () => {
  it('default to all of them', () => {
    expect(resolveFeatures().list).toEqual([...SWITCHBOARD_FEATURES]);
  });

  it('keep their canonical order and drop repeats', () => {
    expect(resolveFeatures(['notifications', 'chat', 'chat']).list).toEqual(['chat', 'notifications']);
  });

  it('say what a feature lacks, and which names are unknown', () => {
    expect(featureProblems(['admin', 'presence'])).toEqual([
      "features: 'admin' needs 'notifications'; add it or leave 'admin' out",
    ]);
    expect(featureProblems(['video'])).toEqual([
      'features: unknown feature "video" (known: sessions, chat, presence, notifications, admin)',
    ]);
    expect(featureProblems([])).toEqual([]);
  });
});
