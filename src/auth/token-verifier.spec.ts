import {
  createHmac,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  sign as signWithKey,
} from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import jwt, { type Algorithm, type JwtHeader } from 'jsonwebtoken';
import type { Clock } from '../common/clock.js';
import { AppConfig, buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { parseRoles, TokenVerificationError, TokenVerifier } from './token-verifier.js';

const secret = randomBytes(32).toString('hex');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rotatedRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const attackerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPublicPem = pem(rsa.publicKey);

function pem(publicKey: KeyObject): string {
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

function configFrom(variables: Record<string, string>): AppConfig {
  return buildAppConfig(validateEnvironment({ NODE_ENV: 'test', ...variables }));
}

const nowS = () => Math.floor(Date.now() / 1000);

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: 'alice', iat: nowS(), exp: nowS() + 600, ...overrides };
}

function signed(
  payload: Record<string, unknown>,
  key: KeyObject | string,
  algorithm: Algorithm,
  header: Partial<JwtHeader> = {},
): string {
  return jwt.sign(payload, key, { algorithm, header: { alg: algorithm, ...header } });
}

/** Builds a compact JWS by hand, for headers and signatures the library would refuse to produce. */
function handMadeToken(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signature: (signingInput: string) => Buffer,
): string {
  const signingInput = [header, payload]
    .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
    .join('.');
  return `${signingInput}.${signature(signingInput).toString('base64url')}`;
}

async function refusal(verification: Promise<unknown>): Promise<TokenVerificationError> {
  try {
    await verification;
  } catch (error) {
    if (error instanceof TokenVerificationError) return error;
    throw error;
  }
  throw new Error('the token was accepted');
}

