import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { ChatEvent } from '../../src/chat/chat.events.js';
import type { Chat } from '../../src/chat/chat.types.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackData, joinChat, stopStarted } from '../support/cluster.js';
import { closeAll } from '../support/clients.js';
import { pollUntil } from '../support/polling.js';
import {
  describeWithRedisClusterTls,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js';
import { signToken } from '../support/tokens.js';

interface HealthBody {
  status: 'ok' | 'degraded' | 'down';
  reasons?: string[];
  checks: { redis: { status: string; error?: string }; database: { status: string } };
}

const CLUSTER_ENV = { REDIS_KEY_PREFIX: 'redis-tls-test:', SESSIONS_BROADCAST_MS: '200' };
const START_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 60_000;
const READY_LIMIT_MS = 5000;
const DELIVERY_LIMIT_MS = 5000;
/** Readiness probes of the instance that cannot verify the nodes, a couple of seconds each. */
const PROBES = 3;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

/**
 * Every node listens on a TLS port only (`--port 0`), with TLS on the cluster bus and the
 * replication links too: an instance that reached any node without TLS would not work at all.
 */
describeWithRedisClusterTls(
  'two instances on a TLS-only Redis Cluster (REDIS_TLS, REDIS_TLS_CA_FILE)',
  () => {
    let cluster: TestRedisCluster | undefined;
    let databaseDir: string | undefined;
    const starting: Promise<AppProcess>[] = [];
    const sockets: Socket[] = [];

    function startInstance(serverId: string, env: Record<string, string>): Promise<AppProcess> {
      const instance = startAppProcess({ serverId, env: { ...CLUSTER_ENV, ...env } });
      starting.push(instance);
      return instance;
    }

    beforeAll(async () => {
      cluster = await startRedisCluster({ tls: true });
      databaseDir = await mkdtemp(joinPath(tmpdir(), 'switchboard-redis-tls-db-'));
    }, START_TIMEOUT_MS);

    afterAll(async () => {
      await closeAll(sockets);
      await stopStarted(starting);
      await cluster?.stop();
      if (databaseDir) await rm(databaseDir, { recursive: true, force: true });
    }, START_TIMEOUT_MS);

    it(
      'delivers a chat message across instances, the seed nodes named by IP on one and by name on the other',
      async () => {
        if (!cluster?.caFile || !databaseDir) throw new Error('the TLS cluster is not started');
        const tls = { REDIS_TLS: 'true', REDIS_TLS_CA_FILE: cluster.caFile };
        const databaseUrl = `sqlite:${joinPath(databaseDir, 'shared.db')}`;
        // The certificates name both 127.0.0.1 and localhost: by name, the check is against the
        // name as configured (the app does not resolve it first), by IP against the IP.
        const byName = cluster.ports.map((port) => `localhost:${port}`).join(',');
        // One after the other: the first one creates the shared database's schema.
        const a = await startInstance('tls-a', {
          ...tls,
          REDIS_CLUSTER_NODES: cluster.nodes,
          DATABASE_URL: databaseUrl,
        });
        const b = await startInstance('tls-b', {
          ...tls,
          REDIS_CLUSTER_NODES: byName,
          DATABASE_URL: databaseUrl,
        });
        for (const instance of [a, b]) {
          const { value } = await pollUntil(
            () => readiness(instance),
            ({ body }) => body.status === 'ok',
            { what: `readiness of ${instance.serverId}`, timeoutMs: READY_LIMIT_MS, intervalMs: 50 },
          );
          expect(value.body.checks.redis.status).toBe('up');
        }

        const alice = await joinChat(a, newUser('alice'), sockets);
        const bob = await joinChat(b, newUser('bob'), sockets);
        const created = await request(a.url)
          .post('/api/chats')
          .set({ Authorization: `Bearer ${signToken({ sub: alice.userId })}` })
          .send({ participantIds: [bob.userId] });
        expect(created.status).toBe(201);
        const chat = (created.body as { data: Chat }).data;
        await bob.inbox.waitFor(ChatEvent.ChatCreated, ({ id }) => id === chat.id, DELIVERY_LIMIT_MS);

        const sent = ackData(
          await alice.socket.emitWithAck(ChatEvent.SendMessage, {
            chatId: chat.id,
            content: 'over TLS',
            clientId: randomUUID(),
          }),
        );
        const delivered = await bob.inbox.waitFor(
          ChatEvent.NewMessage,
          ({ id }) => id === sent.id,
          DELIVERY_LIMIT_MS,
        );
        expect(delivered.data).toEqual(sent);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'verifies the nodes’ certificates: without the CA that signed them it reports degraded, not ok',
      async () => {
        if (!cluster) throw new Error('the TLS cluster is not started');
        // REDIS_TLS alone trusts the system's CAs, which did not sign the test certificates.
        const instance = await startInstance('tls-untrusted', {
          REDIS_TLS: 'true',
          REDIS_CLUSTER_NODES: cluster.nodes,
        });
        // Each probe also has the instance try the nodes again; none of this may end the process.
        for (let probe = 0; probe < PROBES; probe++) {
          const { status, body } = await readiness(instance);
          expect(status).toBe(200);
          expect(body.status).toBe('degraded');
          expect(body.checks.redis.status).toBe('down');
        }
        expect(instance.running).toBe(true);
      },
      TEST_TIMEOUT_MS,
    );
  },
);

/** Readiness of `instance`, status and body. */
async function readiness(instance: AppProcess): Promise<{ status: number; body: HealthBody }> {
  const response = await request(instance.url).get('/api/health/ready');
  return { status: response.status, body: response.body as HealthBody };
}
