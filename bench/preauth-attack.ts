import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { describeError } from '../src/common/failure-log.js';

/**
 * Memory held by clients that never authenticate: raw Engine.IO connections that each announce a
 * binary event of ten attachments and send nine of 1 MB, never joining a namespace. Prints the
 * server's resident memory before, at its peak during the attack, and once the connections are
 * gone or closed by the server.
 *
 *   npm run bench:preauth -- [--connections 12] [--attachments 9] [--hold-ms 15000] [--server dist/main.js]
 *
 * `--server` points at another build's entry point, to compare with it in the same run.
 */
const BUILT_SERVER = fileURLToPath(new URL('../../main.js', import.meta.url));
const MIB = 1024 * 1024;
/** 1 MB, within the default 1 MiB message limit once framed. */
const ATTACHMENT_BYTES = 1_000_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '12' },
      attachments: { type: 'string', default: '9' },
      'hold-ms': { type: 'string', default: '15000' },
      server: { type: 'string', default: BUILT_SERVER },
    },
  });
  const connections = Number(values.connections);
  const attachments = Number(values.attachments);
  const holdMs = Number(values['hold-ms']);
  const workDir = mkdtempSync(join(tmpdir(), 'switchboard-preauth-'));
  const server = spawn(process.execPath, [resolve(values.server)], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      JWT_SECRET: 'preauth-attack-secret-0123456789abcdef',
      DATABASE_URL: 'sqlite::memory:',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'log',
    },
  });
  try {
    const port = await listeningPort(server.stdout);
    const rssOf = () => residentBytes(server.pid!);
    await delay(1000);
    const before = rssOf();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf())), 50);
    const sockets = await Promise.all(Array.from({ length: connections }, () => attack(port, attachments)));
    await delay(holdMs);
    const closedByServer = sockets.filter((socket) => socket.readyState === WebSocket.CLOSED).length;
    const during = rssOf();
    for (const socket of sockets) socket.terminate();
    await delay(2000);
    clearInterval(sampler);
    const after = rssOf();
    const line = (label: string, bytes: number) =>
      `${label.padEnd(34)} ${(bytes / MIB).toFixed(1).padStart(7)} MiB (${signed((bytes - before) / MIB)} MiB)`;
    process.stdout.write(
      [
        `${connections} connections × ${attachments} attachments of 1 MB, no namespace handshake`,
        line('RSS before', before),
        line('RSS peak during the attack', peak),
        line(`RSS after holding ${holdMs} ms`, during),
        line('RSS after the clients left', after),
        `connections the server had closed by then: ${closedByServer} of ${connections}`,
        '',
      ].join('\n'),
    );
  } finally {
    server.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** One hostile connection; resolves once everything is sent (or the server closed it). */
function attack(port: number, attachments: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
    socket.once('error', reject);
    socket.once('message', () => {
      const placeholders = Array.from({ length: attachments + 1 }, (_, num) => ({ _placeholder: true, num }));
      socket.send(`45${attachments + 1}-${JSON.stringify(['upload', ...placeholders])}`);
      const chunk = Buffer.alloc(ATTACHMENT_BYTES, 7);
      for (let sent = 1; sent < attachments; sent += 1) socket.send(chunk);
      socket.send(chunk, () => resolve(socket));
    });
    socket.on('close', () => resolve(socket));
  });
}

function listeningPort(stdout: NodeJS.ReadableStream | null): Promise<number> {
  return new Promise((resolve, reject) => {
    if (!stdout) return reject(new Error('no stdout'));
    createInterface({ input: stdout }).on('line', (text) => {
      const match = /Listening on http:\/\/\S+:(\d+)/.exec(text);
      if (match) resolve(Number(match[1]));
    });
  });
}

function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kib ?? 0) * 1024;
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
}

main().catch((error: unknown) => {
  process.stderr.write(`${describeError(error)}\n`);
  process.exitCode = 1;
});