describe('TokenVerifier with a shared secret', () => {
  const verifier = new TokenVerifier(configFrom({ JWT_SECRET: secret }));

  it('accepts an HS256 token and reports its identity', async () => {
    const issuedAt = nowS() - 5;
    const expiresAt = nowS() + 600;
    const token = signed(
      claims({ sid: 'session-1', roles: ['admin'], iat: issuedAt, exp: expiresAt, team: 'blue' }),
      secret,
      'HS256',
    );

    const verified = await verifier.verify(token);

    expect(verified).toEqual({
      userId: 'alice',
      sessionId: 'session-1',
      roles: ['admin'],
      expiresAt: expiresAt * 1000,
      issuedAt: issuedAt * 1000,
      claims: {
        sub: 'alice',
        sid: 'session-1',
        roles: ['admin'],
        iat: issuedAt,
        exp: expiresAt,
        team: 'blue',
      },
    });
  });

  it.each(['none', 'NoNe', 'NONE'])('refuses an unsigned token with alg %p', async (alg) => {
    const token = handMadeToken({ alg, typ: 'JWT' }, claims(), () => Buffer.alloc(0));

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Unsigned tokens (alg "none") are not accepted');
  });

  it('refuses a token signed with another secret', async () => {
    const token = signed(claims(), randomBytes(32).toString('hex'), 'HS256');

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token signature is invalid');
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const [header, , signature] = signed(claims(), secret, 'HS256').split('.');
    const forgedPayload = Buffer.from(JSON.stringify(claims({ roles: ['admin'] }))).toString('base64url');

    const error = await refusal(verifier.verify(`${header}.${forgedPayload}.${signature}`));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token signature is invalid');
  });

  it('reports an expired token as AUTH_EXPIRED with the expiry time', async () => {
    const expiredAt = nowS() - 60;
    const token = signed(claims({ exp: expiredAt }), secret, 'HS256');

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_EXPIRED');
    expect(error.message).toBe(`Token expired at ${new Date(expiredAt * 1000).toISOString()}`);
  });

  it('refuses a token that is not valid yet', async () => {
    const token = signed(claims({ nbf: nowS() + 120 }), secret, 'HS256');

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toMatch(/^Token is not valid before \d{4}-/);
  });

  it('refuses a token without exp', async () => {
    const token = signed({ sub: 'alice' }, secret, 'HS256');

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token has no expiry (exp claim is required)');
  });

  it.each([
    ['missing', {}],
    ['empty', { sub: '' }],
    ['blank', { sub: '   ' }],
    ['not a string', { sub: 42 }],
  ])('refuses a token whose sub is %s', async (_case, subject) => {
    const { sub: _ignored, ...withoutSubject } = claims();
    const token = signed({ ...withoutSubject, ...subject }, secret, 'HS256');

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token has no subject (sub must be a non-empty string)');
  });

  it.each([
    ['one part', 'abc'],
    ['two parts', 'abc.def'],
    ['an empty header', '.e30.c2ln'],
    ['a header that is not JSON', `${Buffer.from('{alg').toString('base64url')}.e30.c2ln`],
  ])('refuses a malformed token (%s)', async (_case, token) => {
    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toMatch(/^Token (is malformed|header is not valid JSON)/);
  });

  it('refuses an algorithm outside the configured allow-list', async () => {
    const strictVerifier = new TokenVerifier(configFrom({ JWT_SECRET: secret, JWT_ALGORITHMS: 'HS512' }));
    const token = signed(claims(), secret, 'HS256');

    const error = await refusal(strictVerifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token algorithm "HS256" is not accepted (accepted: HS512)');
    await expect(strictVerifier.verify(signed(claims(), secret, 'HS512'))).resolves.toMatchObject({
      userId: 'alice',
    });
  });

  it('honours the configured clock tolerance for exp and nbf', async () => {
    const tolerantVerifier = new TokenVerifier(
      configFrom({ JWT_SECRET: secret, JWT_CLOCK_TOLERANCE_S: '60' }),
    );
    const justExpired = signed(claims({ exp: nowS() - 10 }), secret, 'HS256');
    const almostValid = signed(claims({ nbf: nowS() + 10 }), secret, 'HS256');

    await expect(tolerantVerifier.verify(justExpired)).resolves.toMatchObject({ userId: 'alice' });
    await expect(tolerantVerifier.verify(almostValid)).resolves.toMatchObject({ userId: 'alice' });
    expect((await refusal(verifier.verify(justExpired))).code).toBe('AUTH_EXPIRED');
    expect((await refusal(verifier.verify(almostValid))).code).toBe('AUTH_INVALID');
  });

  it('judges exp and nbf by the injected clock, not the system time', async () => {
    let nowMs = Date.now();
    const clock: Clock = { now: () => nowMs, onJump: () => () => undefined };
    const clocked = new TokenVerifier(configFrom({ JWT_SECRET: secret }), clock);
    const expiresAt = nowS() + 60;
    const token = signed(claims({ nbf: nowS() + 30, exp: expiresAt }), secret, 'HS256');

    const early = await refusal(clocked.verify(token));
    nowMs += 31_000;
    const verified = await clocked.verify(token);
    nowMs += 30_000;
    const late = await refusal(clocked.verify(token));

    expect(early.code).toBe('AUTH_INVALID');
    expect(early.message).toMatch(/^Token is not valid before \d{4}-/);
    expect(verified.userId).toBe('alice');
    expect(late.code).toBe('AUTH_EXPIRED');
    expect(late.message).toBe(`Token expired at ${new Date(expiresAt * 1000).toISOString()}`);
  });

  it.each([
    ['exp', { exp: String(nowS() + 600) }, 'Token expiry (exp) is not a number'],
    ['exp', { exp: null }, 'Token expiry (exp) is not a number'],
    ['nbf', { nbf: 'soon' }, 'Token not-before time (nbf) is not a number'],
    ['iat', { iat: 'now' }, 'Token issue time (iat) is not a number'],
  ])('refuses a token whose %s is not a number: %p', async (_claim, extra, message) => {
    const token = handMadeToken({ alg: 'HS256', typ: 'JWT' }, claims(extra), (input) =>
      createHmac('sha256', secret).update(input).digest(),
    );

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe(message);
  });

  it('refuses a validly signed token whose payload is not a JSON object', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from('["alice"]').toString('base64url');
    const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');

    const error = await refusal(verifier.verify(`${header}.${payload}.${signature}`));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token payload is not a JSON object');
  });

  it('refuses a token that marks a header extension it needs as critical', async () => {
    const token = handMadeToken({ alg: 'HS256', crit: ['x-needs'], 'x-needs': true }, claims(), (input) =>
      createHmac('sha256', secret).update(input).digest(),
    );

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token uses a header parameter or key the server does not support');
  });

  describe('with an issuer and an audience configured', () => {
    const checkingVerifier = new TokenVerifier(
      configFrom({ JWT_SECRET: secret, JWT_ISSUER: 'https://id.example.com', JWT_AUDIENCE: 'switchboard' }),
    );

    it('accepts a token from that issuer for that audience', async () => {
      const token = signed(
        claims({ iss: 'https://id.example.com', aud: ['billing', 'switchboard'] }),
        secret,
        'HS256',
      );

      await expect(checkingVerifier.verify(token)).resolves.toMatchObject({ userId: 'alice' });
    });

    it.each([
      ['another issuer', { iss: 'https://evil.example.com', aud: 'switchboard' }],
      ['no issuer', { aud: 'switchboard' }],
    ])('refuses a token from %s', async (_case, extra) => {
      const error = await refusal(checkingVerifier.verify(signed(claims(extra), secret, 'HS256')));

      expect(error.code).toBe('AUTH_INVALID');
      expect(error.message).toBe('Token issuer (iss) is not accepted (expected "https://id.example.com")');
    });

    it.each([
      ['another audience', { iss: 'https://id.example.com', aud: 'billing' }],
      ['no audience', { iss: 'https://id.example.com' }],
    ])('refuses a token for %s', async (_case, extra) => {
      const error = await refusal(checkingVerifier.verify(signed(claims(extra), secret, 'HS256')));

      expect(error.code).toBe('AUTH_INVALID');
      expect(error.message).toBe('Token audience (aud) is not accepted (expected "switchboard")');
    });

    it('in production keeps the expected issuer, audience and algorithms out of the message, not the detail', async () => {
      const production = new TokenVerifier(
        configFrom({
          NODE_ENV: 'production',
          JWT_SECRET: secret,
          JWT_ISSUER: 'https://id.example.com',
          JWT_AUDIENCE: 'switchboard',
        }),
      );
      const tokens = [
        signed(claims({ iss: 'https://evil.example.com', aud: 'switchboard' }), secret, 'HS256'),
        signed(claims({ iss: 'https://id.example.com', aud: 'billing' }), secret, 'HS256'),
        signed(claims({ iss: 'https://id.example.com', aud: 'switchboard' }), secret, 'HS384'),
      ];
      for (const token of tokens) {
        const error = await refusal(production.verify(token));
        expect(error.code).toBe('AUTH_INVALID');
        expect(error.message).not.toMatch(/id\.example\.com|"switchboard"|HS256/);
        expect(error.detail).toMatch(/id\.example\.com|"switchboard"|HS256/);
      }
    });
  });

  describe('absurd dates', () => {
    it.each([
      ['exp past the last representable date', { exp: 9e12 }],
      ['exp of 1e300', { exp: 1e300 }],
      ['an iat past the last representable date', { iat: 9e12 }],
      ['an nbf before the first representable date', { nbf: -9e12 }],
      ['an nbf in the future past the last representable date', { nbf: 9e12 }],
      ['exp before 1970', { exp: -1 }],
      ['exp of -1e300', { exp: -1e300 }],
    ])('refuses a validly signed token with %s as AUTH_INVALID', async (_case, extra) => {
      const error = await refusal(verifier.verify(signed(claims(extra), secret, 'HS256')));

      expect(error.code).toBe('AUTH_INVALID');
      expect(error.message).toMatch(
        /^Token (exp|iat|nbf) claim is not a time between 1970 and the last date a server can represent$/,
      );
    });

    it('accepts an expiry far away but representable', async () => {
      const token = signed(claims({ exp: 8.64e12 - 1 }), secret, 'HS256');

      await expect(verifier.verify(token)).resolves.toMatchObject({ expiresAt: (8.64e12 - 1) * 1000 });
    });
  });

  describe('roles and session', () => {
    it.each([
      [
        ['admin', 'service'],
        ['admin', 'service'],
      ],
      ['admin service', ['admin', 'service']],
      ['admin, service,,ops', ['admin', 'service', 'ops']],
      [['admin', 7], []],
      [{ admin: true }, []],
      [42, []],
      [undefined, []],
    ])('reads roles %p as %p', async (roles, expected) => {
      const verified = await verifier.verify(signed(claims({ roles }), secret, 'HS256'));

      expect(verified.roles).toEqual(expected);
    });

    it('reads roles from the configured claim, such as cognito:groups, and nowhere else', async () => {
      const cognitoVerifier = new TokenVerifier(
        configFrom({ JWT_SECRET: secret, JWT_ROLES_CLAIM: 'cognito:groups' }),
      );
      const token = signed(claims({ 'cognito:groups': ['admin'], roles: ['service'] }), secret, 'HS256');

      await expect(cognitoVerifier.verify(token)).resolves.toMatchObject({ roles: ['admin'] });
    });

    it.each([
      ['session-7', 'session-7'],
      ['', undefined],
      [7, undefined],
    ])('reads sid %p as session %p', async (sid, expected) => {
      const verified = await verifier.verify(signed(claims({ sid }), secret, 'HS256'));

      expect(verified.sessionId).toBe(expected);
    });
  });
});

