import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors } from 'jose';
import jwt from 'jsonwebtoken';
import { Clock, systemClock } from '../common/clock.js';
import { AppConfig, JwtKeySource } from '../config/app-config.js';
import { NodeEnv } from '../config/environment.js';
import { errorMessage } from '../common/failure-log.js';

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

/** The claims as the token carries them, before any rule is applied. */
type Claims = Record<string, unknown>;

type KeyLookup = (header: TokenHeader) => KeyObject | Promise<KeyObject>;

const HMAC_ALGORITHMS: readonly string[] = ['HS256', 'HS384', 'HS512'];
const RSA_ALGORITHMS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGORITHM_BY_CURVE: Readonly<Record<string, string>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};
const ASYMMETRIC_ALGORITHMS: readonly string[] = [...RSA_ALGORITHMS, ...Object.values(EC_ALGORITHM_BY_CURVE)];
/** RS and PS signatures with a shorter modulus are too weak to trust (jsonwebtoken refuses them too). */
const MIN_RSA_MODULUS_BITS = 2048;

/** An unknown `kid` refetches the key set at most this often: how soon a rotated key is seen. */
const JWKS_REFETCH_COOLDOWN_MS = 30_000;
/** Key fetches happen during a handshake; a slow endpoint must not hold connections for long. */
const JWKS_TIMEOUT_MS = 5000;
/** The largest epoch millisecond a JavaScript `Date` can hold (±100,000,000 days). */
export const MAX_DATE_MS = 8.64e15;

/**
 * Verifies access tokens (docs/protocol.md, Authentication). Keys, key lookups and verification options are built once
 * here; `verify` runs on every handshake, token refresh and authenticated HTTP request.
 *
 * The token's shape, header and algorithm are checked here first, so that the one thing left to
 * jsonwebtoken is the signature: any of its errors means the signature does not hold. The
 * claims are then checked here, in order: times a `Date` can hold, `iss`, `aud`, `nbf` and `exp`
 * against the injected clock, `sub`. (jose, which fetches the JWKS keys, verifies through Web
 * Crypto at about ten times jsonwebtoken's cost, on every handshake and request.)
 */
@Injectable()
export class TokenVerifier {
  private readonly lookUpKey: KeyLookup;
  private readonly allowedAlgorithms: ReadonlySet<string>;
  private readonly clockToleranceS: number;
  private readonly issuer?: string;
  private readonly audience?: string;
  private readonly rolesClaim: string;
  /** Whether refusals may say which algorithms, issuer and audience are expected. */
  private readonly revealsExpectations: boolean;

  constructor(
    config: AppConfig,
    private readonly clock: Clock = systemClock,
  ) {
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
    this.clockToleranceS = auth.clockToleranceS;
    this.issuer = auth.issuer;
    this.audience = auth.audience;
    this.rolesClaim = auth.rolesClaim;
    this.revealsExpectations = config.env !== NodeEnv.Production;
  }

  /** Resolves the token's identity, or rejects with a `TokenVerificationError`. */
  async verify(token: string): Promise<VerifiedToken> {
    const { header, claims } = readParts(token);
    // Before any key is looked up: a refused algorithm never costs a key set fetch.
    this.assertAlgorithmAllowed(header.alg);
    const key = await this.lookUpKey(header);
    assertUsableKey(key);
    try {
      jwt.verify(token, key, {
        algorithms: [header.alg as jwt.Algorithm],
        ignoreExpiration: true,
        ignoreNotBefore: true,
      });
    } catch (error) {
      if (error instanceof jwt.JsonWebTokenError) throw invalid('Token signature is invalid', error);
      throw unverifiable(error);
    }
    return this.fromClaims(claims);
  }

  /** The claim rules, on claims whose signature holds. */
  private fromClaims(claims: Claims): VerifiedToken {
    const absurd = unrepresentableTime(claims);
    if (absurd !== undefined) throw invalid(absurd);
    const { exp, nbf, iat, sub } = claims;
    if (exp === undefined) throw invalid('Token has no expiry (exp claim is required)');
    if (typeof exp !== 'number') throw invalid('Token expiry (exp) is not a number');
    if (nbf !== undefined && typeof nbf !== 'number')
      throw invalid('Token not-before time (nbf) is not a number');
    if (iat !== undefined && typeof iat !== 'number') throw invalid('Token issue time (iat) is not a number');
    this.checkIssuerAndAudience(claims);
    const nowS = this.clock.now() / 1000;
    if (nbf !== undefined && nbf > nowS + this.clockToleranceS) {
      throw invalid(`Token is not valid before ${isoTime(nbf)}`);
    }
    if (nowS >= exp + this.clockToleranceS) {
      throw new TokenVerificationError('AUTH_EXPIRED', `Token expired at ${isoTime(exp)}`);
    }
    if (typeof sub !== 'string' || sub.trim() === '') {
      throw invalid('Token has no subject (sub must be a non-empty string)');
    }
    return {
      userId: sub,
      sessionId: nonEmptyString(claims.sid),
      roles: parseRoles(claims[this.rolesClaim]),
      expiresAt: exp * 1000,
      issuedAt: iat === undefined ? undefined : iat * 1000,
      claims,
    };
  }

