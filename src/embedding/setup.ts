import type { INestApplication } from '@nestjs/common';
import { SocketAuthenticator } from '../auth/socket-authenticator.js';
import { RealtimeIoAdapter } from '../realtime/realtime-io.adapter.js';

/** What the boot failure names when an application forgot it (see `RealtimeServer`). */
export const SETUP_CALL = 'await setupSwitchboard(app)';

/**
 * The one call an application that imports `SwitchboardModule` makes in its `main.ts`, after
 * `NestFactory.create` and before `app.listen()` (or `app.init()`): installs Switchboard's
 * Socket.IO adapter on every namespace, the application's own gateways included (handshake
 * authentication, connection and event limits, origin check, payload bounds, the event
 * dispatcher, the Redis adapter when Redis is configured) and opens its Redis connections.
 *
 * HTTP stays the application's: helmet, CORS, the body parser, `trust proxy` and the logger are
 * whatever it sets (the standalone server's `createApp` sets its own).
 */
export async function setupSwitchboard(app: INestApplication): Promise<RealtimeIoAdapter> {
  const adapter = new RealtimeIoAdapter(app, [app.get(SocketAuthenticator)]);
  await adapter.connectToRedis();
  app.useWebSocketAdapter(adapter);
  return adapter;
}
