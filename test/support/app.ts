import type { NestExpressApplication } from '@nestjs/platform-express';
import { createApp, type CreateAppOptions } from '../../src/bootstrap.js';

export const TEST_SECRET = 'test-secret-0123456789-0123456789-0123456789';

export interface RunningApp {
  app: NestExpressApplication;
  url: string;
  port: number;
  close(): Promise<void>;
}

const BASE_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  JWT_SECRET: TEST_SECRET,
  DATABASE_URL: 'sqlite::memory:',
  LOG_LEVEL: 'error',
  HOST: '127.0.0.1',
  PORT: '0',
};

/**
 * Starts the real app in this process on an ephemeral port. The configuration comes only
 * from `env` (over test defaults), never from the developer's `.env` or shell. With a `clock`
 * (a `TestClock`), token expiry follows that clock instead of the system time.
 */
export async function startApp(
  env: Record<string, string> = {},
  options: Pick<CreateAppOptions, 'imports' | 'clock'> = {},
): Promise<RunningApp> {
  const saved = process.env;
  process.env = { PATH: saved.PATH ?? '', ...BASE_ENV, ...env };
  let app: NestExpressApplication;
  try {
    app = await createApp({ ...options, envFile: false, logger: ['error', 'warn'] });
  } finally {
    process.env = saved;
  }
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (!address || typeof address === 'string') throw new Error('The app did not bind a TCP port');
  return {
    app,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    close: () => app.close(),
  };
}
