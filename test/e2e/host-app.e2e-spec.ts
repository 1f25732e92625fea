import type { Socket as ClientSocket } from 'socket.io-client';
import request from 'supertest';
import { AppModule } from '../../examples/host-app/src/app.module.js';
import {
  CHAT_NAMESPACE,
  ChatEvent,
  NOTIFICATIONS_NAMESPACE,
  NotificationsEvent,
  type Notification,
} from '../../src/contracts/index.js';
import type { Envelope } from '../../src/common/envelope.js';
import { closeAll, client, connected, nextEvent, refused } from '../support/clients.js';
import { HOST_SETTINGS, startHost, type RunningHost } from '../support/host.js';
import { pollUntil } from '../support/polling.js';
import { signToken } from '../support/tokens.js';

const ALICE = signToken({ sub: 'alice' });
const BOB = signToken({ sub: 'bob' });
const ADMIN = signToken({ sub: 'root', roles: ['admin'] });

/**
 * The example host application (`examples/host-app`, a Nest app of its own that imports
 * Switchboard), booted as its `main.ts` boots it and driven by real clients over HTTP and Socket.IO.
 */
describe('the example host app (e2e)', () => {
  let host: RunningHost;
  const sockets: ClientSocket[] = [];
  const open = async (namespace: string, token: string) => {
    const socket = client(host.url, namespace, { auth: { token } });
    sockets.push(socket);
    await connected(socket);
    return socket;
  };

  beforeAll(async () => {
    host = await startHost(AppModule, { env: { ...HOST_SETTINGS } });
  });
  afterAll(async () => {
    await closeAll(sockets);
    await host.close();
  });

  describe("the host's own gateway", () => {
    it('refuses a handshake without a token, as Switchboard refuses on its own namespaces', async () => {
      const socket = client(host.url, '/orders');
      sockets.push(socket);
      const error = await refused(socket);
      expect(error.data).toEqual(expect.objectContaining({ code: 'AUTH_MISSING' }));
    });

    it('refuses a token signed with another secret', async () => {
      const socket = client(host.url, '/orders', {
        auth: { token: signToken({}, 3600, {}).replace(/.$/, 'x') },
      });
      sockets.push(socket);
      const error = await refused(socket);
      expect(error.data?.code).toMatch(/^AUTH_/);
    });

    it('knows the authenticated user in its handlers', async () => {
      const socket = await open('/orders', BOB);
      await request(host.url)
        .post('/orders')
        .set('Authorization', `Bearer ${BOB}`)
        .send({ item: 'tea' })
        .expect(201);
      const orders = (await socket.timeout(5000).emitWithAck('orders:mine')) as Array<{ item: string }>;
      expect(orders.map((order) => order.item)).toEqual(['tea']);
    });
  });

  describe("the host's routes", () => {
    it('serve its public route without a token, and refuse the guarded ones without one', async () => {
      await request(host.url).get('/').expect(200, 'Hello from the host app');
      const refusal = await request(host.url).post('/orders').send({ item: 'book' }).expect(401);
      expect(refusal.body).toEqual(expect.objectContaining({ code: 'UNAUTHORIZED' }));
    });

    it('honour @Roles: a user is refused, an admin served', async () => {
      const refusal = await request(host.url)
        .get('/admin/orders')
        .set('Authorization', `Bearer ${ALICE}`)
        .expect(403);
      expect(refusal.body).toEqual(expect.objectContaining({ code: 'FORBIDDEN' }));
      const answer = await request(host.url)
        .get('/admin/orders')
        .set('Authorization', `Bearer ${ADMIN}`)
        .expect(200);
      expect(answer.body).toEqual({ count: expect.any(Number) });
    });

    it("keep the host's own error shape for its own failures", async () => {
      const answer = await request(host.url)
        .post('/orders')
        .set('Authorization', `Bearer ${ALICE}`)
        .send({})
        .expect(400);
      expect(answer.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: 'item must be a non-empty string',
      });
    });

    it("leave Switchboard's own gateways validating their events", async () => {
      const chat = await open(CHAT_NAMESPACE, ALICE);
      const answer = (await chat.timeout(5000).emitWithAck(ChatEvent.SendMessage, { chatId: 42 })) as {
        ok: boolean;
        error?: { code: string };
      };
      expect(answer).toEqual(
        expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'VALIDATION_FAILED' }) }),
      );
    });

    it("leave Switchboard's own routes guarded", async () => {
      await request(host.url).get('/api/chats').expect(401);
      await request(host.url).get('/api/chats').set('Authorization', `Bearer ${ALICE}`).expect(200);
      await request(host.url).get('/api/health/ready').expect(200);
    });
  });

  describe('in-process use of the exported services', () => {
    it("delivers the notification the host's service publishes to the user's live client", async () => {
      const socket = await open(NOTIFICATIONS_NAMESPACE, ALICE);
      const arriving = nextEvent<Envelope<'notification', Notification>>(
        socket,
        NotificationsEvent.Notification,
      );
      const placed = await request(host.url)
        .post('/orders')
        .set('Authorization', `Bearer ${ALICE}`)
        .send({ item: 'a lamp' })
        .expect(201);
      const notification = await arriving;
      expect(notification.data).toEqual(
        expect.objectContaining({
          userId: 'alice',
          title: 'Order placed',
          body: 'a lamp is on its way',
          data: { orderId: (placed.body as { id: string }).id },
        }),
      );
    });

    it('reads presence: a user with a live connection is online, one without is offline', async () => {
      await open('/orders', signToken({ sub: 'carol' }));
      const whois = (userId: string) =>
        request(host.url).get(`/whois/${userId}`).set('Authorization', `Bearer ${ALICE}`).expect(200);
      const { value } = await pollUntil(
        async () => (await whois('carol')).body as { online: boolean; status: string },
        (state) => state.online,
        { what: 'carol online', timeoutMs: 5000 },
      );
      expect(value).toEqual(expect.objectContaining({ userId: 'carol', status: 'online', online: true }));
      expect((await whois('dave')).body).toEqual(expect.objectContaining({ userId: 'dave', online: false }));
    });
  });

  it('registers only the features it chose: no /admin namespace, no admin routes', async () => {
    const socket = client(host.url, '/admin', { auth: { token: ADMIN } });
    sockets.push(socket);
    await expect(connected(socket)).rejects.toThrow(/Invalid namespace/);
    await request(host.url).get('/api/admin/connections').set('Authorization', `Bearer ${ADMIN}`).expect(404);
  });
});
