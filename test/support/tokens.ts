import { randomUUID } from 'node:crypto';
import jwt, { type SignOptions } from 'jsonwebtoken';
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
