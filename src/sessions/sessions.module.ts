import { Module } from '@nestjs/common';
import { SessionsController } from './sessions.controller.js';
import { SessionsGateway } from './sessions.gateway.js';
import { SessionsService } from './sessions.service.js';

@Module({
  controllers: [SessionsController],
  providers: [SessionsService, SessionsGateway],
  exports: [SessionsService],
})
export class SessionsModule {}
