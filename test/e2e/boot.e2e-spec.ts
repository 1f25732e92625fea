import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import request from 'supertest';
import { startAppProcess, WatchedProcess, type AppProcess } from '../support/app-process.js';
import { client, connected } from '../support/clients.js';

const MAIN_SCRIPT = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const TOKEN_SCRIPT = fileURLToPath(new URL('../../dist/cli/token.js', import.meta.url));
const run = promisify(execFile);

describe('the built server as a process (e2e)', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchboard-boot-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  describe('development defaults', () => {
    let app: AppProcess;
    let demoUserToken: string;
    let devDataDir: string;
    const tokenLine = /^\s+demo-user\s+(\S+)$/;

    beforeAll(async () => {
      devDataDir = await mkdtemp(join(tmpdir(), 'switchboard-dev-'));
      app = await startAppProcess({
        serverId: 'dev',
        env: { NODE_ENV: 'development', JWT_SECRET: '', DATA_DIR: devDataDir },
      });
      const printed = app
        .recentOutput()
        .split('\n')
        .map((line) => line.match(tokenLine))
        .find(Boolean);
      demoUserToken = printed?.[1] ?? '';
    });
    afterAll(async () => {
      await app.stop();
      await rm(devDataDir, { recursive: true, force: true });
    });

    it('prints a demo token that connects to / and receives authenticated', async () => {
      expect(demoUserToken).toMatch(/^ey/);
      const socket = client(app.url, '/', { auth: { token: demoUserToken } });
      try {
        const event = await connected<{ data: { userId: string } }>(socket);
        expect(event.data.userId).toBe('demo-user');
      } finally {
        socket.close();
      }
    });

    it('mints more tokens with the token command, signed with the same local secret', async () => {
      const { stdout } = await run(
        process.execPath,
        [TOKEN_SCRIPT, '--sub', 'alice', '--roles', 'admin', '--ttl', '1h'],
        {
          env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', DATA_DIR: devDataDir },
          cwd: devDataDir,
        },
      );
      const token = stdout.trim();
      const response = await request(app.url).get('/api/sessions').set('Authorization', `Bearer ${token}`);
      expect(response.status).toBe(200);
    });
  });

  describe('configuration errors stop the process with a message naming the variable', () => {
    const startWith = async (env: Record<string, string>) => {
      const child = new WatchedProcess('bad config', process.execPath, [MAIN_SCRIPT], {
        cwd: dataDir,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, JWT_SECRET: 'x'.repeat(40), ...env },
      });
      const exit = await child.exited;
      return { exit, output: child.recentOutput() };
    };

    it('refuses a port that is not a number', async () => {
      const { exit, output } = await startWith({ PORT: 'eighty' });
      expect(exit.code).toBe(1);
      expect(output).toContain('Invalid configuration');
      expect(output).toMatch(/^\s+- PORT /m);
      expect(output).not.toContain('Node.js v');
    });

    it('refuses production without a key', async () => {
      const { exit, output } = await startWith({ NODE_ENV: 'production', JWT_SECRET: '' });
      expect(exit.code).toBe(1);
      expect(output).toContain('JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required');
    });
  });
});
