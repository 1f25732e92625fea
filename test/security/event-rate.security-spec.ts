import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, disconnected, nextEvent } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

type Ack = { ok: boolean; error?: { code: string } };

/** `auth:refresh` costs a verification, a revocation lookup and a store write: it is limited like any event. */
describe('event rate limits cover auth:refresh (security)', () => {
  const running: RunningApp[] = [];
  const sockets: ReturnType<typeof client>[] = [];
  const start = async (env: Record<string, string>) => {
    const app = await startApp(env);
    running.push(app);
    return app;
  };
  const open = (app: RunningApp, token: string) => {
    const socket = client(app.url, '/', { auth: { token } });
    sockets.push(socket);
    return socket;
  };

  afterEach(async () => {
    await closeAll(sockets);
    await Promise.all(running.splice(0).map((app) => app.close()));
  });

  it('refuses a burst of refreshes over the event rate with RATE_LIMITED', async () => {
    const app = await start({ RATE_LIMIT_EVENTS_PER_S: '5', RATE_LIMIT_FLOOD_SECONDS: '100' });
    const socket = open(app, signToken({ sub: 'mallory' }));
    await connected(socket);
    const answers = (await Promise.all(
      Array.from({ length: 200 }, () =>
        socket.timeout(10_000).emitWithAck('auth:refresh', { token: signToken({ sub: 'mallory' }) }),
      ),
    )) as Ack[];
    const accepted = answers.filter((answer) => answer.ok).length;
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(accepted).toBeLessThanOrEqual(5);
    expect(answers.filter((answer) => answer.error?.code === 'RATE_LIMITED')).toHaveLength(200 - accepted);
    expect(socket.connected).toBe(true);
  });

  it('disconnects a socket that keeps flooding auth:refresh', async () => {
    const app = await start({ RATE_LIMIT_EVENTS_PER_S: '2', RATE_LIMIT_FLOOD_SECONDS: '1' });
    const socket = open(app, signToken({ sub: 'mallory' }));
    await connected(socket);
    const notice = nextEvent<{ data: { reason: string } }>(socket, 'rate_limited');
    const gone = disconnected(socket);
    for (let sent = 0; sent < 5; sent += 1) socket.emit('auth:refresh', { token: 'x' });
    expect((await notice).data.reason).toBe('flood');
    expect(await gone).toBe('io server disconnect');
  });
});
