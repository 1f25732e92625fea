import { createPublicKey, createSecretKey, type JsonWebKey, KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import jwt, { type Algorithm, type JwtPayload, type VerifyOptions } from 'jsonwebtoken';
import { AppConfig, JwtKeySource } from '../config/app-config.js';

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

/** Why a token was refused; the message is safe to show to the client that sent it. */
export class TokenVerificationError extends Error {
  constructor(
    readonly code: TokenVerificationErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TokenVerificationError';
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

/** Each token naming an unknown `kid` may cause a refetch; forged kids must not become a request each. */
const JWKS_REFETCHES_PER_MINUTE = 10;
/** Key fetches happen during a handshake; a slow endpoint must not hold connections for long. */
const JWKS_TIMEOUT_MS = 5000;

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
    };
    this.rolesClaim = auth.rolesClaim;
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

  /**
   * The verification key for a token, after its header passed the algorithm allow-list. With
   * `jwtOptions` and `fromClaims` it lets passport-jwt apply exactly the rules of `verify`.
   */
  async keyForToken(token: string): Promise<KeyObject> {
    const header = readHeader(token);
    this.assertAlgorithmAllowed(header.alg);
    return this.lookUpKey(header);
  }

  /** Options for jsonwebtoken's verification: algorithms, issuer, audience, clock tolerance. */
  get jwtOptions(): Readonly<VerifyOptions> {
    return this.verifyOptions;
  }

  /** Applies the claim rules to a signature-checked payload: `exp` and `sub` required, roles, sid. */
  fromClaims(claims: JwtPayload): VerifiedToken {
    if (typeof claims.exp !== 'number') throw invalid('Token has no expiry (exp claim is required)');
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
      throw invalid(
        `Token algorithm ${quoted(algorithm)} is not accepted (accepted: ${[...this.allowedAlgorithms].join(', ')})`,
      );
    }
  }

  private describeLibraryFailure(error: unknown): TokenVerificationError {
    if (error instanceof jwt.TokenExpiredError) {
      return new TokenVerificationError('AUTH_EXPIRED', `Token expired at ${error.expiredAt.toISOString()}`, {
        cause: error,
      });
    }
    if (error instanceof jwt.NotBeforeError) {
      return invalid(`Token is not valid before ${error.date.toISOString()}`, error);
    }
    if (!(error instanceof jwt.JsonWebTokenError)) {
      return invalid('Token could not be decoded', error);
    }
    const { message } = error;
    if (message === 'invalid signature') return invalid('Token signature is invalid', error);
    if (message.startsWith('jwt issuer invalid')) {
      return invalid(`Token issuer (iss) is not ${JSON.stringify(this.verifyOptions.issuer)}`, error);
    }
    if (message.startsWith('jwt audience invalid')) {
      return invalid(
        `Token audience (aud) does not include ${JSON.stringify(this.verifyOptions.audience)}`,
        error,
      );
    }
    if (message === 'invalid exp value') return invalid('Token expiry (exp) is not a number', error);
    if (message === 'invalid nbf value') return invalid('Token not-before time (nbf) is not a number', error);
    return invalid(`Token is invalid (${message})`, error);
  }
}

/**
 * Reads roles from a claim value: an array of strings, or one string of names separated by spaces
 * or commas. Anything else means no roles.
 */
export function parseRoles(value: unknown): string[] {
  const names =
    typeof value === 'string'
      ? value.split(/[\s,]+/)
      : Array.isArray(value) && value.every((item): item is string => typeof item === 'string')
        ? value.map((item) => item.trim())
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

interface KeySetEntry {
  key: KeyObject;
  /** The `alg` the key set declares for this key, if any. */
  algorithm?: string;
}

/**
 * The keys of the configured JWKS endpoint, by `kid`: fetched on first use, again when the cache
 * age has passed, and again (rate limited) when a token names a `kid` the cached set lacks, which
 * is how rotated keys arrive. Key locations carried by a token (`jku`, `x5u`, `jwk`) are never used.
 */
class JwksKeySet {
  private keys: ReadonlyMap<string, KeySetEntry> = new Map();
  private expiresAt = 0;
  private pendingFetch?: Promise<void>;
  private recentRefetches: number[] = [];

  constructor(
    private readonly url: string,
    private readonly cacheMs: number,
  ) {}

  async keyFor({ alg, kid }: TokenHeader): Promise<KeyObject> {
    if (kid === undefined) {
      throw invalid('Token has no key id (kid); it is required when keys come from a key set');
    }
    const expired = Date.now() >= this.expiresAt;
    if (expired) await this.fetchKeys();
    if (!expired && !this.keys.has(kid)) await this.refetchForUnknownKid();
    const entry = this.keys.get(kid);
    if (entry === undefined) throw invalid('Token key id (kid) is not in the trusted key set');
    if (entry.algorithm !== undefined && entry.algorithm !== alg) {
      throw invalid(
        `Token algorithm ${quoted(alg)} differs from the algorithm of its key (${entry.algorithm})`,
      );
    }
    if (!algorithmsForKey(entry.key).some((algorithm) => algorithm === alg)) {
      throw invalid(`Token algorithm ${quoted(alg)} does not fit its key (${describeKey(entry.key)})`);
    }
    return entry.key;
  }

  /** Rate limited on its own, so that known keys keep working while forged kids are refused. */
  private async refetchForUnknownKid(): Promise<void> {
    if (this.pendingFetch === undefined) {
      const now = Date.now();
      this.recentRefetches = this.recentRefetches.filter((startedAt) => startedAt > now - 60_000);
      if (this.recentRefetches.length >= JWKS_REFETCHES_PER_MINUTE) {
        throw invalid(
          'Token key id (kid) is not among the known keys, and the key set was refetched too often to look again now',
        );
      }
      this.recentRefetches.push(now);
    }
    await this.fetchKeys();
  }

  private fetchKeys(): Promise<void> {
    this.pendingFetch ??= this.downloadKeys().finally(() => {
      this.pendingFetch = undefined;
    });
    return this.pendingFetch;
  }

  private async downloadKeys(): Promise<void> {
    let keys: Map<string, KeySetEntry>;
    try {
      const response = await fetch(this.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status} from the key set endpoint`);
      keys = parseKeySet(await response.json());
    } catch (error) {
      throw invalid('Signing keys are unavailable: the key set endpoint could not be read', error);
    }
    this.keys = keys;
    this.expiresAt = Date.now() + this.cacheMs;
  }
}

/** Signing keys of a JWK Set (RFC 7517) that carry a `kid`; other entries are skipped. */
function parseKeySet(body: unknown): Map<string, KeySetEntry> {
  if (!isRecord(body) || !Array.isArray(body.keys)) throw new Error('The key set has no "keys" list');
  const keys = new Map<string, KeySetEntry>();
  for (const jwk of body.keys) {
    if (!isRecord(jwk) || typeof jwk.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) {
      continue;
    }
    const key = publicKeyFromJwk(jwk);
    if (key !== undefined) {
      keys.set(jwk.kid, { key, algorithm: typeof jwk.alg === 'string' ? jwk.alg : undefined });
    }
  }
  return keys;
}

function publicKeyFromJwk(jwk: Record<string, unknown>): KeyObject | undefined {
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
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
