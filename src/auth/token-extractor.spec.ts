import type { IncomingHttpHeaders } from 'node:http';
import { extractHandshakeToken, extractRequestToken } from './token-extractor.js';

function handshake(
  parts: {
    auth?: Record<string, unknown>;
    headers?: IncomingHttpHeaders;
    query?: Record<string, unknown>;
  } = {},
) {
  return { auth: parts.auth, headers: parts.headers ?? {}, query: parts.query ?? {} };
}

describe('extractHandshakeToken', () => {
  const everySource = handshake({
    auth: { token: 'from-auth' },
    headers: { authorization: 'Bearer from-header', cookie: 'theme=dark; authToken=from-cookie' },
    query: { token: 'from-query' },
  });

  it('reads each source on its own', () => {
    expect(extractHandshakeToken(handshake({ auth: { token: 'from-auth' } }))).toBe('from-auth');
    expect(extractHandshakeToken(handshake({ headers: { authorization: 'Bearer from-header' } }))).toBe(
      'from-header',
    );
    expect(extractHandshakeToken(handshake({ query: { token: 'from-query', EIO: '4' } }))).toBe('from-query');
    expect(extractHandshakeToken(handshake({ headers: { cookie: 'a=1; authToken=from-cookie; b=2' } }))).toBe(
      'from-cookie',
    );
  });

  it('takes the first source found: auth.token, then the header, then the query, then the cookie', () => {
    expect(extractHandshakeToken(everySource)).toBe('from-auth');
    expect(extractHandshakeToken({ ...everySource, auth: {} })).toBe('from-header');
    expect(
      extractHandshakeToken({ ...everySource, auth: {}, headers: { cookie: 'authToken=from-cookie' } }),
    ).toBe('from-query');
    expect(
      extractHandshakeToken({
        ...everySource,
        auth: {},
        headers: { cookie: 'authToken=from-cookie' },
        query: {},
      }),
    ).toBe('from-cookie');
  });

  it.each([
    ['an empty auth.token', { auth: { token: '' } }],
    ['a blank auth.token', { auth: { token: '   ' } }],
    ['a numeric auth.token', { auth: { token: 42 } }],
    ['an object auth.token', { auth: { token: { value: 'x' } } }],
    ['another authorization scheme', { headers: { authorization: 'Basic dXNlcjpwYXNz' } }],
    ['a bearer header without a token', { headers: { authorization: 'Bearer ' } }],
    ['an empty query token', { query: { token: '' } }],
    ['a repeated query token', { query: { token: ['one', 'two'] } }],
    ['an empty cookie', { headers: { cookie: 'authToken=' } }],
    ['a cookie with another name', { headers: { cookie: 'token=abc' } }],
    ['nothing at all', {}],
  ])('finds no token in %s', (_case, parts) => {
    expect(extractHandshakeToken(handshake(parts))).toBeNull();
  });

  it('skips a source of the wrong type and goes on to the next', () => {
    const extracted = extractHandshakeToken(
      handshake({
        auth: { token: 42 },
        headers: { authorization: 'Basic abc' },
        query: { token: 'from-query' },
      }),
    );

    expect(extracted).toBe('from-query');
  });

  it('accepts the bearer scheme in any letter case and trims surrounding space', () => {
    expect(extractHandshakeToken(handshake({ headers: { authorization: 'bearer abc.def.ghi' } }))).toBe(
      'abc.def.ghi',
    );
    expect(extractHandshakeToken(handshake({ auth: { token: ' abc.def.ghi\n' } }))).toBe('abc.def.ghi');
  });

  it('decodes a URL-encoded cookie value', () => {
    expect(extractHandshakeToken(handshake({ headers: { cookie: 'authToken=abc%2Edef' } }))).toBe('abc.def');
  });
});

describe('extractRequestToken', () => {
  it('reads the header, then the query, then the cookie', () => {
    const headers = { authorization: 'Bearer from-header', cookie: 'authToken=from-cookie' };

    expect(extractRequestToken({ headers, query: { token: 'from-query' } })).toBe('from-header');
    expect(extractRequestToken({ headers: { cookie: headers.cookie }, query: { token: 'from-query' } })).toBe(
      'from-query',
    );
    expect(extractRequestToken({ headers: { cookie: headers.cookie }, query: {} })).toBe('from-cookie');
  });

  it('reads the query from the URL when the request has no parsed query', () => {
    expect(extractRequestToken({ headers: {}, url: '/ws/events?since=5&token=from-url' })).toBe('from-url');
    expect(extractRequestToken({ headers: {}, url: '/ws/events?token=one&token=two' })).toBeNull();
    expect(extractRequestToken({ headers: { cookie: 'authToken=from-cookie' }, url: '/ws/events' })).toBe(
      'from-cookie',
    );
  });

  it('ignores query values that are not a single string', () => {
    expect(extractRequestToken({ headers: {}, query: { token: { nested: 'x' } } })).toBeNull();
    expect(extractRequestToken({ headers: {}, query: 'token=x' })).toBeNull();
  });
});
