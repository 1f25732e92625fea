import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createApp } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { ConnectionLifecycle } from '../../src/connections/connection-lifecycle.js';
import { PresenceService } from '../../src/presence/presence.service.js';
import { benchGatewayModule } from './bench-gateway.js';
import { RECENT_CHANGES, reportStartFailure, serveControl, type PresenceCounters } from './control.js';

/**
 * Switchboard as `src/main.ts` starts it (`AppModule`, presence included), configured by the
 * environment the harness passes, optionally with the bench host gateway (`--extra-handlers K`)
 * imported beside its modules. It counts presence through the services a host application can
 * use (the connection lifecycle and `PresenceService.changes`), for the reconnect wave.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'extra-handlers': { type: 'string' } } });
  const extraHandlers = values['extra-handlers'] === undefined ? 0 : Number(values['extra-handlers']);
  const app = await createApp({ imports: extraHandlers > 0 ? [benchGatewayModule(extraHandlers)] : [] });
  const config = app.get(AppConfig);
  const counters: PresenceCounters = {
    graceMs: config.presence.graceMs,
    usersConnected: 0,
    usersDisconnected: 0,
    changes: {},
    recent: [],
  };
  let told = 0;
  const lifecycle = app.get(ConnectionLifecycle);
  lifecycle.on('userConnected', () => {
    counters.usersConnected += 1;
  });
  lifecycle.on('userDisconnected', () => {
    counters.usersDisconnected += 1;
  });
  app.get(PresenceService).changes.subscribe(({ event, userId }) => {
    counters.changes[event] = (counters.changes[event] ?? 0) + 1;
    told += 1;
    counters.recent.push({ number: told, event, userId });
    if (counters.recent.length > RECENT_CHANGES) counters.recent.shift();
  });
  await app.listen(config.server.port, config.server.host);
  const address = app.getHttpServer().address();
  if (!address || typeof address === 'string') throw new Error('Switchboard did not bind a TCP port');
  serveControl(
    address.port,
    () => app.close(),
    () => ({ ...counters, changes: { ...counters.changes }, recent: [...counters.recent] }),
  );
}

main().catch(reportStartFailure);
