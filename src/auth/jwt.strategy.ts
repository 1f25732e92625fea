import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import type { JwtPayload } from 'jsonwebtoken';
import { Strategy } from 'passport-jwt';
import type { Principal } from './principal.js';
import { RevocationStore, tokenFingerprint } from './revocation.store.js';
import { extractRequestToken } from './token-extractor.js';
import { TokenVerificationError, TokenVerifier } from './token-verifier.js';
import { AppError } from '../realtime/errors.js';

/**
 * HTTP authentication through passport-jwt, with the same key lookup, algorithm allow-list
 * and claim rules as the socket handshake (all from `TokenVerifier`).
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly revocations: RevocationStore,
  ) {
    super({
      jwtFromRequest: (request: Request) => extractRequestToken(request),
      secretOrKeyProvider: (
        _request: Request,
        rawToken: string,
        done: (error: unknown, key?: string) => void,
      ) => {
        verifier.keyForToken(rawToken).then(
          // jsonwebtoken accepts KeyObjects; passport-jwt's types only name strings and buffers.
          (key) => done(null, key as unknown as string),
          (error: unknown) =>
            done(error instanceof TokenVerificationError ? AppError.unauthorized(error.message) : error),
        );
      },
      algorithms: verifier.jwtOptions.algorithms,
      issuer: verifier.jwtOptions.issuer,
      audience: verifier.jwtOptions.audience as string | undefined,
      jsonWebTokenOptions: { clockTolerance: verifier.jwtOptions.clockTolerance },
      passReqToCallback: true,
    });
  }

  async validate(request: Request, claims: JwtPayload): Promise<Principal> {
    try {
      const token = this.verifier.fromClaims(claims);
      const rawToken = extractRequestToken(request) ?? '';
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
