import { randomUUID } from 'node:crypto';
import jwt, { type SignOptions } from 'jsonwebtoken';
import type { Clock } from '../../src/common/clock.js';
import { TEST_SECRET } from './app.js';

export interface TestTokenClaims {
  sub?: string;
  roles?: string[];
  sid?: string;
  [claim: string]: unknown;
}

/** A token signed with the test secret; `expiresIn` in seconds (negative for an expired one). */
export function signToken(
  claims: TestTokenClaims = {},
  expiresInS = 3600,
  options: SignOptions = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign(
    { sub: 'alice', jti: randomUUID(), iat: now, exp: now + expiresInS, ...claims },
    TEST_SECRET,
    {
      algorithm: 'HS256',
      ...options,
    },
  );
}

/**
 * A token as `signToken` makes it, dated by `clock` instead of the system time: the one to hand an
 * app whose `TestClock` was set forward, which would find a token dated by the system time expired.
 */
export function signTokenAt(clock: Clock, claims: TestTokenClaims = {}, expiresInS = 3600): string {
  const now = Math.floor(clock.now() / 1000);
  return signToken({ iat: now, exp: now + expiresInS, ...claims });
}
