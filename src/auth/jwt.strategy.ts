import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport';
import { AppError } from '../common/errors.js';
import type { Principal } from './principal.js';
import { RevocationStore, tokenFingerprint } from './revocation.store.js';
import { extractRequestToken } from './token-extractor.js';
import { TokenVerificationError, TokenVerifier } from './token-verifier.js';

type Done = (error: unknown, principal?: Principal | false) => void;

/** A Passport strategy that hands the whole request to its verify callback and trusts its verdict. */
class RequestTokenStrategy extends Strategy {
  constructor(private readonly verifyRequest: (request: Request, done: Done) => void) {
    super();
  }

  override authenticate(request: Request): void {
    this.verifyRequest(request, (error, principal) => {
      if (error) this.error(error);
      else if (principal) this.success(principal);
      else this.fail(401);
    });
  }
}

/**
 * HTTP authentication, registered with `@nestjs/passport`: the token (Bearer header, `?token=`
 * or the `authToken` cookie) goes to the same `TokenVerifier` and revocation check as a socket
 * handshake, so a token gets the same verdict and the same code on both doors.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(RequestTokenStrategy, 'jwt') {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly revocations: RevocationStore,
  ) {
    super();
  }

  async validate(request: Request): Promise<Principal> {
    const rawToken = extractRequestToken(request);
    if (!rawToken) throw AppError.unauthorized('AUTH_MISSING: no token');
    try {
      const token = await this.verifier.verify(rawToken);
      const revoked = await this.revocations.isRevoked({
        sessionId: token.sessionId,
        tokenFingerprints: [tokenFingerprint(rawToken)],
      });
      if (revoked) throw AppError.unauthorized('AUTH_REVOKED: this session was revoked');
      return {
        userId: token.userId,
        sessionId: token.sessionId,
        roles: token.roles,
        expiresAt: token.expiresAt,
      };
    } catch (error) {
      if (error instanceof TokenVerificationError)
        throw AppError.unauthorized(`${error.code}: ${error.message}`);
      throw error;
    }
  }
}