describe('TokenVerifier with an RSA public key', () => {
  const verifier = new TokenVerifier(configFrom({ JWT_PUBLIC_KEY: rsaPublicPem }));

  it('accepts an RS256 token', async () => {
    const token = signed(claims({ roles: ['service'] }), rsa.privateKey, 'RS256');

    await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'alice', roles: ['service'] });
  });

  it('accepts a key written on one line with \\n escapes, as in an environment file', async () => {
    const oneLineVerifier = new TokenVerifier(
      configFrom({ JWT_PUBLIC_KEY: rsaPublicPem.replace(/\n/g, '\\n') }),
    );

    await expect(oneLineVerifier.verify(signed(claims(), rsa.privateKey, 'RS256'))).resolves.toMatchObject({
      userId: 'alice',
    });
  });

  it('refuses an HS256 token signed with the public key as the secret (algorithm confusion)', async () => {
    const token = handMadeToken({ alg: 'HS256', typ: 'JWT' }, claims(), (input) =>
      createHmac('sha256', rsaPublicPem).update(input).digest(),
    );

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token algorithm "HS256" is not accepted (accepted: RS256)');
  });

  it('keeps HS algorithms out even when the allow-list names them', async () => {
    const validated = configFrom({ JWT_PUBLIC_KEY: rsaPublicPem });
    const widened = Object.assign(new AppConfig(), {
      ...validated,
      auth: { ...validated.auth, algorithms: ['RS256', 'HS256'] satisfies Algorithm[] },
    });
    const token = handMadeToken({ alg: 'HS256', typ: 'JWT' }, claims(), (input) =>
      createHmac('sha256', rsaPublicPem).update(input).digest(),
    );

    const error = await refusal(new TokenVerifier(widened).verify(token));

    expect(error.message).toBe('Token algorithm "HS256" is not accepted (accepted: RS256)');
  });

  it('refuses an ES256 token although ES256 is in the default allow-list, because the key is RSA', async () => {
    const error = await refusal(verifier.verify(signed(claims(), ec.privateKey, 'ES256')));

    expect(error.message).toBe('Token algorithm "ES256" is not accepted (accepted: RS256)');
  });

  it('refuses a token signed with another RSA key', async () => {
    const error = await refusal(verifier.verify(signed(claims(), attackerRsa.privateKey, 'RS256')));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token signature is invalid');
  });

  it('accepts a PS256 token signed with the same RSA key', async () => {
    const psVerifier = new TokenVerifier(
      configFrom({ JWT_PUBLIC_KEY: rsaPublicPem, JWT_ALGORITHMS: 'PS256' }),
    );

    await expect(psVerifier.verify(signed(claims(), rsa.privateKey, 'PS256'))).resolves.toMatchObject({
      userId: 'alice',
    });
    expect((await refusal(psVerifier.verify(signed(claims(), rsa.privateKey, 'RS256')))).message).toBe(
      'Token algorithm "RS256" is not accepted (accepted: PS256)',
    );
  });

  it('refuses to start with a value that is not a public key', () => {
    expect(() => new TokenVerifier(configFrom({ JWT_PUBLIC_KEY: 'not a key' }))).toThrow(
      'JWT_PUBLIC_KEY is not a PEM-encoded public key',
    );
  });

  it('refuses to start with an RSA key under 2048 bits', () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });

    expect(() => new TokenVerifier(configFrom({ JWT_PUBLIC_KEY: pem(short.publicKey) }))).toThrow(
      'JWT_PUBLIC_KEY is a 1024-bit RSA key; at least 2048 bits are required',
    );
  });

  it('refuses to start with an RSASSA-PSS-only key, naming the plain RSA form that works', () => {
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });

    expect(
      () => new TokenVerifier(configFrom({ JWT_PUBLIC_KEY: pem(pss.publicKey), JWT_ALGORITHMS: 'PS256' })),
    ).toThrow(/^JWT_PUBLIC_KEY is an RSASSA-PSS key .*export it as a plain RSA public key/);
  });
});

