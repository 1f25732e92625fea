import type { DestinationStream } from 'pino';

export const REDACTED = '[Redacted]';

/**
 * Query parameters, cookies and `key=value` pairs whose value is a credential. `token` is how
 * clients send a JWT in a URL (`?token=`), `authToken` the cookie that carries one.
 */
const SECRET_NAMES = [
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'authToken',
  'auth_token',
  'jwt',
  'password',
  'secret',
  'api_key',
  'apikey',
];

const SECRET_NAME_SET = new Set(SECRET_NAMES.map((name) => name.toLowerCase()));

/**
 * Object paths pino censors in whatever a log line carries: headers that hold credentials (the
 * request serializer does not log headers at all; these catch anything logged by hand), and
 * fields named like a credential, at the top level and one level down.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["set-cookie"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'authorization',
  'cookie',
  'auth.token',
  'handshake.auth.token',
  'handshake.headers.authorization',
  'handshake.headers.cookie',
  ...['token', 'authToken', 'accessToken', 'refreshToken', 'password', 'secret'].flatMap((name) => [
    name,
    `*.${name}`,
  ]),
];

/**
 * What a credential looks like in free text: a JWT (three base64url parts, the first one `{"`
 * encoded), a Bearer credential, and a `name=value` pair named like a credential (a URL's query,
 * a cookie header). The value patterns stop at quotes and backslashes, so that scrubbing a JSON
 * line leaves it valid JSON.
 */
const JWT = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer\s+)[^\s"'\\,;]+/gi;
const SECRET_PAIR = new RegExp(`(?<![A-Za-z0-9_])((?:${SECRET_NAMES.join('|')})=)[^&;\\s"'\\\\]+`, 'gi');
const SECRET_JSON_FIELD = new RegExp(
  `(\\\\?"(?:${SECRET_NAMES.join('|')})\\\\?"\\s*:\\s*\\\\?")[^"\\\\]+`,
  'gi',
);

/** The text with every credential it seems to hold replaced by `[Redacted]`. */
export function scrubText(text: string): string {
  return text
    .replace(JWT, REDACTED)
    .replace(BEARER, `$1${REDACTED}`)
    .replace(SECRET_PAIR, `$1${REDACTED}`)
    .replace(SECRET_JSON_FIELD, `$1${REDACTED}`);
}

/**
 * A request target as logged: the path, and the query with the value of every parameter named
 * like a credential replaced (`/api/me?token=[Redacted]&page=2`).
 */
export function scrubUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return scrubText(url);
  const path = url.slice(0, queryStart);
  const query = url
    .slice(queryStart + 1)
    .split('&')
    .map((pair) => {
      const separator = pair.indexOf('=');
      if (separator < 0) return pair;
      const name = safeDecode(pair.slice(0, separator)).toLowerCase();
      return SECRET_NAME_SET.has(name) ? `${pair.slice(0, separator)}=${REDACTED}` : pair;
    })
    .join('&');
  return scrubText(`${path}?${query}`);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The last guard before a line leaves the process: every line pino writes is scrubbed as text,
 * whatever put the credential there (a message, an error's stack, a field nobody thought of).
 */
export function scrubbingDestination(destination: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      destination.write(scrubText(line));
    },
  };
}
