import { generateKeyPairSync, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { SessionsEvent } from '../../src/sessions/sessions.events.js';
import { startApp, TEST_SECRET, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { base64url, nowS, signHs256, unsignedToken } from '../support/security.js';
import { unauthorizedBody } from '../support/rest-errors.js';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'switchboard';
const NAMESPACES = ['/', '/chat'] as const;
const UNLIMITED = {
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
  RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
};
type Claims = Record<string, unknown>;
type HandshakeCode = 'AUTH_INVALID' | 'AUTH_EXPIRED';

/** A REST refusal: `UNAUTHORIZED`, with the code a handshake refuses the same token with. */

interface ForgedToken {
  name: string;
  token: () => string;
  code: HandshakeCode;
  /** Statuses REST may answer; 401 unless the token cannot even reach the app. */
  restStatuses?: number[];
}

/** Claims the issuer/audience app accepts; `overrides` set or (with `undefined`) remove claims. */
function claims(overrides: Claims = {}): Claims {
  const base: Claims = {
    sub: 'alice',
    jti: randomUUID(),
    iat: nowS(),
    exp: nowS() + 600,
    iss: ISSUER,
    aud: AUDIENCE,
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return base;
}

const signed = (overrides: Claims = {}) => signHs256(claims(overrides), TEST_SECRET);

function tamperedPayload(): string {
  const [header, , signature] = signed().split('.');
  return `${header}.${base64url(claims({ sub: 'root', roles: ['admin'] }))}.${signature}`;
}

/** Every way to forge or spoil a token for the HS256 app with JWT_ISSUER and JWT_AUDIENCE set. */
const FORGED: ForgedToken[] = [
  ...['none', 'NoNe', 'NONE', 'nOnE'].map((alg): ForgedToken => ({
    name: `alg "${alg}" without a signature`,
    token: () => unsignedToken(claims({ roles: ['admin'] }), alg),
    code: 'AUTH_INVALID',
  })),
  {
    name: 'alg "none" carrying the signature of another token',
    token: () => {
      const signature = signed().split('.')[2];
      return `${unsignedToken(claims({ roles: ['admin'] }), 'none')}${signature}`;
    },
    code: 'AUTH_INVALID',
  },
  {
    name: 'a token signed with another key',
    token: () => signHs256(claims(), 'another-secret-0123456789-0123456789-0123'),
    code: 'AUTH_INVALID',
  },
  {
    name: 'HS256 with an empty key',
    token: () => signHs256(claims(), ''),
    code: 'AUTH_INVALID',
  },
  { name: 'a tampered payload under the original signature', token: tamperedPayload, code: 'AUTH_INVALID' },
  { name: 'no sub', token: () => signed({ sub: undefined }), code: 'AUTH_INVALID' },
  { name: 'an empty sub', token: () => signed({ sub: '' }), code: 'AUTH_INVALID' },
  { name: 'a blank sub', token: () => signed({ sub: '   ' }), code: 'AUTH_INVALID' },
  { name: 'a numeric sub', token: () => signed({ sub: 42 }), code: 'AUTH_INVALID' },
  { name: 'no exp', token: () => signed({ exp: undefined }), code: 'AUTH_INVALID' },
  { name: 'a string exp', token: () => signed({ exp: String(nowS() + 600) }), code: 'AUTH_INVALID' },
  { name: 'a null exp', token: () => signed({ exp: null }), code: 'AUTH_INVALID' },
  { name: 'an nbf an hour ahead', token: () => signed({ nbf: nowS() + 3600 }), code: 'AUTH_INVALID' },
  { name: 'an exp a minute ago', token: () => signed({ exp: nowS() - 60 }), code: 'AUTH_EXPIRED' },
  { name: 'another issuer', token: () => signed({ iss: 'https://attacker.invalid' }), code: 'AUTH_INVALID' },
  { name: 'no issuer', token: () => signed({ iss: undefined }), code: 'AUTH_INVALID' },
  { name: 'another audience', token: () => signed({ aud: 'other-service' }), code: 'AUTH_INVALID' },
  { name: 'an audience list without ours', token: () => signed({ aud: ['a', 'b'] }), code: 'AUTH_INVALID' },
  { name: 'no audience', token: () => signed({ aud: undefined }), code: 'AUTH_INVALID' },
  {
    name: 'two segments',
    token: () => signed().split('.').slice(0, 2).join('.'),
    code: 'AUTH_INVALID',
  },
  { name: 'four segments', token: () => `${signed()}.extra`, code: 'AUTH_INVALID' },
  { name: 'garbage base64', token: () => '%%%.@@@.###', code: 'AUTH_INVALID' },
  {
    name: 'a header that is not JSON',
    token: () => {
      const [, payload, signature] = signed().split('.');
      return `${base64url('not json {')}.${payload}.${signature}`;
    },
    code: 'AUTH_INVALID',
  },
  {
    name: 'a header without alg',
    token: () => signHs256(claims(), TEST_SECRET, { typ: 'JWT' }),
    code: 'AUTH_INVALID',
  },
  {
    name: 'a payload that is not JSON',
    token: () => {
      const [header] = signed().split('.');
      return `${header}.${base64url('not json {')}.${signed().split('.')[2]}`;
    },
    code: 'AUTH_INVALID',
  },
  {
    // 20 KB exceeds Node's 16 KB header limit, so over REST the request may end at 431.
    name: 'a 20 KB token',
    token: () => `${signed().split('.')[0]}.${'A'.repeat(20 * 1024)}.${signed().split('.')[2]}`,
    code: 'AUTH_INVALID',
    restStatuses: [401, 431],
  },
];

/** Validly signed tokens with times no date can hold, or that make no sense. */
const ABSURD_DATES: { name: string; claims: () => Claims }[] = [
  { name: 'exp = 9e12 s', claims: () => claims({ exp: 9e12 }) },
  { name: 'exp = 1e300 s', claims: () => claims({ exp: 1e300 }) },
  { name: 'exp = -1', claims: () => claims({ exp: -1 }) },
  { name: 'exp = -1e300', claims: () => claims({ exp: -1e300 }) },
  { name: 'iat = 9e12 s', claims: () => claims({ iat: 9e12 }) },
  { name: 'iat = 1e300 s', claims: () => claims({ iat: 1e300 }) },
  { name: 'iat = -1e300 s', claims: () => claims({ iat: -1e300 }) },
  { name: 'nbf = 9e12 s', claims: () => claims({ nbf: 9e12 }) },
  { name: 'nbf = 1e300 s', claims: () => claims({ nbf: 1e300 }) },
  { name: 'nbf = -1e300 s', claims: () => claims({ nbf: -1e300 }) },
];

describe('JWT forgery (security)', () => {
  const sockets: Socket[] = [];
  const open = (app: RunningApp, namespace: string, token: string) => {
    const socket = client(app.url, namespace, { auth: { token } });
    sockets.push(socket);
    return socket;
  };
  const getMe = (app: RunningApp, token: string) =>
    request(app.app.getHttpServer()).get('/api/sessions/me').set('Authorization', `Bearer ${token}`);

  afterEach(() => closeAll(sockets));

  describe('HS256 with JWT_ISSUER and JWT_AUDIENCE', () => {
    let app: RunningApp;

    beforeAll(async () => {
      app = await startApp({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, ...UNLIMITED });
    });
    afterAll(() => app?.close());

    describe.each(NAMESPACES)('the %s handshake', (namespace) => {
      it('accepts a well-formed token', async () => {
        await connected(open(app, namespace, signed()));
      });

      it.each(FORGED.map((forged) => [forged.name, forged] as const))('refuses %s', async (_name, forged) => {
        const error = await refused(open(app, namespace, forged.token()));
        expect(error.message).toBe(forged.code);
        expect(error.data).toEqual({ code: forged.code, message: expect.any(String) });
      });
    });

    describe('REST GET /api/sessions/me', () => {
      it('answers 200 to a well-formed token', async () => {
        expect((await getMe(app, signed())).status).toBe(200);
      });

      it.each(FORGED.map((forged) => [forged.name, forged] as const))(
        'answers 401 to %s',
        async (_name, forged) => {
          const response = await getMe(app, forged.token());
          const statuses = forged.restStatuses ?? [401];
          expect(statuses).toContain(response.status);
          if (response.status === 401) expect(response.body).toEqual(unauthorizedBody(forged.code));
        },
      );
    });

    describe('roles are matched exactly', () => {
      it('grants admin to roles ["admin"]', async () => {
        const token = signed({ roles: ['admin'] });
        const socket = open(app, '/', token);
        await connected(socket);
        const reply = (await socket.emitWithAck(SessionsEvent.List, {})) as { ok: boolean };
        expect(reply.ok).toBe(true);
        const response = await request(app.app.getHttpServer())
          .get('/api/sessions')
          .set('Authorization', `Bearer ${token}`);
        expect(response.status).toBe(200);
      });

      it.each([['admin '], [' admin'], ['Admin'], ['ADMIN'], ['admin\u0000'], ['\u0430dmin']])(
        'does not grant admin to roles [%j]',
        async (role) => {
          const token = signed({ roles: [role] });
          const socket = open(app, '/', token);
          const { data } = await connected<{ data: { roles: string[] } }>(socket);
          expect(data.roles).not.toContain('admin');
          const reply = await socket.emitWithAck(SessionsEvent.List, {});
          expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'FORBIDDEN' }) });
          const response = await request(app.app.getHttpServer())
            .get('/api/sessions')
            .set('Authorization', `Bearer ${token}`);
          expect(response.status).toBe(403);
        },
      );
    });

    describe('absurd dates', () => {
      it.each(ABSURD_DATES.map((absurd) => [absurd.name, absurd] as const))(
        'refuses %s with AUTH_INVALID and keeps serving',
        async (_name, absurd) => {
          const token = signHs256(absurd.claims(), TEST_SECRET);
          for (const namespace of NAMESPACES) {
            const error = await refused(open(app, namespace, token));
            expect(error.message).toBe('AUTH_INVALID');
            expect(error.data).toEqual({ code: 'AUTH_INVALID', message: expect.any(String) });
          }
          const response = await getMe(app, token);
          expect(response.status).toBe(401);
          expect(response.body).toEqual(unauthorizedBody('AUTH_INVALID'));

          for (const namespace of NAMESPACES) await connected(open(app, namespace, signed()));
          expect((await request(app.app.getHttpServer()).get('/api/health')).status).toBe(200);
        },
      );
    });
  });

  describe('RS256 public key (HS/RS algorithm confusion)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rsClaims = () => claims({ iss: undefined, aud: undefined });
    let app: RunningApp;

    const CONFUSED: { name: string; token: () => string }[] = [
      { name: 'HS256 keyed with the public key PEM', token: () => signHs256(rsClaims(), publicPem) },
      {
        name: 'HS256 keyed with the PEM without its final newline',
        token: () => signHs256(rsClaims(), publicPem.trimEnd()),
      },
      {
        name: 'HS256 keyed with the public key DER',
        token: () => signHs256(rsClaims(), publicKey.export({ type: 'spki', format: 'der' })),
      },
      {
        name: 'HS256 keyed with the PKCS#1 PEM',
        token: () => signHs256(rsClaims(), publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
      },
      { name: 'alg "none"', token: () => unsignedToken(rsClaims(), 'none') },
      {
        name: 'RS256 signed by another key',
        token: () => jwt.sign(rsClaims(), foreign.privateKey, { algorithm: 'RS256' }),
      },
      {
        name: 'RS256 signed by another key that the header embeds as jwk',
        token: () =>
          jwt.sign(rsClaims(), foreign.privateKey, {
            algorithm: 'RS256',
            header: { alg: 'RS256', jwk: foreign.publicKey.export({ format: 'jwk' }) } as jwt.JwtHeader,
          }),
      },
    ];

    beforeAll(async () => {
      app = await startApp({ JWT_SECRET: '', JWT_PUBLIC_KEY: publicPem, ...UNLIMITED });
    });
    afterAll(() => app?.close());

    it('accepts RS256 signed by the private key, on both namespaces and REST', async () => {
      const token = jwt.sign(rsClaims(), privateKey, { algorithm: 'RS256' });
      for (const namespace of NAMESPACES) await connected(open(app, namespace, token));
      expect((await getMe(app, token)).status).toBe(200);
    });

    it.each(CONFUSED.map((confused) => [confused.name, confused] as const))(
      'refuses %s on both namespaces and REST',
      async (_name, confused) => {
        const token = confused.token();
        for (const namespace of NAMESPACES) {
          const error = await refused(open(app, namespace, token));
          expect(error.message).toBe('AUTH_INVALID');
          expect(error.data?.code).toBe('AUTH_INVALID');
        }
        const response = await getMe(app, token);
        expect(response.status).toBe(401);
        expect(response.body).toEqual(unauthorizedBody('AUTH_INVALID'));
      },
    );
  });

  describe('production refusals keep the expectations to themselves', () => {
    /** What the server expects; a refusal may say that a token is wrong, never what is right. */
    const EXPECTATIONS = /HS256|HS384|HS512|issuer\.example|switchboard/i;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let app: RunningApp;

    const REFUSED: { name: string; token: () => string }[] = [
      { name: 'an RS256 token', token: () => jwt.sign(claims(), rsa.privateKey, { algorithm: 'RS256' }) },
      { name: 'alg "none"', token: () => unsignedToken(claims(), 'none') },
      { name: 'another issuer', token: () => signed({ iss: 'https://attacker.invalid' }) },
      { name: 'no issuer', token: () => signed({ iss: undefined }) },
      { name: 'another audience', token: () => signed({ aud: 'other-service' }) },
      { name: 'no audience', token: () => signed({ aud: undefined }) },
      { name: 'another key', token: () => signHs256(claims(), 'another-secret-0123456789-0123456789-0123') },
      { name: 'exp = 1e300', token: () => signed({ exp: 1e300 }) },
    ];

    beforeAll(async () => {
      app = await startApp({
        NODE_ENV: 'production',
        JWT_SECRET: TEST_SECRET,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        ...UNLIMITED,
      });
    });
    afterAll(() => app?.close());

    it('accepts a well-formed token', async () => {
      await connected(open(app, '/', signed()));
      expect((await getMe(app, signed())).status).toBe(200);
    });

    it.each(REFUSED.map((refusal) => [refusal.name, refusal] as const))(
      'refuses %s without naming the accepted algorithms, issuer or audience',
      async (_name, refusal) => {
        const token = refusal.token();
        for (const namespace of NAMESPACES) {
          const error = await refused(open(app, namespace, token));
          expect(error.message).toBe('AUTH_INVALID');
          expect(error.data).toEqual({ code: 'AUTH_INVALID', message: expect.any(String) });
          expect(error.data?.message).not.toMatch(EXPECTATIONS);
        }
        const response = await getMe(app, token);
        expect(response.status).toBe(401);
        expect(response.body).toEqual(unauthorizedBody('AUTH_INVALID'));
        expect(JSON.stringify(response.body)).not.toMatch(EXPECTATIONS);
      },
    );
  });
});
