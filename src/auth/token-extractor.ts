import type { IncomingHttpHeaders } from 'node:http';
import type { ParsedUrlQuery } from 'node:querystring';
import { parseCookie } from 'cookie';

const TOKEN_QUERY_PARAMETER = 'token';
const TOKEN_COOKIE = 'authToken';

const BEARER = /^Bearer +(\S+) *$/i;

interface TokenCandidates {
  socketAuthToken?: unknown;
  headers: IncomingHttpHeaders;
  queryToken: unknown;
}

/**
 * The token of a Socket.IO handshake (docs/protocol.md, Authentication), first found wins: `auth.token`,
 * `Authorization: Bearer`, query `token`, cookie `authToken`.
 */
export function extractHandshakeToken(handshake: {
  auth?: Record<string, unknown>;
  headers: IncomingHttpHeaders;
  query: ParsedUrlQuery | Record<string, unknown>;
}): string | null {
  return firstToken({
    socketAuthToken: handshake.auth?.token,
    headers: handshake.headers,
    queryToken: handshake.query[TOKEN_QUERY_PARAMETER],
  });
}

/**
 * The token of an HTTP request or WebSocket upgrade, first found wins: `Authorization: Bearer`,
 * query `token` (from the parsed `query`, else from `url`), cookie `authToken`.
 */
export function extractRequestToken(request: {
  headers: IncomingHttpHeaders;
  query?: unknown;
  url?: string;
}): string | null {
  return firstToken({
    headers: request.headers,
    queryToken:
      request.query === undefined ? queryTokenFromUrl(request.url) : queryTokenFromObject(request.query),
  });
}

function firstToken({ socketAuthToken, headers, queryToken }: TokenCandidates): string | null {
  return (
    usableToken(socketAuthToken) ??
    bearerToken(headers.authorization) ??
    usableToken(queryToken) ??
    cookieToken(headers.cookie) ??
    null
  );
}

function bearerToken(authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
}

function cookieToken(cookieHeader: string | undefined): string | undefined {
  return cookieHeader === undefined ? undefined : usableToken(parseCookie(cookieHeader)[TOKEN_COOKIE]);
}

/** A repeated `token` parameter is ambiguous and counts as none. */
function queryTokenFromUrl(url: string | undefined): string | undefined {
  const queryStart = url?.indexOf('?') ?? -1;
  if (url === undefined || queryStart < 0) return undefined;
  const values = new URLSearchParams(url.slice(queryStart + 1)).getAll(TOKEN_QUERY_PARAMETER);
  return values.length === 1 ? values[0] : undefined;
}

function queryTokenFromObject(query: unknown): unknown {
  return typeof query === 'object' && query !== null && TOKEN_QUERY_PARAMETER in query
    ? query[TOKEN_QUERY_PARAMETER]
    : undefined;
}

function usableToken(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const token = value.trim();
  return token.length > 0 ? token : undefined;
}
