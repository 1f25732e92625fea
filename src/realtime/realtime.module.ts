import { Global, Module } from '@nestjs/common';
import { ClientAddresses } from '../common/client-address.js';
import { DeliveryGaps, SyncRequiredPush } from './delivery-gaps.js';
import { RealtimeCounters } from './realtime-counters.js';
import { RealtimeServer } from './realtime-server.js';
import { ServerEvents } from './server-events.js';

/**
 * The Socket.IO layer every feature module builds on: the server, client addresses, the
 * delivery gaps after which clients are told to sync, and the traffic counters.
 */
@Global()
@Module({
  providers: [
    ClientAddresses,
    RealtimeServer,
    DeliveryGaps,
    SyncRequiredPush,
    ServerEvents,
    RealtimeCounters,
  ],
  exports: [ClientAddresses, RealtimeServer, DeliveryGaps, ServerEvents, RealtimeCounters],
})
export class RealtimeModule {}
