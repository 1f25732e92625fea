import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppConfig, buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { demoTokenBanner, loadOrCreateDevelopmentSecret, mintToken } from './dev-credentials.js';
import { TokenVerifier } from './token-verifier.js';

const secret = randomBytes(32).toString('hex');

function configFrom(variables: Record<string, string>): AppConfig {
  return buildAppConfig(validateEnvironment({ NODE_ENV: 'test', ...variables }), {
    developmentSecret: loadOrCreateDevelopmentSecret,
  });
}

describe('loadOrCreateDevelopmentSecret', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'switchboard-dev-secret-'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('creates the data directory and a private file holding 48 random bytes', () => {
    const dataDir = join(root, 'nested', 'data');

    const created = loadOrCreateDevelopmentSecret(dataDir);

    const file = join(dataDir, 'dev-jwt-secret');
    expect(created).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(Buffer.from(created, 'base64url')).toHaveLength(48);
    expect(readFileSync(file, 'utf8').trim()).toBe(created);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dataDir)).toEqual(['dev-jwt-secret']);
  });

  it('returns the same secret on later calls', () => {
    const first = loadOrCreateDevelopmentSecret(root);

    expect(loadOrCreateDevelopmentSecret(root)).toBe(first);
  });

  it('reads a secret that is already there', () => {
    writeFileSync(join(root, 'dev-jwt-secret'), 'an-existing-secret\n');

    expect(loadOrCreateDevelopmentSecret(root)).toBe('an-existing-secret');
  });

  it('refuses an empty secret file rather than replacing it silently', () => {
    writeFileSync(join(root, 'dev-jwt-secret'), '\n');

    expect(() => loadOrCreateDevelopmentSecret(root)).toThrow(/dev-jwt-secret is empty; delete it/);
  });

  it('is what the configuration uses when no key is set outside production', async () => {
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    const config = configFrom({ DATA_DIR: dataDir });

    expect(config.auth.key).toEqual({
      kind: 'secret',
      secret: readFileSync(join(dataDir, 'dev-jwt-secret'), 'utf8').trim(),
      generated: true,
    });
    await expect(
      new TokenVerifier(config).verify(mintToken(config, { sub: 'alice' })),
    ).resolves.toMatchObject({
      userId: 'alice',
    });
  });
});

describe('mintToken', () => {
  it('mints a token the verifier accepts, with roles, session and a default lifetime of one hour', async () => {
    const config = configFrom({ JWT_SECRET: secret });
    const before = Date.now();

    const verified = await new TokenVerifier(config).verify(
      mintToken(config, { sub: 'alice', roles: ['admin', 'service'], sid: 's1' }),
    );

    expect(verified).toMatchObject({ userId: 'alice', roles: ['admin', 'service'], sessionId: 's1' });
    expect(verified.expiresAt - (verified.issuedAt ?? 0)).toBe(3600_000);
    expect(verified.issuedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
  });

  it.each([
    ['15m', 900],
    ['2h', 7200],
    ['7d', 604800],
    ['90', 90],
    [3600, 3600],
  ])('takes ttl %p as %p seconds', async (ttl, seconds) => {
    const config = configFrom({ JWT_SECRET: secret });

    const verified = await new TokenVerifier(config).verify(mintToken(config, { sub: 'alice', ttl }));

    expect(verified.expiresAt - (verified.issuedAt ?? 0)).toBe(seconds * 1000);
  });

  it.each(['soon', '1y', '-5', '', 0, 1.5])('refuses ttl %p', (ttl) => {
    const config = configFrom({ JWT_SECRET: secret });

    expect(() => mintToken(config, { sub: 'alice', ttl })).toThrow(
      /^Invalid ttl .*: use whole seconds or a duration/,
    );
  });

  it('sets issuer, audience and the configured roles claim', async () => {
    const config = configFrom({
      JWT_SECRET: secret,
      JWT_ISSUER: 'https://id.example.com',
      JWT_AUDIENCE: 'switchboard',
      JWT_ROLES_CLAIM: 'cognito:groups',
      JWT_ALGORITHMS: 'HS512',
    });

    const verified = await new TokenVerifier(config).verify(
      mintToken(config, { sub: 'alice', roles: ['admin'] }),
    );

    expect(verified.roles).toEqual(['admin']);
    expect(verified.claims).toMatchObject({
      iss: 'https://id.example.com',
      aud: 'switchboard',
      'cognito:groups': ['admin'],
    });
    expect(verified.claims).not.toHaveProperty('roles');
  });

  it('leaves out roles and sid when none are given', async () => {
    const config = configFrom({ JWT_SECRET: secret });

    const verified = await new TokenVerifier(config).verify(mintToken(config, { sub: 'alice' }));

    expect(verified.claims).not.toHaveProperty('roles');
    expect(verified.claims).not.toHaveProperty('sid');
  });

  it('refuses an empty subject', () => {
    expect(() => mintToken(configFrom({ JWT_SECRET: secret }), { sub: ' ' })).toThrow(
      'sub must be a non-empty user id',
    );
  });

  it('refuses when tokens come from an identity provider', () => {
    const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();

    expect(() => mintToken(configFrom({ JWT_PUBLIC_KEY: publicKey }), { sub: 'alice' })).toThrow(
      /^Cannot mint tokens: the server verifies tokens with a public key \(JWT_PUBLIC_KEY\); get tokens from the identity provider/,
    );
    expect(() =>
      mintToken(configFrom({ JWT_JWKS_URL: 'https://id.example.com/.well-known/jwks.json' }), {
        sub: 'alice',
      }),
    ).toThrow(/^Cannot mint tokens: the server verifies tokens with a JWKS endpoint \(JWT_JWKS_URL\)/);
  });
});

describe('demoTokenBanner', () => {
  it('lists day-long tokens for a demo user and a demo admin, and how to connect', async () => {
    const config = configFrom({ JWT_SECRET: secret, PORT: '4100' });
    const verifier = new TokenVerifier(config);

    const banner = demoTokenBanner(config);

    const tokens = banner.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g) ?? [];
    expect(tokens).toHaveLength(3);
    const [userToken, adminToken, connectToken] = tokens;
    if (!userToken || !adminToken || !connectToken) throw new Error('Expected three tokens in the banner');
    const [user, admin, connectExample] = await Promise.all([
      verifier.verify(userToken),
      verifier.verify(adminToken),
      verifier.verify(connectToken),
    ]);
    expect(user).toMatchObject({ userId: 'demo-user', roles: [] });
    expect(admin).toMatchObject({ userId: 'demo-admin', roles: ['admin'] });
    expect(connectExample.userId).toBe('demo-user');
    expect(user.expiresAt - (user.issuedAt ?? 0)).toBe(24 * 3600_000);
    expect(banner).toContain(`io('http://localhost:4100', { auth: { token: '${userToken}' } })`);
    expect(banner).toContain('npm run token -- --sub alice');
  });

  it('names the file of a generated development secret', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-banner-'));
    try {
      const banner = demoTokenBanner(configFrom({ DATA_DIR: dataDir }));

      expect(banner).toContain(`signed with the development secret in ${join(dataDir, 'dev-jwt-secret')}`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
