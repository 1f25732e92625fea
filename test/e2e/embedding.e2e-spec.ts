import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Body, Controller, type DynamicModule, Get, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessageBody, SubscribeMessage } from '@nestjs/websockets';
import { IsString } from 'class-validator';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { WebSocket } from 'ws';
import { AppModule } from '../../src/app.module.js';
import { Public, Roles } from '../../src/auth/auth.metadata.js';
import { CurrentUser } from '../../src/auth/current-user.decorator.js';
import type { Principal } from '../../src/auth/principal.js';
import { ConfigValidationError } from '../../src/config/environment.js';
import { SWITCHBOARD_FEATURES, type SwitchboardFeature } from '../../src/config/features.js';
import { DatabaseService } from '../../src/database/database.service.js';
import { RealtimeGateway } from '../../src/realtime/realtime-gateway.decorator.js';
import { RealtimeServer } from '../../src/realtime/realtime-server.js';
import { SwitchboardModule } from '../../src/switchboard.module.js';
import { TEST_SECRET } from '../support/app.js';
import type { Socket as ClientSocket } from 'socket.io-client';
import { client, connected, closeAll } from '../support/clients.js';
import { HOST_SETTINGS, startHost, type RunningHost } from '../support/host.js';
import { signToken } from '../support/tokens.js';

const USER = signToken({ sub: 'alice' });
const ADMIN = signToken({ sub: 'root', roles: ['admin'] });

/** A DTO-shaped body the host's route takes as it comes: Switchboard's pipe must leave it alone. */
class HostEchoBody {
  text?: string;
}

/** A host's own routes, with and without Switchboard's decorators, and no guard of its own. */
@Controller('host')
class HostController {
  @Get('open')
  open(): { open: true } {
    return { open: true };
  }

  @Public()
  @Get('public')
  public(): { public: true } {
    return { public: true };
  }

  @Roles('admin')
  @Get('admin')
  admin(@CurrentUser() user: Principal | undefined): { userId: string | null } {
    return { userId: user?.userId ?? null };
  }

  @Post('echo')
  echo(@Body() body: HostEchoBody): HostEchoBody {
    return body;
  }
}

class HostEchoDto {
  @IsString()
  text!: string;
}

/** A host's gateway that asks for the house rules: acks, validation, per-event roles. */
@RealtimeGateway('/host')
class HostRealtimeGateway {
  @SubscribeMessage('host:echo')
  echo(@MessageBody() body: HostEchoDto): string {
    return body.text;
  }

  @Roles('admin')
  @SubscribeMessage('host:admin')
  admin(): string {
    return 'granted';
  }
}

function hostModule(switchboard: DynamicModule) {
  @Module({ imports: [switchboard], controllers: [HostController], providers: [HostRealtimeGateway] })
  class HostModule {}
  return HostModule;
}

const embedded = (options: Parameters<typeof SwitchboardModule.forRoot>[0] = {}) =>
  hostModule(SwitchboardModule.forRoot({ ...options, settings: { ...HOST_SETTINGS, ...options.settings } }));

