import { Injectable } from '@nestjs/common';
import type { AuthFailureCode } from '../common/error-codes.js';
import { FailureLog } from '../common/failure-log.js';
import { RevocationStore, tokenFingerprint } from './revocation.store.js';
import { TokenVerificationError, TokenVerifier, type VerifiedToken } from './token-verifier.js';

/** A token that passed verification and the revocation check. */
export interface AdmittedToken<Session extends string | undefined = string | undefined> {
  verified: VerifiedToken;
  /** The token's `sid`, else the fallback the door gave (a socket's connection id). */
  sessionId: Session;
  fingerprint: string;
}

/** Why a token was not admitted: the same code and message on every door. */
export class AuthenticationFailure extends Error {
  constructor(
    readonly code: AuthFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'AuthenticationFailure';
  }
}

/**
 * The one decision on a token, for a handshake, an `auth:refresh` and an HTTP request alike:
 * signature and claims (`TokenVerifier`), then revocation of its session or of the token
 * itself. A refusal's detail that the client is not told (production) goes to the log.
 */
@Injectable()
export class TokenAdmission {
  private readonly refusals = new FailureLog(TokenAdmission.name);

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly revocations: RevocationStore,
  ) {}

  admit(token: string, sessionFallback: string): Promise<AdmittedToken<string>>;
  admit(token: string): Promise<AdmittedToken>;
  async admit(token: string, sessionFallback?: string): Promise<AdmittedToken> {
    let verified: VerifiedToken;
    try {
      verified = await this.verifier.verify(token);
    } catch (error) {
      if (!(error instanceof TokenVerificationError)) throw error;
      if (error.detail !== error.message) this.refusals.warn(`Token refused: ${error.detail}`);
      throw new AuthenticationFailure(error.code, error.message);
    }
    const sessionId = verified.sessionId ?? sessionFallback;
    const fingerprint = tokenFingerprint(token);
    if (await this.revocations.isRevoked({ sessionId, tokenFingerprints: [fingerprint] })) {
      throw new AuthenticationFailure('AUTH_REVOKED', 'This session was revoked');
    }
    return { verified, sessionId, fingerprint };
  }
}
