import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { SocketAuthenticator } from './auth/socket-authenticator.js';
import { AppConfig } from './config/app-config.js';
import type { AppModuleOptions } from './app.module.js';
import { RealtimeIoAdapter } from './realtime/realtime-io.adapter.js';
import { OriginPolicy } from './realtime/origin-policy.js';
import { NodeEnv } from './config/environment.js';

export interface CreateAppOptions extends AppModuleOptions {
  logger?: false | ('fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose')[];
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;

/** Builds the app exactly as production runs it; `main.ts` and the e2e tests both use it. */
export async function createApp(options: CreateAppOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(await AppModule.forRoot(options), {
    bufferLogs: true,
    logger: options.logger,
    bodyParser: false,
  });
  const config = app.get(AppConfig);
  if (options.logger === undefined) {
    app.useLogger(
      LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(config.server.logLevel as (typeof LOG_LEVELS)[number]) + 1),
    );
  } else {
    app.flushLogs();
  }
  app.useBodyParser('json', { limit: config.limits.maxPayloadBytes });
  if (config.server.trustProxy) app.set('trust proxy', true);
  const origins = new OriginPolicy(config.limits.corsOrigins, config.env === NodeEnv.Development);
  app.enableCors({ origin: (origin, callback) => callback(null, origins.allows(origin)), credentials: true });
  const adapter = new RealtimeIoAdapter(app, [app.get(SocketAuthenticator)]);
  await adapter.connectToRedis();
  app.useWebSocketAdapter(adapter);
  return app;
}
