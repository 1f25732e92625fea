import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors } from 'jose';
import jwt, { type Algorithm, type JwtPayload, type VerifyOptions } from 'jsonwebtoken';
import { AppConfig, JwtKeySource } from '../config/app-config.js';
import { NodeEnv } from '../config/environment.js';

/** A token that passed every check, reduced to what the rest of the server needs. */
export interface VerifiedToken {
  userId: string;
  sessionId?: string;
  roles: string[];
  /** Epoch milliseconds. */
  expiresAt: number;
  /** Epoch milliseconds. */
  issuedAt?: number;
  claims: Record<string, unknown>;
}

export type TokenVerificationErrorCode = 'AUTH_INVALID' | 'AUTH_EXPIRED';

/**
 * Why a token was refused. The message is safe to show to the client that sent it; `detail`
 * (for the log) may also say what the server expects, which a production server keeps to itself.
 */
export class TokenVerificationError extends Error {
  readonly detail: string;

  constructor(
    readonly code: TokenVerificationErrorCode,
    message: string,
    options?: ErrorOptions & { detail?: string },
  ) {
    super(message, options);
    this.name = 'TokenVerificationError';
    this.detail = options?.detail ?? message;
  }
}

interface TokenHeader {
  alg: string;
  kid?: string;
}

type KeyLookup = (header: TokenHeader) => KeyObject | Promise<KeyObject>;

const HMAC_ALGORITHMS: readonly Algorithm[] = ['HS256', 'HS384', 'HS512'];
const RSA_PSS_ALGORITHMS: readonly Algorithm[] = ['PS256', 'PS384', 'PS512'];
const RSA_ALGORITHMS: readonly Algorithm[] = ['RS256', 'RS384', 'RS512', ...RSA_PSS_ALGORITHMS];
const EC_ALGORITHM_BY_CURVE: Readonly<Record<string, Algorithm>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};
const ASYMMETRIC_ALGORITHMS: readonly Algorithm[] = [
  ...RSA_ALGORITHMS,
  ...Object.values(EC_ALGORITHM_BY_CURVE),
];

/** An unknown `kid` refetches the key set at most this often: how soon a rotated key is seen. */
const JWKS_REFETCH_COOLDOWN_MS = 30_000;
/** Key fetches happen during a handshake; a slow endpoint must not hold connections for long. */
const JWKS_TIMEOUT_MS = 5000;
/** The largest epoch millisecond a JavaScript `Date` can hold (±100,000,000 days). */
export const MAX_DATE_MS = 8.64e15;

/**
 * Verifies access tokens (PROTOCOL §1). Keys, key lookups and verification options are built once
 * here; `verify` runs on every handshake and token refresh.
 */
@Injectable()
export class TokenVerifier {
  private readonly lookUpKey: KeyLookup;
  private readonly allowedAlgorithms: ReadonlySet<string>;
  private readonly verifyOptions: VerifyOptions & { complete?: false };
  private readonly rolesClaim: string;
  /** Whether refusals may say which algorithms, issuer and audience are expected. */
  private readonly revealsExpectations: boolean;

  constructor(config: AppConfig) {
    const { auth } = config;
    const keyAccess = createKeyAccess(auth.key);
    const allowed = auth.algorithms.filter((algorithm) => keyAccess.algorithms.includes(algorithm));
    if (allowed.length === 0) {
      throw new Error(
        `JWT_ALGORITHMS (${auth.algorithms.join(', ')}) holds no algorithm usable with ${keyAccess.description}; ` +
          `usable: ${keyAccess.algorithms.join(', ')}`,
      );
    }
    this.lookUpKey = keyAccess.lookUpKey;
    this.allowedAlgorithms = new Set(allowed);
    this.verifyOptions = {
      algorithms: allowed,
      issuer: auth.issuer,
      audience: auth.audience,
      clockTolerance: auth.clockToleranceS,
      // Expiry is checked in fromClaims, after the claim is known to be a sane time.
      ignoreExpiration: true,
    };
    this.rolesClaim = auth.rolesClaim;
    this.revealsExpectations = config.env !== NodeEnv.Production;
  }

