import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { AppModule } from './app.module.js';
import { SocketAuthenticator } from './auth/socket-authenticator.js';
import { AppConfig } from './config/app-config.js';
import type { AppModuleOptions } from './app.module.js';
import { RealtimeIoAdapter } from './realtime/realtime-io.adapter.js';
import { OriginPolicy } from './realtime/origin-policy.js';
import { ClientAddresses } from './common/client-address.js';
import { NodeEnv } from './config/environment.js';

export interface CreateAppOptions extends AppModuleOptions {
  logger?: false | ('fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose')[];
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;

/**
 * Helmet's defaults (everything from this origin, no plugins, no inline script, framing by this
 * origin only), fitted to the pages the app serves itself (API docs, an admin console): inline
 * styles, which Swagger UI sets; fonts from this origin or data: URLs rather than any https host;
 * and no upgrade-insecure-requests, which would break those pages' assets wherever they are
 * served over plain HTTP (a private network, a proxy without TLS).
 */
const CONTENT_SECURITY_POLICY = {
  useDefaults: true,
  directives: {
    'font-src': ["'self'", 'data:'],
    'style-src': ["'self'", "'unsafe-inline'"],
    'upgrade-insecure-requests': null,
  },
};

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
  // Ahead of the body parser, so that its refusals (413, malformed JSON) carry the headers too.
  app.disable('x-powered-by');
  app.use(helmet({ contentSecurityPolicy: CONTENT_SECURITY_POLICY }));
  app.useBodyParser('json', { limit: config.limits.maxPayloadBytes });
  app.set('trust proxy', app.get(ClientAddresses).trust);
  const origins = new OriginPolicy(config.limits.corsOrigins, config.env === NodeEnv.Development);
  app.enableCors({ origin: (origin, callback) => callback(null, origins.allows(origin)), credentials: true });
  const adapter = new RealtimeIoAdapter(app, [app.get(SocketAuthenticator)]);
  await adapter.connectToRedis();
  app.useWebSocketAdapter(adapter);
  return app;
}
