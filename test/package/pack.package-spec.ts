import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TEST_SECRET } from '../support/app.js';
import { client, closeAll, connected } from '../support/clients.js';
import { pollUntil } from '../support/polling.js';
import { signToken } from '../support/tokens.js';
import type { Socket as ClientSocket } from 'socket.io-client';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE = join(ROOT, 'examples/host-app');
const SETUP_TIMEOUT_MS = 180_000;
const BOOT_TIMEOUT_MS = 20_000;

/** npm without the test runner's NODE_ENV (which would leave the host's devDependencies out). */
function npm(args: string[], cwd: string) {
  const env = { ...process.env };
  delete env.NODE_ENV;
  return run('npm', args, { cwd, env, maxBuffer: 16 * 1024 * 1024 });
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function timed<T>(timings: Record<string, number>, step: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    timings[step] = Math.round(performance.now() - started);
  }
}

/**
 * The package as a host installs it: `npm pack` of the built project, installed with
 * `npm install <tarball>` into a copy of `examples/host-app` (a CommonJS Nest application), built
 * with its own `tsc` and booted with `node dist/main.js`. Dependencies come from npm's cache
 * (`--prefer-offline`); install scripts are skipped and better-sqlite3's native module is the one
 * this checkout already built, so nothing is compiled.
 */
describe('the packed package in a CommonJS host (package)', () => {
  const timings: Record<string, number> = {};
  let work: string;
  let host: string;
  let files: string[];

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/index.js')))
      throw new Error('dist/ is not built: run `npm run build` first');
    work = mkdtempSync(join(tmpdir(), 'switchboard-pack-'));
    host = join(work, 'host-app');

    const packed = await timed(timings, 'pack', () =>
      npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT),
    );
    const [manifest] = JSON.parse(packed.stdout) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    if (!manifest) throw new Error(`npm pack said nothing: ${packed.stderr}`);
    files = manifest.files.map((file) => file.path);

    cpSync(EXAMPLE, host, {
      recursive: true,
      filter: (source) => !/[/\\](node_modules|dist|data)$/.test(source),
    });
    // What a host of its own has: no path to Switchboard's sources, only node_modules/switchboard.
    const tsconfig = join(host, 'tsconfig.json');
    writeFileSync(
      tsconfig,
      readFileSync(tsconfig, 'utf8')
        .split('\n')
        .filter((line) => !line.includes('"paths"') && !line.trimStart().startsWith('//'))
        .join('\n'),
    );

    await timed(timings, 'install', () =>
      npm(
        [
          'install',
          join(work, manifest.filename),
          '--prefer-offline',
          '--ignore-scripts',
          '--no-audit',
          '--no-fund',
        ],
        host,
      ),
    );
    cpSync(join(ROOT, 'node_modules/better-sqlite3/build'), join(host, 'node_modules/better-sqlite3/build'), {
      recursive: true,
    });
    await timed(timings, 'build', () =>
      run(process.execPath, [join(host, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: host,
      }),
    );
  }, SETUP_TIMEOUT_MS);

  afterAll(() => {
    process.stdout.write(
      `package test timings (ms): ${Object.entries(timings)
        .map(([step, ms]) => `${step} ${ms}`)
        .join(', ')}\n`,
    );
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs the entry, the contracts and the changelog; not the standalone server, sources or maps', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'CHANGELOG.md',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/switchboard.module.js',
        'dist/contracts/index.js',
        'dist/contracts/index.d.ts',
      ]),
    );
    expect(files.filter((file) => /\.(map|ts)$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
    expect(
      files.filter((file) =>
        /^(src|test|examples)\/|^dist\/(main|bootstrap|app\.module)\.|^dist\/(cli|console|bench)\//.test(
          file,
        ),
      ),
    ).toEqual([]);
  });

  it('is required by CommonJS: the entry and the contracts', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        `const sb = require('switchboard'); const c = require('switchboard/contracts');
         console.log(JSON.stringify({ module: typeof sb.SwitchboardModule, setup: typeof sb.setupSwitchboard,
           notify: typeof sb.NotificationsService.prototype.notify, namespace: c.NOTIFICATIONS_NAMESPACE }));`,
      ],
      { cwd: host },
    );
    expect(JSON.parse(stdout)).toEqual({
      module: 'function',
      setup: 'function',
      notify: 'function',
      namespace: '/notifications',
    });
    // tsc compiled the host to CommonJS, which requires Switchboard.
    expect(readFileSync(join(host, 'dist/main.js'), 'utf8')).toContain('require("switchboard")');
  });

  describe('the built host', () => {
    let child: ChildProcess;
    let output = '';
    let url: string;
    const sockets: ClientSocket[] = [];

    beforeAll(async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      const started = performance.now();
      child = spawn(process.execPath, ['dist/main.js'], {
        cwd: host,
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          PORT: String(port),
          HOST: '127.0.0.1',
          JWT_SECRET: TEST_SECRET,
          DATABASE_URL: 'sqlite::memory:',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await pollUntil(
        () =>
          fetch(`${url}/api/health/ready`).then(
            (response) => response.status,
            () => 0,
          ),
        (status) => status === 200 || child.exitCode !== null,
        { what: 'the host to answer /api/health/ready', timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 100 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${output}`);
      });
      if (child.exitCode !== null) throw new Error(`The host exited with ${child.exitCode}:\n${output}`);
      timings.boot = Math.round(performance.now() - started);
    }, BOOT_TIMEOUT_MS + 5_000);

    afterAll(async () => {
      await closeAll(sockets);
      if (child && child.exitCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await exited;
      }
    });

    it('listens, and is ready', async () => {
      const response = await fetch(`${url}/api/health/ready`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual(expect.objectContaining({ status: 'ok' }));
      expect(await (await fetch(url)).text()).toBe('Hello from the host app');
    });

    it("serves the host's gateway behind Switchboard's handshake, and its guarded route", async () => {
      const token = signToken({ sub: 'erin' });
      const socket = client(url, '/orders', { auth: { token } });
      sockets.push(socket);
      await connected(socket);
      const placed = await fetch(`${url}/orders`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ item: 'a kettle' }),
      });
      expect(placed.status).toBe(201);
      const orders = (await socket.timeout(5000).emitWithAck('orders:mine')) as Array<{ item: string }>;
      expect(orders.map((order) => order.item)).toEqual(['a kettle']);
      expect((await fetch(`${url}/orders`, { method: 'POST' })).status).toBe(401);
    });
  });
});
