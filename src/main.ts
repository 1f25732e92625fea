import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { demoTokenBanner, loadOrCreateDevelopmentSecret } from './auth/dev-credentials.js';
import { createApp } from './bootstrap.js';
import { AppConfig } from './config/app-config.js';
import { ConfigValidationError } from './config/environment.js';
import { describeError } from './common/failure-log.js';

async function main(): Promise<void> {
  const app = await createApp({ developmentSecret: loadOrCreateDevelopmentSecret });
  const config = app.get(AppConfig);
  const logger = new Logger('Switchboard');
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.log(`${signal} received: shutting down`);
    const deadline = setTimeout(() => {
      logger.error(`Shutdown took longer than ${config.server.shutdownGraceMs} ms; exiting`);
      process.exit(1);
    }, config.server.shutdownGraceMs);
    deadline.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(describeError(error));
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  await app.listen(config.server.port, config.server.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  if (config.auth.key.kind === 'secret' && config.auth.key.generated) {
    logger.warn('Development mode: no JWT key configured, using a local secret');
    // To the terminal, not into the log, which never carries a token (a scrubber would mask them).
    process.stdout.write(`${demoTokenBanner(config)}\n`);
  }
  logger.log(
    `Listening on http://${config.server.host}:${port} as server ${config.server.serverId} ` +
      `(${config.redis ? 'Redis adapter' : 'in-memory adapter'}, ${config.database.kind})`,
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigValidationError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`Switchboard failed to start: ${describeError(error)}\n`);
  }
  process.exit(1);
});
