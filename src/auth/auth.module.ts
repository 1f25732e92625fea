import { Global, Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { RestRateLimits } from '../common/rest-rate-limits.js';
import { RedisService } from '../redis/redis.service.js';
import { AccessGuard } from './access.guard.js';
import { JwtStrategy } from './jwt.strategy.js';
import { RedisRevocationStore } from './redis-revocation.store.js';
import { MemoryRevocationStore, RevocationStore } from './revocation.store.js';
import { SocketAuthenticator } from './socket-authenticator.js';
import { TokenAdmission } from './token-admission.js';
import { TokenVerifier } from './token-verifier.js';

@Global()
@Module({
  imports: [PassportModule, DiscoveryModule],
  providers: [
    TokenVerifier,
    TokenAdmission,
    JwtStrategy,
    SocketAuthenticator,
    RestRateLimits,
    { provide: APP_GUARD, useClass: AccessGuard },
    {
      provide: RevocationStore,
      useFactory: (redis: RedisService) =>
        redis.enabled ? new RedisRevocationStore(redis.client, redis.keyPrefix) : new MemoryRevocationStore(),
      inject: [RedisService],
    },
  ],
  exports: [TokenVerifier, TokenAdmission, SocketAuthenticator, RevocationStore, RestRateLimits],
})
export class AuthModule {}