  /** Resolves the token's identity, or rejects with a `TokenVerificationError`. */
  async verify(token: string): Promise<VerifiedToken> {
    const key = await this.keyForToken(token);
    let claims: JwtPayload | string;
    try {
      claims = jwt.verify(token, key, this.verifyOptions);
    } catch (error) {
      throw this.describeLibraryFailure(error);
    }
    if (typeof claims === 'string') throw invalid('Token payload is not a JSON object');
    return this.fromClaims(claims);
  }

  /** The verification key for a token, after its header passed the algorithm allow-list. */
  private async keyForToken(token: string): Promise<KeyObject> {
    const header = readHeader(token);
    this.assertAlgorithmAllowed(header.alg);
    return this.lookUpKey(header);
  }

  /** Applies the claim rules to a signature-checked payload: `exp` and `sub` required, roles, sid. */
  private fromClaims(claims: JwtPayload): VerifiedToken {
    if (claims.exp === undefined) throw invalid('Token has no expiry (exp claim is required)');
    if (typeof claims.exp !== 'number') throw invalid('Token expiry (exp) is not a number');
    for (const claim of ['exp', 'iat', 'nbf'] as const) {
      const seconds = claims[claim];
      if (seconds !== undefined && !isRepresentableTime(seconds)) {
        throw invalid(
          `Token ${claim} claim is not a time between 1970 and the last date a server can represent`,
        );
      }
    }
    const nowS = Math.floor(Date.now() / 1000);
    if (nowS >= claims.exp + (this.verifyOptions.clockTolerance ?? 0)) {
      throw new TokenVerificationError(
        'AUTH_EXPIRED',
        `Token expired at ${new Date(claims.exp * 1000).toISOString()}`,
      );
    }
    if (typeof claims.sub !== 'string' || claims.sub.trim() === '') {
      throw invalid('Token has no subject (sub must be a non-empty string)');
    }
    return {
      userId: claims.sub,
      sessionId: nonEmptyString(claims.sid),
      roles: parseRoles(claims[this.rolesClaim]),
      expiresAt: claims.exp * 1000,
      issuedAt: typeof claims.iat === 'number' ? claims.iat * 1000 : undefined,
      claims,
    };
  }

  private assertAlgorithmAllowed(algorithm: string): void {
    if (algorithm.toLowerCase() === 'none') {
      throw invalid('Unsigned tokens (alg "none") are not accepted');
    }
    if (!this.allowedAlgorithms.has(algorithm)) {
      throw this.invalidAgainstExpectation(
        `Token algorithm ${quoted(algorithm)} is not accepted`,
        `accepted: ${[...this.allowedAlgorithms].join(', ')}`,
      );
    }
  }