/** What `fn` threw, for a look at its message. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('Nothing was thrown');
}

describe('SwitchboardModule in a host application (e2e)', () => {
  describe('the setup call', () => {
    it('fails boot naming the call when the host did not make it', async () => {
      await expect(startHost(embedded(), { setup: false })).rejects.toThrow(
        /adapter is not installed.*await setupSwitchboard\(app\)/s,
      );
    });

    it('fails boot the same way for the standalone AppModule without createApp()', async () => {
      const saved = process.env;
      process.env = {
        PATH: saved.PATH ?? '',
        NODE_ENV: 'test',
        JWT_SECRET: TEST_SECRET,
        DATABASE_URL: 'sqlite::memory:',
      };
      let module;
      try {
        module = await AppModule.forRoot({ envFile: false });
      } finally {
        process.env = saved;
      }
      const app = await NestFactory.create(module, { logger: false });
      try {
        await expect(app.init()).rejects.toThrow(
          /adapter is not installed.*setupSwitchboard\(app\).*createApp\(\)/s,
        );
      } finally {
        await app.close();
      }
    });
  });

  describe('options validated like the environment', () => {
    it('refuses bad settings with the messages the standalone server gives', () => {
      const error = thrown(() =>
        SwitchboardModule.forRoot({
          settings: { NODE_ENV: 'production', JWT_SECRET: 'short', MAX_CONNECTIONS: -1 },
        }),
      );
      expect(error).toBeInstanceOf(ConfigValidationError);
      expect(error.message).toContain('MAX_CONNECTIONS must not be less than 0');
      expect(error.message).toContain('JWT_SECRET must be at least 32 characters when NODE_ENV=production');
    });

    it('refuses a setting that does not exist, and accepts numbers and booleans as such', () => {
      expect(
        thrown(() => SwitchboardModule.forRoot({ settings: { JWT_SECRT: 'x' } as never })).message,
      ).toContain('JWT_SECRT: not a Switchboard setting');
      expect(() =>
        SwitchboardModule.forRoot({ settings: { ...HOST_SETTINGS, MAX_CONNECTIONS: 10, REDIS_TLS: false } }),
      ).not.toThrow();
    });

    it('refuses unknown features, and a feature without what it needs', () => {
      expect(thrown(() => embedded({ features: ['chat', 'video' as SwitchboardFeature] })).message).toContain(
        'features: unknown feature "video"',
      );
      const error = thrown(() => embedded({ features: ['admin'] }));
      expect(error).toBeInstanceOf(ConfigValidationError);
      expect(error.message).toContain("features: 'admin' needs 'notifications' and 'presence'");
      expect(thrown(() => embedded({ features: ['presence', 'admin'] })).message).toContain(
        "features: 'admin' needs 'notifications'; add it or leave 'admin' out",
      );
    });
  });

  describe('forRootAsync', () => {
    const OTHER_SECRET = 'the-host-own-secret-0123456789-0123456789';
    const HOST_CONFIG = 'HOST_CONFIG';

    @Module({
      providers: [{ provide: HOST_CONFIG, useValue: { jwtSecret: OTHER_SECRET } }],
      exports: [HOST_CONFIG],
    })
    class HostConfigModule {}

    const asyncHost = () =>
      hostModule(
        SwitchboardModule.forRootAsync({
          imports: [HostConfigModule],
          inject: [HOST_CONFIG],
          useFactory: async (config: { jwtSecret: string }) => {
            await Promise.resolve();
            return { ...HOST_SETTINGS, JWT_SECRET: config.jwtSecret };
          },
        }),
      );

    it('takes its settings from a factory with injected providers', async () => {
      const host = await startHost(asyncHost());
      try {
        const token = jwt.sign({ sub: 'hana' }, OTHER_SECRET, { algorithm: 'HS256', expiresIn: 60 });
        const me = await request(host.url)
          .get('/api/auth/me')
          .set('Authorization', `Bearer ${token}`)
          .expect(200);
        expect(JSON.stringify(me.body)).toContain('hana');
        await request(host.url).get('/api/auth/me').set('Authorization', `Bearer ${USER}`).expect(401);
      } finally {
        await host.close();
      }
    });

    it('fails boot with the validation message when the factory gives a bad value', async () => {
      const bad = hostModule(
        SwitchboardModule.forRootAsync({
          useFactory: () => ({ ...HOST_SETTINGS, DATABASE_URL: 'mysql://db' }),
        }),
      );
      await expect(NestFactory.create(bad, { logger: false, abortOnError: false })).rejects.toThrow(
        /Invalid configuration:\n {2}- DATABASE_URL must be postgres:\/\/…, sqlite:<file> or sqlite::memory:/,
      );
    });
  });

  describe('globalGuard', () => {
    let hosts: RunningHost[] = [];
    afterEach(async () => {
      await Promise.all(hosts.map((host) => host.close()));
      hosts = [];
    });
    const start = async (globalGuard: boolean | undefined) => {
      const host = await startHost(embedded(globalGuard === undefined ? {} : { globalGuard }));
      hosts.push(host);
      return host;
    };

    it("is off by default: the host's routes are its own, Switchboard's stay guarded and validated", async () => {
      const host = await start(undefined);
      await request(host.url).get('/host/open').expect(200, { open: true });
      // Without a guard on the route, @Roles and @CurrentUser have nothing to act on.
      await request(host.url).get('/host/admin').expect(200, { userId: null });
      // Switchboard's pipe leaves the host's bodies alone…
      await request(host.url)
        .post('/host/echo')
        .send({ text: 'hi', extra: 1 })
        .expect(201, { text: 'hi', extra: 1 });
      // …and its own routes keep their guard, validation and error shape.
      const refusal = await request(host.url).get('/api/chats').expect(401);
      expect(refusal.body).toEqual(expect.objectContaining({ statusCode: 401, code: 'UNAUTHORIZED' }));
      const invalid = await request(host.url)
        .post('/api/chats')
        .set('Authorization', `Bearer ${USER}`)
        .send({ members: 'nobody', extra: true })
        .expect(400);
      expect(invalid.body).toEqual(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
      // A host's unknown route answers as Nest answers it.
      const missing = await request(host.url).get('/host/nothing').expect(404);
      expect(missing.body).toEqual(
        expect.objectContaining({ statusCode: 404, message: 'Cannot GET /host/nothing' }),
      );
    });

    it("gives a host's @RealtimeGateway the house rules either way: validation and per-event roles", async () => {
      const host = await start(undefined);
      const sockets = [
        client(host.url, '/host', { auth: { token: USER } }),
        client(host.url, '/host', { auth: { token: ADMIN } }),
      ];
      try {
        const [user, admin] = sockets as [ClientSocket, ClientSocket];
        await Promise.all([connected(user), connected(admin)]);
        const ask = (socket: ClientSocket, event: string, payload?: unknown) =>
          socket.timeout(5000).emitWithAck(event, payload) as Promise<{
            ok: boolean;
            data?: unknown;
            error?: { code: string };
          }>;
        expect(await ask(user, 'host:echo', { text: 'hi' })).toEqual({ ok: true, data: 'hi' });
        expect(await ask(user, 'host:echo', { text: 5 })).toEqual(
          expect.objectContaining({
            ok: false,
            error: expect.objectContaining({ code: 'VALIDATION_FAILED' }),
          }),
        );
        expect(await ask(user, 'host:admin')).toEqual(
          expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'FORBIDDEN' }) }),
        );
        expect(await ask(admin, 'host:admin')).toEqual({ ok: true, data: 'granted' });
      } finally {
        await closeAll(sockets);
      }
    });

    it("when on, guards the host's routes too, honouring @Public and @Roles", async () => {
      const host = await start(true);
      const refusal = await request(host.url).get('/host/open').expect(401);
      expect(refusal.body).toEqual(expect.objectContaining({ code: 'UNAUTHORIZED' }));
      await request(host.url)
        .get('/host/open')
        .set('Authorization', `Bearer ${USER}`)
        .expect(200, { open: true });
      await request(host.url).get('/host/public').expect(200, { public: true });
      await request(host.url).get('/host/admin').set('Authorization', `Bearer ${USER}`).expect(403);
      await request(host.url)
        .get('/host/admin')
        .set('Authorization', `Bearer ${ADMIN}`)
        .expect(200, { userId: 'root' });
      await request(host.url).get('/api/chats').expect(401);
    });
  });

  describe('features', () => {
    const NAMESPACES: Record<SwitchboardFeature, string[]> = {
      sessions: [],
      chat: ['/chat'],
      presence: ['/presence'],
      notifications: ['/notifications'],
      admin: ['/admin'],
    };
    const ROUTES: Record<SwitchboardFeature, string[]> = {
      sessions: ['/api/sessions/count'],
      chat: ['/api/chats'],
      presence: ['/api/presence/alice'],
      notifications: ['/api/notifications'],
      admin: ['/api/admin/stats'],
    };
    const TABLES: Record<SwitchboardFeature, string[]> = {
      sessions: [],
      chat: ['chat_members', 'chat_messages', 'chat_read_states', 'chats'],
      presence: ['user_presence'],
      notifications: ['notification_read_cursors', 'notification_reads', 'notifications', 'publish_receipts'],
      admin: ['admin_audit'],
    };
    const CHOICES: SwitchboardFeature[][] = [
      [],
      ['sessions'],
      ['chat'],
      ['presence'],
      ['notifications'],
      ['notifications', 'presence', 'admin'],
      [...SWITCHBOARD_FEATURES],
    ];

    it.each(CHOICES.map((features) => [features.join(', ') || 'none', features] as const))(
      '%s: registers only the chosen namespaces, routes and tables',
      async (_name, features) => {
        const host = await startHost(embedded({ features }));
        const sockets = [];
        try {
          const chosen = new Set<SwitchboardFeature>(features);
          const namespaces = host.app
            .get(RealtimeServer)
            .namespaces()
            .map((namespace) => namespace.name)
            .sort();
          expect(namespaces).toEqual(
            ['/', '/host', ...features.flatMap((feature) => NAMESPACES[feature])].sort(),
          );

          for (const feature of SWITCHBOARD_FEATURES) {
            for (const route of ROUTES[feature]) {
              const answer = await request(host.url).get(route).set('Authorization', `Bearer ${ADMIN}`);
              expect([route, answer.status === 404 ? 'absent' : 'served']).toEqual([
                route,
                chosen.has(feature) ? 'served' : 'absent',
              ]);
            }
          }

          const tables = (await host.app.get(DatabaseService).db.introspection.getTables()).map(
            (table) => table.name,
          );
          expect(tables.sort()).toEqual(features.flatMap((feature) => TABLES[feature]).sort());

          // The root namespace is always there; sessions' events only with sessions.
          const root = client(host.url, '/', { auth: { token: USER } });
          sockets.push(root);
          await connected(root);
          const ping = (await root.timeout(5000).emitWithAck('ping')) as { ok: boolean };
          expect(ping.ok).toBe(chosen.has('sessions'));
        } finally {
          await closeAll(sockets);
          await host.close();
        }
      },
    );

    it('without notifications, /ws/events is not served: the upgrade is refused', async () => {
      const host = await startHost(embedded({ features: ['chat'] }));
      try {
        const socket = new WebSocket(`${host.url.replace('http', 'ws')}/ws/events`, {
          headers: { authorization: `Bearer ${USER}` },
        });
        const outcome = await new Promise<string>((resolve) => {
          socket.once('open', () => resolve('open'));
          socket.once('error', () => resolve('refused'));
        });
        socket.terminate();
        expect(outcome).toBe('refused');
      } finally {
        await host.close();
      }
    });

    it('presence without chat works, without the co-member rule', async () => {
      const host = await startHost(embedded({ features: ['presence'] }));
      try {
        const answer = await request(host.url)
          .get('/api/presence/bob')
          .set('Authorization', `Bearer ${USER}`)
          .expect(200);
        expect(JSON.stringify(answer.body)).toContain('"online":false');
      } finally {
        await host.close();
      }
    });

    it('migrates per feature over time: a feature added later gets its tables, one left out keeps them', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'switchboard-features-'));
      const settings = { DATABASE_URL: `sqlite:${join(dir, 'switchboard.db')}` };
      const boot = async (features: SwitchboardFeature[]) => {
        const host = await startHost(embedded({ features, settings }));
        try {
          return (await host.app.get(DatabaseService).db.introspection.getTables())
            .map((table) => table.name)
            .sort();
        } finally {
          await host.close();
        }
      };
      try {
        expect(await boot(['notifications'])).not.toContain('chats');
        // Chat's migrations sort before the notifications' one already applied: they run all the same.
        expect(await boot(['chat', 'notifications'])).toEqual(
          expect.arrayContaining(['chats', 'notifications']),
        );
        // Fewer features than the database has seen: it boots, and nothing is dropped.
        expect(await boot(['sessions'])).toEqual(expect.arrayContaining(['chats', 'notifications']));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
