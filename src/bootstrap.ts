import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { AppModule } from './app.module.js';
import { serveApiDocs } from './api-docs/api-docs.js';
import { AppConfig } from './config/app-config.js';
import type { AppModuleOptions } from './app.module.js';
import { setupSwitchboard } from './embedding/setup.js';
import { OriginPolicy } from './realtime/origin-policy.js';
import { ClientAddresses } from './common/client-address.js';
import { NodeEnv } from './config/environment.js';
import { serveConsole } from './console/console.assets.js';
import { AppLogger } from './observability/app-logger.js';
import { httpLogging } from './observability/http-logging.js';

export interface CreateAppOptions extends AppModuleOptions {
  logger?: false | ('fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose')[];
}

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
    bodyParser: false,
  });
  const config = app.get(AppConfig);
  // JSON lines through pino (LOG_LEVEL, or `options.logger`); what Nest buffered while booting too.
  const logger = app.get(AppLogger);
  app.useLogger(logger);
  // First of all, so that every request gets its line, those refused by what follows included.
  app.use(httpLogging(logger.pino));
  // Ahead of the body parser, so that its refusals (413, malformed JSON) carry the headers too.
  app.disable('x-powered-by');
  app.use(helmet({ contentSecurityPolicy: CONTENT_SECURITY_POLICY }));
  serveConsole(app);
  await serveApiDocs(app);
  app.useBodyParser('json', { limit: config.limits.maxPayloadBytes });
  app.set('trust proxy', app.get(ClientAddresses).trust);
  const origins = new OriginPolicy(config.limits.corsOrigins, config.env === NodeEnv.Development);
  app.enableCors({ origin: (origin, callback) => callback(null, origins.allows(origin)), credentials: true });
  await setupSwitchboard(app);
  return app;
}
