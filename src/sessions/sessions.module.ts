import { Module } from '@nestjs/common';
import { SessionCountPush } from './session-count.push.js';
import { SessionsController } from './sessions.controller.js';
import { SessionsGateway } from './sessions.gateway.js';
import { SessionsService } from './sessions.service.js';

@Module({
  controllers: [SessionsController],
  providers: [SessionsService, SessionsGateway, SessionCountPush],
  exports: [SessionsService],
})
export class SessionsModule {}
