import { Global, Module } from '@nestjs/common';
import { ClientAddresses } from '../common/client-address.js';
import { DeliveryGaps, SyncRequiredPush } from './delivery-gaps.js';
import { RealtimeServer } from './realtime-server.js';
import { ServerEvents } from './server-events.js';

/**
 * The Socket.IO layer every feature module builds on: the server, client addresses, and the
 * delivery gaps after which clients are told to sync.
 */
@Global()
@Module({
  providers: [ClientAddresses, RealtimeServer, DeliveryGaps, SyncRequiredPush, ServerEvents],
  exports: [ClientAddresses, RealtimeServer, DeliveryGaps, ServerEvents],
})
export class RealtimeModule {}
