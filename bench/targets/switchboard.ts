import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createApp } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { benchGatewayModule } from './bench-gateway.js';
import { reportStartFailure, serveControl } from './control.js';

/**
 * Switchboard as `src/main.ts` starts it, configured by the environment the harness passes,
 * optionally with the bench host gateway (`--extra-handlers K`) imported beside its modules.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'extra-handlers': { type: 'string' } } });
  const extraHandlers = values['extra-handlers'] === undefined ? 0 : Number(values['extra-handlers']);
  const app = await createApp({ imports: extraHandlers > 0 ? [benchGatewayModule(extraHandlers)] : [] });
  const config = app.get(AppConfig);
  await app.listen(config.server.port, config.server.host);
  const address = app.getHttpServer().address();
  if (!address || typeof address === 'string') throw new Error('Switchboard did not bind a TCP port');
  serveControl(address.port, () => app.close());
}

main().catch(reportStartFailure);
