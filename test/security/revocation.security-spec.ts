import request from 'supertest';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, disconnected, nextEvent, refused } from '../support/clients.js';
import { signToken } from '../support/tokens.js';
import { unauthorizedBody } from '../support/rest-errors.js';

type Ack = { ok: boolean; data?: unknown; error?: { code: string; message: string; details?: unknown } };
type Authenticated = { data: { sessionId: string; connectionId: string } };

/** Revocation follows every token a session carried, and `auth:refresh` never escapes it. */
describe('revocation after refresh (security)', () => {
  let app: RunningApp;
  const sockets: ReturnType<typeof client>[] = [];
  const admin = signToken({ sub: 'root', roles: ['admin'] });

  beforeAll(async () => {
    app = await startApp();
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => app.close());

  const open = (token: string, namespace = '/') => {
    const socket = client(app.url, namespace, { auth: { token } });
    sockets.push(socket);
    return socket;
  };
  const revoke = async (sessionId: string, token: string) => {
    const response = await request(app.app.getHttpServer())
      .delete(`/api/sessions/${encodeURIComponent(sessionId)}`)
      .set('Authorization', `Bearer ${token}`);
    expect(response.status).toBe(200);
    return (response.body as { data: unknown }).data;
  };
  /** The handshake code a REST refusal names, after checking the rest of its shape. */
  /** The REST answer to `token`: refused as revoked, exactly as a handshake refuses it. */
  const expectRevokedOverRest = async (token: string) => {
    const response = await request(app.app.getHttpServer())
      .get('/api/sessions/me')
      .set('Authorization', `Bearer ${token}`);
    expect(response.status).toBe(401);
    expect(response.body).toEqual(unauthorizedBody('AUTH_REVOKED', 'This session was revoked'));
  };

  it('refuses every token a sid-less session carried, the one it started with too', async () => {
    const first = signToken({ sub: 'mallory' });
    const second = signToken({ sub: 'mallory' });
    const socket = open(first);
    const { data } = await connected<Authenticated>(socket);
    expect(await socket.emitWithAck('auth:refresh', { token: second })).toMatchObject({ ok: true });

    const gone = disconnected(socket);
    expect(await revoke(data.sessionId, second)).toEqual({ sessionId: data.sessionId, disconnected: 1 });
    await gone;

    for (const token of [first, second]) {
      expect((await refused(open(token))).message).toBe('AUTH_REVOKED');
      await expectRevokedOverRest(token);
    }
  });

  it('refuses the earlier token of a session with a sid, on both doors', async () => {
    const first = signToken({ sub: 'mallory', sid: 's-refreshed' });
    const second = signToken({ sub: 'mallory', sid: 's-refreshed' });
    const socket = open(first);
    await connected(socket);
    expect(await socket.emitWithAck('auth:refresh', { token: second })).toMatchObject({ ok: true });
    await revoke('s-refreshed', second);
    expect((await refused(open(first))).message).toBe('AUTH_REVOKED');
    await expectRevokedOverRest(first);
  });

  it('answers a refresh with a token of a revoked session UNAUTHORIZED / AUTH_REVOKED, as the handshake would', async () => {
    await revoke('s-dead', admin);
    const revokedToken = signToken({ sub: 'mallory', sid: 's-dead' });
    expect((await refused(open(revokedToken))).message).toBe('AUTH_REVOKED');

    const live = open(signToken({ sub: 'mallory', sid: 's-live' }));
    await connected(live);
    const answer = (await live.emitWithAck('auth:refresh', { token: revokedToken })) as Ack;
    expect(answer).toEqual({
      ok: false,
      error: { code: 'UNAUTHORIZED', message: expect.any(String), details: { code: 'AUTH_REVOKED' } },
    });
    expect(live.connected).toBe(true);
  });

  it('refuses a refresh into another session with FORBIDDEN; the connection stays in its own', async () => {
    const socket = open(signToken({ sub: 'mallory', sid: 's-x' }));
    await connected(socket);
    const answer = (await socket.emitWithAck('auth:refresh', {
      token: signToken({ sub: 'mallory', sid: 's-y' }),
    })) as Ack;
    expect(answer).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(socket.connected).toBe(true);

    const notice = nextEvent(socket, 'auth:revoked');
    expect(await revoke('s-x', admin)).toEqual({ sessionId: 's-x', disconnected: 1 });
    await notice;
    await disconnected(socket);
  });

  it('refuses a refresh of a sid-less connection to a token with a sid', async () => {
    const socket = open(signToken({ sub: 'mallory' }));
    await connected(socket);
    const answer = (await socket.emitWithAck('auth:refresh', {
      token: signToken({ sub: 'mallory', sid: 's-elsewhere' }),
    })) as Ack;
    expect(answer).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });

  it('answers a refresh with an expired or forged token UNAUTHORIZED with the handshake code', async () => {
    const socket = open(signToken({ sub: 'mallory' }));
    await connected(socket);
    const expired = (await socket.emitWithAck('auth:refresh', {
      token: signToken({ sub: 'mallory' }, -10),
    })) as Ack;
    expect(expired.error).toMatchObject({ code: 'UNAUTHORIZED', details: { code: 'AUTH_EXPIRED' } });
    const absurd = (await socket.emitWithAck('auth:refresh', {
      token: signToken({ sub: 'mallory', exp: 9e12 }),
    })) as Ack;
    expect(absurd.error).toMatchObject({ code: 'UNAUTHORIZED', details: { code: 'AUTH_INVALID' } });
    expect(await socket.emitWithAck('ping', {})).toMatchObject({ ok: true });
  });
});