  private checkIssuerAndAudience({ iss, aud }: Claims): void {
    if (this.issuer !== undefined && iss !== this.issuer) {
      throw this.invalidAgainstExpectation(
        'Token issuer (iss) is not accepted',
        `expected ${JSON.stringify(this.issuer)}`,
      );
    }
    const audiences: unknown[] = Array.isArray(aud) ? aud : [aud];
    if (this.audience !== undefined && !audiences.includes(this.audience)) {
      throw this.invalidAgainstExpectation(
        'Token audience (aud) is not accepted',
        `expected ${JSON.stringify(this.audience)}`,
      );
    }
  }

  private assertAlgorithmAllowed(algorithm: string): void {
    if (algorithm.toLowerCase() === 'none') {
      throw invalid('Unsigned tokens (alg "none") are not accepted');
    }
    if (!this.allowedAlgorithms.has(algorithm)) throw this.algorithmNotAccepted(algorithm);
  }

  private algorithmNotAccepted(algorithm: string): TokenVerificationError {
    return this.invalidAgainstExpectation(
      `Token algorithm ${quoted(algorithm)} is not accepted`,
      `accepted: ${[...this.allowedAlgorithms].join(', ')}`,
    );
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
  algorithms: readonly string[];
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

/**
 * The configured public key, refused at start when it cannot serve: an RSA modulus under 2048
 * bits, or an RSASSA-PSS-only key (id-RSASSA-PSS), which key sets cannot carry either.
 * PS256/384/512 verify with the same key given as a plain RSA public key.
 */
function parsePublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new Error('JWT_PUBLIC_KEY is not a PEM-encoded public key', { cause: error });
  }
  if (key.asymmetricKeyType === 'rsa-pss') {
    throw new Error(
      'JWT_PUBLIC_KEY is an RSASSA-PSS key (id-RSASSA-PSS), which cannot be used here; ' +
        'export it as a plain RSA public key (rsaEncryption): PS256, PS384 and PS512 verify with that too',
    );
  }
  const modulusBits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType === 'rsa' && (modulusBits ?? 0) < MIN_RSA_MODULUS_BITS) {
    throw new Error(
      `JWT_PUBLIC_KEY is a ${modulusBits ?? 'unknown'}-bit RSA key; at least ${MIN_RSA_MODULUS_BITS} bits are required`,
    );
  }
  return key;
}

function algorithmsForKey(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGORITHMS;
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

/**
 * The header and claims of a compact JWS, checked for shape before anything else reads them: three
 * parts, a JSON header naming its algorithm and no critical extension (none is supported), and a
 * JSON object of claims.
 */
function readParts(token: string): { header: TokenHeader; claims: Claims } {
  const segments = token.split('.');
  const [encodedHeader, encodedClaims] = segments;
  if (segments.length !== 3 || !encodedHeader || encodedClaims === undefined) {
    throw invalid('Token is malformed (expected three dot-separated parts)');
  }
  const header = decodeJson(encodedHeader);
  if (header === undefined) throw invalid('Token header is not valid JSON');
  if (!isRecord(header) || typeof header.alg !== 'string') {
    throw invalid('Token header has no algorithm (alg)');
  }
  if (header.crit !== undefined) {
    throw invalid('Token uses a header parameter or key the server does not support');
  }
  const claims = decodeJson(encodedClaims);
  if (!isRecord(claims)) throw invalid('Token payload is not a JSON object');
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  return { header: { alg: header.alg, kid }, claims };
}

function decodeJson(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** A key from the key set too weak to verify with: nothing the client can fix, so the log says why. */
function assertUsableKey(key: KeyObject): void {
  const modulusBits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType === 'rsa' && (modulusBits ?? 0) < MIN_RSA_MODULUS_BITS) {
    throw unverifiable(
      new Error(
        `a ${modulusBits ?? 'unknown'}-bit RSA key; at least ${MIN_RSA_MODULUS_BITS} bits are required`,
      ),
    );
  }
}

function unverifiable(error: unknown): TokenVerificationError {
  return new TokenVerificationError('AUTH_INVALID', 'Token could not be verified', {
    cause: error,
    detail: `Token could not be verified: ${errorMessage(error)}`,
  });
}

/**
 * Why a numeric `exp`, `iat` or `nbf` is no real time, if one is not: before 1970, or past the
 * last millisecond a `Date` can hold (beyond which `toISOString` throws). Claims that are not
 * numbers are refused after this, as such.
 */
function unrepresentableTime(claims: Claims): string | undefined {
  for (const claim of ['exp', 'iat', 'nbf'] as const) {
    const seconds: unknown = claims[claim];
    if (typeof seconds === 'number' && !(seconds >= 0 && seconds * 1000 <= MAX_DATE_MS)) {
      return `Token ${claim} claim is not a time between 1970 and the last date a server can represent`;
    }
  }
  return undefined;
}

/** A NumericDate already known to be representable, as an ISO time. */
function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
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
