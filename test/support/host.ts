import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { setupSwitchboard } from '../../src/embedding/setup.js';
import { TEST_SECRET } from './app.js';

export interface RunningHost {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/** The settings of an embedded Switchboard under test: the test secret, a database in memory. */
export const HOST_SETTINGS = {
  NODE_ENV: 'test',
  JWT_SECRET: TEST_SECRET,
  DATABASE_URL: 'sqlite::memory:',
  LOG_LEVEL: 'error',
} as const;

export interface StartHostOptions {
  /** Skip `setupSwitchboard(app)`, as a host that forgot it would. */
  setup?: boolean;
  /** The process environment while the module boots (factories read it then). */
  env?: Record<string, string>;
}

/**
 * Boots a host application's root module as its `main.ts` would (`NestFactory.create`, then
 * `setupSwitchboard`) on an ephemeral loopback port.
 */
export async function startHost(rootModule: unknown, options: StartHostOptions = {}): Promise<RunningHost> {
  const saved = process.env;
  process.env = { ...saved, ...options.env };
  let app: INestApplication;
  try {
    app = await NestFactory.create(rootModule as never, { logger: ['error', 'warn'], abortOnError: false });
    try {
      if (options.setup !== false) await setupSwitchboard(app);
      await app.listen(0, '127.0.0.1');
    } catch (error) {
      await app.close();
      throw error;
    }
  } finally {
    process.env = saved;
  }
  const address = (app.getHttpServer() as Server).address();
  if (!address || typeof address === 'string') throw new Error('The host did not bind a TCP port');
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}
