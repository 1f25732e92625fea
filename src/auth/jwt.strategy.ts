import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport';
import { AppError } from '../common/errors.js';
import type { Principal } from './principal.js';
import { AuthenticationFailure, TokenAdmission } from './token-admission.js';
import { extractRequestToken } from './token-extractor.js';

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
 * handshake, so a token gets the same verdict on both doors: a refusal is `UNAUTHORIZED` with
 * the handshake's code in `details.code` and its message, as `auth:refresh` answers it.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(RequestTokenStrategy, 'jwt') {
  constructor(private readonly admission: TokenAdmission) {
    super();
  }

  async validate(request: Request): Promise<Principal> {
    const rawToken = extractRequestToken(request);
    if (!rawToken) {
      throw AppError.unauthenticated(
        'AUTH_MISSING',
        'No token: send it as a Bearer header, ?token= or the authToken cookie',
      );
    }
    try {
      const { verified, fingerprint } = await this.admission.admit(rawToken);
      return {
        userId: verified.userId,
        sessionId: verified.sessionId,
        roles: verified.roles,
        expiresAt: verified.expiresAt,
        tokenFingerprint: fingerprint,
        claims: verified.claims,
      };
    } catch (error) {
      if (error instanceof AuthenticationFailure) throw AppError.unauthenticated(error.code, error.message);
      throw error;
    }
  }
}