  /** A refusal whose reason names what the server expects: said to the client outside production only. */
  private invalidAgainstExpectation(
    message: string,
    expectation: string,
    cause?: unknown,
  ): TokenVerificationError {
    const detail = `${message} (${expectation})`;
    return new TokenVerificationError('AUTH_INVALID', this.revealsExpectations ? detail : message, {
      detail,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  private describeLibraryFailure(error: unknown): TokenVerificationError {
    if (error instanceof jwt.NotBeforeError) {
      return invalid(`Token is not valid before ${error.date.toISOString()}`, error);
    }
    if (!(error instanceof jwt.JsonWebTokenError)) {
      return invalid('Token could not be decoded', error);
    }
    const { message } = error;
    if (message === 'invalid signature') return invalid('Token signature is invalid', error);
    if (message.startsWith('jwt issuer invalid')) {
      return this.invalidAgainstExpectation(
        'Token issuer (iss) is not accepted',
        `expected ${JSON.stringify(this.verifyOptions.issuer)}`,
        error,
      );
    }
    if (message.startsWith('jwt audience invalid')) {
      return this.invalidAgainstExpectation(
        'Token audience (aud) is not accepted',
        `expected ${JSON.stringify(this.verifyOptions.audience)}`,
        error,
      );
    }
    if (message === 'invalid nbf value') return invalid('Token not-before time (nbf) is not a number', error);
    return invalid(`Token is invalid (${message})`, error);
  }
}

/**
 * Reads roles from a claim value: an array of strings, taken exactly as written (`"admin "` is
 * not `admin`), or one string of names separated by spaces or commas. Anything else means no roles.
 */
export function parseRoles(value: unknown): string[] {
  const names =
    typeof value === 'string'
      ? value.split(/[\s,]+/)
      : Array.isArray(value) && value.every((item): item is string => typeof item === 'string')
        ? value
        : [];
  return [...new Set(names.filter((name) => name.length > 0))];
}

function createKeyAccess(source: JwtKeySource): {
  lookUpKey: KeyLookup;
  algorithms: readonly Algorithm[];
  description: string;
} {
  switch (source.kind) {
    case 'secret': {
      const key = createSecretKey(Buffer.from(source.secret, 'utf8'));
      return { lookUpKey: () => key, algorithms: HMAC_ALGORITHMS, description: 'a shared secret' };
    }
    case 'publicKey': {
      const key = parsePublicKey(source.publicKey);
      return { lookUpKey: () => key, algorithms: algorithmsForKey(key), description: describeKey(key) };
    }
    case 'jwks': {
      const keySet = new JwksKeySet(source.jwksUrl, source.cacheMs);
      return {
        lookUpKey: (header) => keySet.keyFor(header),
        algorithms: ASYMMETRIC_ALGORITHMS,
        description: 'keys from a JWKS endpoint',
      };
    }
  }
}

/**
 * The keys of the configured JWKS endpoint, through jose's remote key set: cached for the
 * configured age, refetched when a token names an unknown `kid` (at most once per cooldown,
 * so a stream of forged kids cannot hammer the endpoint). Key locations carried by a token
 * (`jku`, `x5u`, `jwk`) are never used: only `alg` and `kid` leave the header.
 */
class JwksKeySet {
  private readonly getKey: ReturnType<typeof createRemoteJWKSet>;

  constructor(url: string, cacheMs: number) {
    this.getKey = createRemoteJWKSet(new URL(url), {
      cacheMaxAge: cacheMs,
      cooldownDuration: JWKS_REFETCH_COOLDOWN_MS,
      timeoutDuration: JWKS_TIMEOUT_MS,
    });
  }

  async keyFor({ alg, kid }: TokenHeader): Promise<KeyObject> {
    if (kid === undefined) {
      throw invalid('Token has no key id (kid); it is required when keys come from a key set');
    }
    try {
      return KeyObject.from(await this.getKey({ alg, kid }));
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey ||
        error instanceof joseErrors.JWKSMultipleMatchingKeys
      ) {
        throw invalid(
          'Token key id (kid) is not in the trusted key set, or its key does not fit the algorithm',
          error,
        );
      }
      throw invalid('Signing keys are unavailable: the key set endpoint could not be read', error);
    }
  }
}

function parsePublicKey(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (error) {
    throw new Error('JWT_PUBLIC_KEY is not a PEM-encoded public key', { cause: error });
  }
}

function algorithmsForKey(key: KeyObject): readonly Algorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGORITHMS;
    case 'rsa-pss':
      return RSA_PSS_ALGORITHMS;
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const algorithm = curve === undefined ? undefined : EC_ALGORITHM_BY_CURVE[curve];
      return algorithm === undefined ? [] : [algorithm];
    }
    default:
      return [];
  }
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `${key.asymmetricKeyType ?? 'unknown'} public key${curve ? ` on curve ${curve}` : ''}`;
}

function readHeader(token: string): TokenHeader {
  const segments = token.split('.');
  if (segments.length !== 3 || segments[0] === '') {
    throw invalid('Token is malformed (expected three dot-separated parts)');
  }
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(segments[0], 'base64url').toString('utf8'));
  } catch (error) {
    throw invalid('Token header is not valid JSON', error);
  }
  if (!isRecord(header) || typeof header.alg !== 'string') {
    throw invalid('Token header has no algorithm (alg)');
  }
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  return { alg: header.alg, kid };
}

/**
 * A NumericDate (seconds) no earlier than 1970, whose milliseconds a `Date` can hold: beyond
 * that `toISOString` throws, and before it no issuer means a real time.
 */
function isRepresentableTime(seconds: unknown): boolean {
  return (
    typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 && seconds * 1000 <= MAX_DATE_MS
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Token fields are attacker-controlled; keep them short and unambiguous in messages. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

function invalid(message: string, cause?: unknown): TokenVerificationError {
  return new TokenVerificationError('AUTH_INVALID', message, cause === undefined ? undefined : { cause });
}
