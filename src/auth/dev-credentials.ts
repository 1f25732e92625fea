import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/app-config.js';
import { MAX_DATE_MS } from './token-verifier.js';

const SECRET_FILE = 'dev-jwt-secret';
const SECRET_BYTES = 48;
const DEFAULT_TTL = '1h';
const DEMO_TTL = '24h';
const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

export interface TokenRequest {
  sub: string;
  roles?: string[];
  sid?: string;
  /** Seconds, or a duration such as `'15m'`, `'1h'`, `'7d'`. */
  ttl?: string | number;
}

/**
 * The HS256 secret of a development server without a configured key: read from
 * `<dataDir>/dev-jwt-secret`, created there (mode 0600) on first use.
 */
export function loadOrCreateDevelopmentSecret(dataDir: string): string {
  const path = join(dataDir, SECRET_FILE);
  try {
    return readSecret(path);
  } catch (error) {
    if (!isFileError(error, 'ENOENT')) throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  // Written aside and linked into place: instances starting together on one data directory all
  // end up with the secret of whichever linked first, never with a half-written file.
  const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, `${secret}\n`, { mode: 0o600 });
  try {
    linkSync(draft, path);
    return secret;
  } catch (error) {
    if (!isFileError(error, 'EEXIST')) throw error;
    return readSecret(path);
  } finally {
    unlinkSync(draft);
  }
}

/** Signs a token the server accepts; only possible when the server verifies with a shared secret. */
export function mintToken(config: AppConfig, request: TokenRequest): string {
  const { key, algorithms, rolesClaim, issuer, audience } = config.auth;
  if (key.kind !== 'secret') {
    const source = key.kind === 'jwks' ? 'a JWKS endpoint (JWT_JWKS_URL)' : 'a public key (JWT_PUBLIC_KEY)';
    throw new Error(
      `Cannot mint tokens: the server verifies tokens with ${source}; get tokens from the identity provider that holds the private key`,
    );
  }
  const algorithm = algorithms.find((candidate) => candidate.startsWith('HS'));
  if (algorithm === undefined) {
    throw new Error(`Cannot mint tokens: JWT_ALGORITHMS (${algorithms.join(', ')}) has no HS algorithm`);
  }
  if (request.sub.trim() === '') throw new Error('sub must be a non-empty user id');
  const claims: Record<string, unknown> = {};
  if (request.roles !== undefined) claims[rolesClaim] = request.roles;
  if (request.sid !== undefined && request.sid !== '') claims.sid = request.sid;
  const signer = new JwtService({ secret: key.secret, signOptions: { algorithm } });
  return signer.sign(claims, {
    subject: request.sub,
    expiresIn: ttlSeconds(request.ttl ?? DEFAULT_TTL),
    ...(issuer === undefined ? {} : { issuer }),
    ...(audience === undefined ? {} : { audience }),
  });
}

/** Start-up text for a development server: ready tokens and how to use them. */
export function demoTokenBanner(config: AppConfig): string {
  const userToken = mintToken(config, { sub: 'demo-user', ttl: DEMO_TTL });
  const adminToken = mintToken(config, { sub: 'demo-admin', roles: ['admin'], ttl: DEMO_TTL });
  const { key } = config.auth;
  const signer =
    key.kind === 'secret' && key.generated
      ? `the development secret in ${join(config.server.dataDir, SECRET_FILE)}`
      : 'JWT_SECRET';
  return [
    `Development tokens, valid for ${DEMO_TTL}, signed with ${signer}:`,
    `  demo-user             ${userToken}`,
    `  demo-admin (admin)    ${adminToken}`,
    `Connect: io('${serverUrl(config)}', { auth: { token: '${userToken}' } })`,
    'More: npm run token -- --sub alice --roles admin --ttl 1h',
  ].join('\n');
}

function ttlSeconds(ttl: string | number): number {
  const seconds = typeof ttl === 'number' ? ttl : durationSeconds(ttl);
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new Error(
      `Invalid ttl ${JSON.stringify(ttl)}: use whole seconds or a duration such as 15m, 1h, 7d`,
    );
  }
  if (Date.now() + seconds * 1000 > MAX_DATE_MS) {
    throw new Error(
      `Invalid ttl ${JSON.stringify(ttl)}: the expiry would be past the last date a server can represent`,
    );
  }
  return seconds;
}

function durationSeconds(duration: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(duration.trim());
  if (!match) return NaN;
  const [, amount, unit] = match;
  const perUnit = SECONDS_PER_UNIT[unit || 's'];
  return perUnit === undefined ? NaN : Number(amount) * perUnit;
}

function serverUrl(config: AppConfig): string {
  const { host, port } = config.server;
  const reachableHost =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${reachableHost}:${port}`;
}

function readSecret(path: string): string {
  const secret = readFileSync(path, 'utf8').trim();
  if (secret === '') throw new Error(`${path} is empty; delete it to have a new development secret created`);
  return secret;
}

function isFileError(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}
