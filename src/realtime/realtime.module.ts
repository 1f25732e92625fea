import { Global, Module } from '@nestjs/common';
import { ClientAddresses } from '../common/client-address.js';
import { RealtimeServer } from './realtime-server.js';

/** The Socket.IO layer every feature module builds on: the server, and client addresses. */
@Global()
@Module({
  providers: [ClientAddresses, RealtimeServer],
  exports: [ClientAddresses, RealtimeServer],
})
export class RealtimeModule {}
