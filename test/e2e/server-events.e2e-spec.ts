import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import type { PublishedEvent } from '../../src/contracts/index.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { Conditions } from '../support/conditions.js';
import { signToken } from '../support/tokens.js';

const REFUSALS = 12;
const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

/** A `/notifications` socket subscribed to `patterns`, with every event it receives. */
interface Listener {
  socket: Socket;
  events: PublishedEvent[];
  until(condition: (events: PublishedEvent[]) => boolean, what: string): Promise<void>;
}

describe('events Switchboard publishes about itself (e2e)', () => {
  let running: RunningApp;
  const sockets: Socket[] = [];

  async function listen(
    userId: string,
    patterns: string[],
    roles: string[] = [],
    scope?: 'all',
  ): Promise<Listener> {
    const socket = client(running.url, '/notifications', {
      auth: { token: signToken({ sub: userId, roles }) },
    });
    sockets.push(socket);
    const events: PublishedEvent[] = [];
    const conditions = new Conditions();
    socket.on('event', (event: PublishedEvent) => {
      events.push(event);
      conditions.changed();
    });
    await connected(socket);
    const ack = (await socket.emitWithAck('subscribe', {
      eventTypes: patterns,
      ...(scope ? { scope } : {}),
    })) as {
      ok: boolean;
    };
    expect(ack.ok).toBe(true);
    return {
      socket,
      events,
      until: (condition, what) =>
        conditions.until(
          () => condition(events),
          () => `${what}; got ${JSON.stringify(events)}`,
          5000,
        ),
    };
  }

  beforeAll(async () => {
    running = await startApp({
      NODE_ENV: 'production',
      CORS_ORIGINS: 'https://app.example.com',
      RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
    });
  });

  afterEach(async () => {
    await closeAll(sockets);
  });

  afterAll(async () => {
    await running.close();
  });

  it('tells admins, aggregated per address, about refused handshakes, never plain users, and never the token', async () => {
    const admin = await listen(newUser('admin'), ['*'], ['admin'], 'all');
    const user = await listen(newUser('user'), ['*']);
    const badToken = `${signToken({ sub: 'mallory' })}x`;
    for (let attempt = 0; attempt < REFUSALS; attempt++) {
      const attacker = client(running.url, '/chat', { auth: { token: badToken } });
      sockets.push(attacker);
      expect((await refused(attacker)).message).toBe('AUTH_INVALID');
    }

    const failures = (events: PublishedEvent[]) =>
      events.filter((event) => event.type === 'authentication.login.failed');
    const total = (events: PublishedEvent[]) =>
      failures(events).reduce((sum, event) => sum + ((event.data as { count: number }).count ?? 0), 0);
    await admin.until((events) => total(events) === REFUSALS, 'every refusal counted');
    // Every refusal of one second is one event with its count.
    expect(failures(admin.events).length).toBeLessThanOrEqual(Math.ceil(REFUSALS / 2));
    for (const event of failures(admin.events)) {
      expect(event).toEqual({
        id: expect.any(String),
        type: 'authentication.login.failed',
        data: { code: 'AUTH_INVALID', address: '127.0.0.1', count: expect.any(Number) },
        timestamp: expect.any(String),
      });
      expect(JSON.stringify(event)).not.toContain(badToken.split('.')[2]);
    }
    // Delivered in the same pass as the admin's: the plain user following everything heard none.
    expect(
      user.events.filter(
        (event) => event.type.startsWith('authentication') || event.type.startsWith('security'),
      ),
    ).toEqual([]);
  });

  it('tells a user about their sessions being created and revoked', async () => {
    const alice = newUser('alice');
    const watcher = await listen(alice, ['session.*']);
    const sid = randomUUID();
    const device = client(running.url, '/', { auth: { token: signToken({ sub: alice, sid }) } });
    sockets.push(device);
    await connected(device);
    await watcher.until(
      (events) => events.some((event) => event.type === 'session.created' && event.sessionId === sid),
      'session.created of the new device',
    );

    const revoked = await request(running.url)
      .delete(`/api/sessions/${sid}`)
      .set({ Authorization: `Bearer ${signToken({ sub: alice })}` });
    expect(revoked.status).toBe(200);
    await watcher.until(
      (events) => events.some((event) => event.type === 'session.revoked' && event.sessionId === sid),
      'session.revoked',
    );
    const event = watcher.events.find((candidate) => candidate.type === 'session.revoked');
    expect(event).toEqual({
      id: expect.any(String),
      type: 'session.revoked',
      userId: alice,
      sessionId: sid,
      data: { sessionId: sid, revokedBy: 'user' },
      timestamp: expect.any(String),
    });
  });

  it('tells admins about a refused origin', async () => {
    const admin = await listen(newUser('admin'), ['security.*'], ['admin'], 'all');
    const foreign = client(running.url, '/chat', {
      auth: { token: signToken({ sub: newUser('eve') }) },
      transports: ['polling'],
      extraHeaders: { Origin: 'https://evil.example.net' },
    });
    sockets.push(foreign);
    await refused(foreign);
    await admin.until(
      (events) => events.some((event) => event.type === 'security.origin.refused'),
      'security.origin.refused',
    );
    expect(admin.events.find((event) => event.type === 'security.origin.refused')?.data).toEqual({
      origin: 'https://evil.example.net',
      address: '127.0.0.1',
      count: 1,
    });
  });

  it('tells admins that an instance shuts down, before it closes their sockets', async () => {
    const other = await startApp();
    try {
      const socket = client(other.url, '/notifications', {
        auth: { token: signToken({ sub: newUser('admin'), roles: ['admin'] }) },
        reconnection: false,
      });
      sockets.push(socket);
      await connected(socket);
      expect(
        (
          (await socket.emitWithAck('subscribe', { eventTypes: ['system.*'], scope: 'all' })) as {
            ok: boolean;
          }
        ).ok,
      ).toBe(true);
      const told = new Promise<PublishedEvent>((resolve) => socket.once('event', resolve));
      const closed = other.close();
      expect(await told).toEqual({
        id: expect.any(String),
        type: 'system.shutdown',
        data: {},
        timestamp: expect.any(String),
      });
      await closed;
    } finally {
      await other.close();
    }
  });
});
