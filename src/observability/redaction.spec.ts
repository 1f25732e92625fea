import { REDACTED, scrubbingDestination, scrubText, scrubUrl } from './redaction.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTl9.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu';

describe('scrubText', () => {
  it('replaces a JWT wherever it stands', () => {
    expect(scrubText(`refused ${JWT} at once`)).toBe(`refused ${REDACTED} at once`);
    expect(scrubText(`"${JWT}"`)).toBe(`"${REDACTED}"`);
  });

  it('replaces a Bearer credential of any shape', () => {
    expect(scrubText('Authorization: Bearer opaque-secret-value')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(scrubText('bearer abc123, then')).toBe(`bearer ${REDACTED}, then`);
  });

  it('replaces the values of query parameters and cookies named like a credential', () => {
    expect(scrubText('GET /x?token=abc&page=2')).toBe(`GET /x?token=${REDACTED}&page=2`);
    expect(scrubText('cookie: theme=dark; authToken=abc; lang=en')).toBe(
      `cookie: theme=dark; authToken=${REDACTED}; lang=en`,
    );
    expect(scrubText('password=hunter2 access_token=xyz')).toBe(
      `password=${REDACTED} access_token=${REDACTED}`,
    );
    // Not a credential's name, only ending like one.
    expect(scrubText('pagetoken=3')).toBe('pagetoken=3');
  });

  it('replaces credential fields of JSON, escaped or not', () => {
    expect(scrubText('{"token":"opaque"}')).toBe(`{"token":"${REDACTED}"}`);
    expect(scrubText('"msg":"payload {\\"password\\":\\"hunter2\\"}"')).toBe(
      `"msg":"payload {\\"password\\":\\"${REDACTED}\\"}"`,
    );
  });

  it('leaves a JSON line valid JSON', () => {
    const line = JSON.stringify({
      msg: `Bearer ${JWT} ?token=${JWT}&x=1 {"token":"a"}`,
      header: 'Bearer abc',
      url: '/a?authToken=b',
    });
    const scrubbed = scrubText(line);
    expect(() => JSON.parse(scrubbed) as unknown).not.toThrow();
    expect(scrubbed).not.toContain(JWT.split('.')[2]);
    expect(JSON.parse(scrubbed)).toEqual({
      msg: `Bearer ${REDACTED} ?token=${REDACTED}&x=1 {"token":"${REDACTED}"}`,
      header: `Bearer ${REDACTED}`,
      url: `/a?authToken=${REDACTED}`,
    });
  });

  it('leaves text without credentials alone', () => {
    const text = 'Listening on http://127.0.0.1:3000 as server a-1 (in-memory adapter, sqlite)';
    expect(scrubText(text)).toBe(text);
  });
});

describe('scrubUrl', () => {
  it('keeps the path and the query, without the credentials', () => {
    expect(scrubUrl('/api/me')).toBe('/api/me');
    expect(scrubUrl('/api/me?page=2&token=abc')).toBe(`/api/me?page=2&token=${REDACTED}`);
    expect(scrubUrl('/api/me?%74oken=abc')).toBe(`/api/me?%74oken=${REDACTED}`);
    expect(scrubUrl('/api/me?TOKEN=abc&flag')).toBe(`/api/me?TOKEN=${REDACTED}&flag`);
  });
});

describe('scrubbingDestination', () => {
  it('scrubs each line before handing it on', () => {
    const written: string[] = [];
    scrubbingDestination({ write: (line: string) => written.push(line) }).write(`{"msg":"${JWT}"}\n`);
    expect(written).toEqual([`{"msg":"${REDACTED}"}\n`]);
  });
});
