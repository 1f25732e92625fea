import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { ChatEvent } from '../../src/chat/chat.events.js';
import { CONTRACT_EVENTS } from '../../src/observability/event-names.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, nextEvent, refused } from '../support/clients.js';
import { EventsClient, closeClients } from '../support/events-websocket-client.js';
import { pollUntil } from '../support/polling.js';
import { signToken } from '../support/tokens.js';

const METRICS_TOKEN = `scrape-${randomUUID()}`;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric (a counter's `_total`, a histogram's `_count`, …) in Prometheus text. */
function samples(text: string, name: string): Sample[] {
  const line = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`);
  return text.split('\n').flatMap((row) => {
    const match = line.exec(row);
    if (!match) return [];
    const labels: Record<string, string> = {};
    for (const [, key = '', value = ''] of (match[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value;
    }
    return [{ labels, value: Number(match[2]) }];
  });
}

/** The value of the sample whose labels include `labels` (0 when there is none). */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number {
  const sample = samples(text, name).find((candidate) =>
    Object.entries(labels).every(([key, value]) => candidate.labels[key] === value),
  );
  return sample?.value ?? 0;
}

describe('GET /metrics (e2e)', () => {
  let running: RunningApp;
  const sockets: Socket[] = [];
  const plain: EventsClient[] = [];
  const adminToken = signToken({ sub: 'metrics-admin', roles: ['admin'] });

  const http = () => request(running.app.getHttpServer());

  async function scrape(): Promise<string> {
    const response = await http().get('/metrics').set('Authorization', `Bearer ${adminToken}`);
    expect(response.status).toBe(200);
    return response.text;
  }

  beforeAll(async () => {
    // Many events from one socket in a moment: the per-socket rate limit would refuse most of them.
    running = await startApp({ METRICS_TOKEN, RATE_LIMIT_EVENTS_PER_S: '0' });
  });
  afterEach(async () => {
    await closeAll(sockets);
    await closeClients(plain.splice(0));
  });
  afterAll(() => running.close());

  describe('access', () => {
    it('answers an admin JWT with Prometheus text holding every metric family', async () => {
      const response = await http().get('/metrics').set('Authorization', `Bearer ${adminToken}`);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8/);
      expect(response.headers['cache-control']).toBe('no-store');
      const families = [
        ['switchboard_connections', 'gauge'],
        ['switchboard_client_connections', 'gauge'],
        ['switchboard_handshakes_total', 'counter'],
        ['switchboard_events_in_total', 'counter'],
        ['switchboard_events_out_total', 'counter'],
        ['switchboard_ack_latency_seconds', 'histogram'],
        ['switchboard_storage_query_duration_seconds', 'histogram'],
        ['switchboard_database_up', 'gauge'],
        ['switchboard_presence_online_users', 'gauge'],
        ['process_cpu_user_seconds_total', 'counter'],
        ['process_resident_memory_bytes', 'gauge'],
        ['nodejs_eventloop_lag_seconds', 'gauge'],
        ['nodejs_heap_size_used_bytes', 'gauge'],
      ];
      for (const [name, type] of families) expect(response.text).toContain(`# TYPE ${name} ${type}\n`);
      expect(valueOf(response.text, 'switchboard_database_up')).toBe(1);
      // No Redis configured: no Redis gauge, rather than a 0 that would read as an outage.
      expect(response.text).not.toContain('switchboard_redis_up');
    });

    it('answers a scraper that sends METRICS_TOKEN as its Bearer token', async () => {
      const response = await http().get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`);
      expect(response.status).toBe(200);
      expect(response.text).toContain('# TYPE switchboard_handshakes_total counter');
    });

    it('refuses a wrong METRICS_TOKEN with 401', async () => {
      const response = await http().get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}x`);
      expect(response.status).toBe(401);
      expect(response.text).not.toContain('switchboard_');
    });

    it('refuses a request without a token with 401', async () => {
      const response = await http().get('/metrics');
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ code: 'UNAUTHORIZED' });
    });

    it('refuses a user without the admin role with 403', async () => {
      const response = await http()
        .get('/metrics')
        .set('Authorization', `Bearer ${signToken({ sub: 'plain-user' })}`);
      expect(response.status).toBe(403);
      expect(response.body).toMatchObject({ code: 'FORBIDDEN' });
    });

    it('does not take METRICS_TOKEN from the query string', async () => {
      const response = await http().get(`/metrics?token=${METRICS_TOKEN}`);
      expect(response.status).toBe(401);
    });
  });

  describe('values', () => {
    it('moves the connection gauges of each namespace and door as clients connect and leave', async () => {
      const chat = { namespace: '/chat', door: 'socket.io' };
      const door = { namespace: '/ws/events', door: 'websocket' };
      const before = await scrape();
      const token = signToken({ sub: 'gauge-user' });
      const socket = client(running.url, '/chat', { auth: { token } });
      sockets.push(socket);
      await connected(socket);
      const { client: events } = await EventsClient.open(running.port, { bearer: token });
      plain.push(events);

      const during = await scrape();
      expect(valueOf(during, 'switchboard_connections', chat)).toBe(
        valueOf(before, 'switchboard_connections', chat) + 1,
      );
      expect(valueOf(during, 'switchboard_connections', door)).toBe(
        valueOf(before, 'switchboard_connections', door) + 1,
      );
      expect(valueOf(during, 'switchboard_client_connections')).toBeGreaterThanOrEqual(2);
      expect(valueOf(during, 'switchboard_handshakes_total', { result: 'ok' })).toBe(
        valueOf(before, 'switchboard_handshakes_total', { result: 'ok' }) + 2,
      );

      await closeAll(sockets);
      await closeClients(plain.splice(0));
      // The server notices a close a moment after the client: nothing to await but its state.
      await pollUntil(
        scrape,
        (text) =>
          valueOf(text, 'switchboard_connections', chat) ===
            valueOf(before, 'switchboard_connections', chat) &&
          valueOf(text, 'switchboard_connections', door) === valueOf(before, 'switchboard_connections', door),
        { what: 'connection gauges back to where they were', timeoutMs: 5000 },
      );
    });

    it('counts refused handshakes by their code', async () => {
      const before = valueOf(await scrape(), 'switchboard_handshakes_total', { result: 'AUTH_INVALID' });
      const socket = client(running.url, '/', { auth: { token: 'not-a-jwt' } });
      sockets.push(socket);
      expect((await refused(socket)).data?.code).toBe('AUTH_INVALID');
      const after = valueOf(await scrape(), 'switchboard_handshakes_total', { result: 'AUTH_INVALID' });
      expect(after).toBe(before + 1);
    });

    it('counts events in and out by name, times acks and queries, and counts online users', async () => {
      const alice = `alice-${randomUUID()}`;
      const socket = client(running.url, '/chat', { auth: { token: signToken({ sub: alice }) } });
      sockets.push(socket);
      await connected(socket);
      const before = await scrape();

      const created = nextEvent(socket, ChatEvent.ChatCreated);
      const response = await http()
        .post('/api/chats')
        .set('Authorization', `Bearer ${signToken({ sub: alice })}`)
        .send({ participantIds: [`bob-${randomUUID()}`] });
      expect(response.status).toBe(201);
      await created;
      const { id: chatId } = (response.body as { data: { id: string } }).data;
      const answer = (await socket.emitWithAck(ChatEvent.SendMessage, { chatId, content: 'hello' })) as {
        ok: boolean;
      };
      expect(answer.ok).toBe(true);

      const after = await scrape();
      const event = (name: string) => ({ event: name });
      expect(valueOf(after, 'switchboard_events_in_total', event(ChatEvent.SendMessage))).toBe(
        valueOf(before, 'switchboard_events_in_total', event(ChatEvent.SendMessage)) + 1,
      );
      expect(valueOf(after, 'switchboard_ack_latency_seconds_count', event(ChatEvent.SendMessage))).toBe(
        valueOf(before, 'switchboard_ack_latency_seconds_count', event(ChatEvent.SendMessage)) + 1,
      );
      for (const emitted of [ChatEvent.ChatCreated, ChatEvent.NewMessage]) {
        expect(valueOf(after, 'switchboard_events_out_total', event(emitted))).toBeGreaterThan(
          valueOf(before, 'switchboard_events_out_total', event(emitted)),
        );
      }
      expect(
        valueOf(after, 'switchboard_storage_query_duration_seconds_count', { operation: 'insert' }),
      ).toBeGreaterThan(
        valueOf(before, 'switchboard_storage_query_duration_seconds_count', { operation: 'insert' }),
      );
      expect(valueOf(after, 'switchboard_presence_online_users')).toBeGreaterThanOrEqual(1);
    });

    it('keeps the event label set bounded when clients send made-up event names', async () => {
      const socket = client(running.url, '/', { auth: { token: signToken({ sub: 'inventive' }) } });
      sockets.push(socket);
      await connected(socket);
      const labelsOf = (text: string) =>
        new Set(samples(text, 'switchboard_events_in_total').map(({ labels }) => labels.event));
      const before = await scrape();
      const invented = Array.from({ length: 200 }, () => `made-up:${randomUUID()}`);
      // Each is answered NOT_FOUND through its ack: once all are answered, all were counted.
      const answers = (await Promise.all(invented.map((name) => socket.emitWithAck(name, {})))) as {
        error?: { code: string };
      }[];
      expect(answers.every((answer) => answer.error?.code === 'NOT_FOUND')).toBe(true);

      const after = await scrape();
      const labels = labelsOf(after);
      expect(labels.size).toBeLessThanOrEqual(CONTRACT_EVENTS.length + 1);
      expect([...labels].filter((label) => !CONTRACT_EVENTS.includes(label ?? ''))).toEqual(['other']);
      expect(invented.some((name) => after.includes(name))).toBe(false);
      expect(valueOf(after, 'switchboard_events_in_total', { event: 'other' })).toBe(
        valueOf(before, 'switchboard_events_in_total', { event: 'other' }) + 200,
      );
      for (const metric of ['switchboard_events_out_total', 'switchboard_ack_latency_seconds_count']) {
        for (const { labels: sample } of samples(after, metric)) {
          expect([...CONTRACT_EVENTS, 'other']).toContain(sample.event);
        }
      }
    });
  });
});