describe('TokenVerifier with an EC public key', () => {
  it('accepts an ES256 token', async () => {
    const verifier = new TokenVerifier(configFrom({ JWT_PUBLIC_KEY: pem(ec.publicKey) }));
    const token = signed(claims({ roles: 'admin' }), ec.privateKey, 'ES256');

    await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'alice', roles: ['admin'] });
  });

  it('refuses to start when no allowed algorithm fits the key', () => {
    expect(
      () => new TokenVerifier(configFrom({ JWT_PUBLIC_KEY: pem(ec.publicKey), JWT_ALGORITHMS: 'RS256' })),
    ).toThrow(
      'JWT_ALGORITHMS (RS256) holds no algorithm usable with ec public key on curve prime256v1; usable: ES256',
    );
  });
});

/** A real HTTP server that serves a key set and records every request it receives. */
class KeySetServer {
  keys: JsonWebKey[] = [];
  status = 200;
  readonly requests: string[] = [];
  private readonly server: Server = createServer((request, response) => {
    this.requests.push(request.url ?? '');
    response.writeHead(this.status, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: this.keys }));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/.well-known/jwks.json`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) =>
      this.server.close((error) => (error ? reject(error) : resolve())),
    );
  }
}

function jwk(publicKey: KeyObject, kid: string, alg: Algorithm): JsonWebKey {
  return { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const UNKNOWN_KID = 'Token key id (kid) is not in the trusted key set, or its key does not fit the algorithm';

/** Runs `action` with the clock moved forward; the HTTP client keeps its real timers. */
async function afterClockMoves<T>(byMs: number, action: () => Promise<T>): Promise<T> {
  jest.useFakeTimers({
    now: Date.now() + byMs,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
  try {
    return await action();
  } finally {
    jest.useRealTimers();
  }
}

describe('TokenVerifier with a JWKS endpoint', () => {
  const keySet = new KeySetServer();
  const attacker = new KeySetServer();
  let jwksUrl: string;
  let attackerUrl: string;

  beforeAll(async () => {
    [jwksUrl, attackerUrl] = await Promise.all([keySet.start(), attacker.start()]);
  });

  afterAll(async () => {
    await Promise.all([keySet.stop(), attacker.stop()]);
  });

  beforeEach(() => {
    keySet.keys = [jwk(rsa.publicKey, 'key-1', 'RS256'), jwk(ec.publicKey, 'key-ec', 'ES256')];
    keySet.status = 200;
    keySet.requests.length = 0;
    attacker.keys = [jwk(attackerRsa.publicKey, 'key-1', 'RS256')];
    attacker.requests.length = 0;
  });

  const verifierFor = (variables: Record<string, string> = {}) =>
    new TokenVerifier(configFrom({ JWT_JWKS_URL: jwksUrl, ...variables }));

  it('accepts RS256 and ES256 tokens and fetches the key set once for many verifications', async () => {
    const verifier = verifierFor();
    const token = signed(claims(), rsa.privateKey, 'RS256', { kid: 'key-1' });

    const concurrent = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(token)));
    for (let round = 0; round < 15; round += 1) await verifier.verify(token);

    expect(concurrent.map((verified) => verified.userId)).toEqual(Array(10).fill('alice'));
    expect(keySet.requests).toEqual(['/.well-known/jwks.json']);
    await expect(
      verifier.verify(signed(claims({ sub: 'bob' }), ec.privateKey, 'ES256', { kid: 'key-ec' })),
    ).resolves.toMatchObject({ userId: 'bob' });
  });

  it('accepts a key added by rotation once the endpoint serves it', async () => {
    const verifier = verifierFor();
    const rotatedToken = signed(claims(), rotatedRsa.privateKey, 'RS256', { kid: 'key-2' });
    await verifier.verify(signed(claims(), rsa.privateKey, 'RS256', { kid: 'key-1' }));

    const early = await refusal(verifier.verify(rotatedToken));
    keySet.keys = [...keySet.keys, jwk(rotatedRsa.publicKey, 'key-2', 'RS256')];
    const verified = await afterClockMoves(31_000, () => verifier.verify(rotatedToken));
    await verifier.verify(signed(claims(), rsa.privateKey, 'RS256', { kid: 'key-1' }));

    expect(early.message).toBe(UNKNOWN_KID);
    expect(verified.userId).toBe('alice');
    expect(keySet.requests).toHaveLength(2);
  });

  it('refetches for unknown kids at most once per cooldown while known keys keep working', async () => {
    const verifier = verifierFor();
    const knownToken = signed(claims(), rsa.privateKey, 'RS256', { kid: 'key-1' });
    await verifier.verify(knownToken);

    const messages: string[] = [];
    for (let attempt = 0; attempt < 11; attempt += 1) {
      const forged = signed(claims(), attackerRsa.privateKey, 'RS256', { kid: `forged-${attempt}` });
      messages.push((await refusal(verifier.verify(forged))).message);
    }
    await verifier.verify(knownToken);

    expect(messages).toEqual(Array(11).fill(UNKNOWN_KID));
    expect(keySet.requests).toHaveLength(1);
  });

  it('fetches the key set again once the cache age has passed, dropping removed keys', async () => {
    const verifier = verifierFor({ JWT_JWKS_CACHE_MS: '1000' });
    const token = signed(claims(), rsa.privateKey, 'RS256', { kid: 'key-1' });
    await verifier.verify(token);
    keySet.keys = [jwk(rotatedRsa.publicKey, 'key-2', 'RS256')];
    await verifier.verify(token);
    expect(keySet.requests).toHaveLength(1);

    const error = await afterClockMoves(1001, () => refusal(verifier.verify(token)));

    expect(error.message).toBe(UNKNOWN_KID);
    expect(keySet.requests).toHaveLength(2);
  });

  it('never follows key locations carried by the token and refuses a kid the key set does not hold', async () => {
    const verifier = verifierFor();
    const attackerJwk = jwk(attackerRsa.publicKey, 'attacker-key', 'RS256');
    const token = handMadeToken(
      { alg: 'RS256', typ: 'JWT', kid: 'attacker-key', jku: attackerUrl, x5u: attackerUrl, jwk: attackerJwk },
      claims({ roles: ['admin'] }),
      (input) => signWithKey('sha256', Buffer.from(input), attackerRsa.privateKey),
    );

    const error = await refusal(verifier.verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe(UNKNOWN_KID);
    expect(attacker.requests).toEqual([]);
    expect(keySet.requests).toHaveLength(1);
  });

  it('refuses a token that reuses a trusted kid but points jku at another key set', async () => {
    const token = signed(claims(), attackerRsa.privateKey, 'RS256', { kid: 'key-1', jku: attackerUrl });

    const error = await refusal(verifierFor().verify(token));

    expect(error.message).toBe('Token signature is invalid');
    expect(attacker.requests).toEqual([]);
  });

  it('refuses a token without kid', async () => {
    const error = await refusal(verifierFor().verify(signed(claims(), rsa.privateKey, 'RS256')));

    expect(error.message).toBe('Token has no key id (kid); it is required when keys come from a key set');
  });

  it('checks the algorithm against the allow-list before looking up any key', async () => {
    const verifier = verifierFor({ JWT_ALGORITHMS: 'RS256' });
    const esToken = signed(claims(), ec.privateKey, 'ES256', { kid: 'key-ec' });
    const hsToken = handMadeToken({ alg: 'HS256', kid: 'key-1' }, claims(), (input) =>
      createHmac('sha256', rsaPublicPem).update(input).digest(),
    );

    const errors = await Promise.all([refusal(verifier.verify(esToken)), refusal(verifier.verify(hsToken))]);

    expect(errors.map((error) => error.message)).toEqual([
      'Token algorithm "ES256" is not accepted (accepted: RS256)',
      'Token algorithm "HS256" is not accepted (accepted: RS256)',
    ]);
    expect(keySet.requests).toEqual([]);
  });

  it('refuses a token whose algorithm differs from the one its key declares', async () => {
    const verifier = verifierFor({ JWT_ALGORITHMS: 'RS256,RS512' });
    const token = signed(claims(), rsa.privateKey, 'RS512', { kid: 'key-1' });

    const error = await refusal(verifier.verify(token));

    expect(error.message).toBe(UNKNOWN_KID);
  });

  it('refuses a token whose algorithm does not fit a key that declares none', async () => {
    keySet.keys = [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'bare-ec' }];
    const verifier = verifierFor({ JWT_ALGORITHMS: 'RS256,ES256' });
    const token = handMadeToken({ alg: 'RS256', kid: 'bare-ec' }, claims(), (input) =>
      signWithKey('sha256', Buffer.from(input), rsa.privateKey),
    );

    const error = await refusal(verifier.verify(token));

    expect(error.message).toBe(UNKNOWN_KID);
  });

  it('refuses tokens while the key set endpoint fails, without blaming the signature', async () => {
    keySet.status = 503;

    const error = await refusal(
      verifierFor().verify(signed(claims(), rsa.privateKey, 'RS256', { kid: 'key-1' })),
    );

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Signing keys are unavailable: the key set endpoint could not be read');
    expect(error.cause).toBeDefined();
  });

  it('refuses a token whose key in the set is too short to trust, and says why in the log only', async () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    keySet.keys = [jwk(short.publicKey, 'short', 'RS256')];

    const token = handMadeToken({ alg: 'RS256', kid: 'short' }, claims(), (input) =>
      signWithKey('sha256', Buffer.from(input), short.privateKey),
    );

    const error = await refusal(verifierFor().verify(token));

    expect(error.code).toBe('AUTH_INVALID');
    expect(error.message).toBe('Token could not be verified');
    expect(error.detail).toMatch(/^Token could not be verified: .*2048/);
  });
});

describe('parseRoles', () => {
  it('removes duplicates and blanks, and takes array entries exactly as written', () => {
    expect(parseRoles(['admin', 'admin', '', 'service'])).toEqual(['admin', 'service']);
    expect(parseRoles(['admin '])).toEqual(['admin ']);
    expect(parseRoles('admin,admin service')).toEqual(['admin', 'service']);
  });
});
