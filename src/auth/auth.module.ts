import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { RestRateLimits } from '../common/rest-rate-limits.js';
import { RedisService } from '../redis/redis.service.js';
import { AuthController } from './auth.controller.js';
import { AuthGateway } from './auth.gateway.js';
import { JwtStrategy } from './jwt.strategy.js';
import { RedisRevocationStore } from './redis-revocation.store.js';
import { MemoryRevocationStore, RevocationStore } from './revocation.store.js';
import { SessionRevoker } from './session-revoker.js';
import { SocketAuthenticator } from './socket-authenticator.js';
import { TokenAdmission } from './token-admission.js';
import { TokenVerifier } from './token-verifier.js';

/**
 * Tokens, handshake authentication, revocation, `/api/auth` and `auth:*`. The app-wide guard
 * (`AccessGuard`, `@Roles`, `@Public`) is registered by `SwitchboardModule`, over what it covers.
 */
@Global()
@Module({
  imports: [PassportModule, DiscoveryModule],
  controllers: [AuthController],
  providers: [
    AuthGateway,
    TokenVerifier,
    TokenAdmission,
    JwtStrategy,
    SocketAuthenticator,
    SessionRevoker,
    RestRateLimits,
    {
      provide: RevocationStore,
      useFactory: (redis: RedisService) =>
        redis.enabled ? new RedisRevocationStore(redis.client, redis.keyPrefix) : new MemoryRevocationStore(),
      inject: [RedisService],
    },
  ],
  exports: [
    TokenVerifier,
    TokenAdmission,
    SocketAuthenticator,
    SessionRevoker,
    RevocationStore,
    RestRateLimits,
  ],
})
export class AuthModule {}
