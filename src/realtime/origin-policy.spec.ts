import { OriginPolicy } from './origin-policy.js';

describe('OriginPolicy', () => {
  const policy = new OriginPolicy(
    ['https://app.example.com', 'https://*.example.org', 'http://localhost:8080'],
    false,
  );

  it('allows listed origins, ignoring case and a trailing slash', () => {
    expect(policy.allows('https://app.example.com')).toBe(true);
    expect(policy.allows('HTTPS://APP.EXAMPLE.COM/')).toBe(true);
  });

  it('allows subdomains of a wildcard entry at any depth, but not the bare domain or look-alikes', () => {
    expect(policy.allows('https://eu.example.org')).toBe(true);
    expect(policy.allows('https://a.b.example.org')).toBe(true);
    expect(policy.allows('https://example.org')).toBe(false);
    expect(policy.allows('https://evil-example.org')).toBe(false);
    expect(policy.allows('https://example.org.evil.com')).toBe(false);
    expect(policy.allows('http://eu.example.org')).toBe(false);
  });

  it('refuses other origins and other ports', () => {
    expect(policy.allows('https://evil.example.net')).toBe(false);
    expect(policy.allows('http://localhost:3000')).toBe(false);
    expect(policy.allows('null')).toBe(false);
  });

  it('lets requests without Origin through', () => {
    expect(policy.allows(undefined)).toBe(true);
    expect(policy.allows('')).toBe(true);
  });

  it('allows any localhost port only when told to (development)', () => {
    const development = new OriginPolicy([], true);
    expect(development.allows('http://localhost:5173')).toBe(true);
    expect(development.allows('http://127.0.0.1:3000')).toBe(true);
    expect(development.allows('http://localhost.evil.com')).toBe(false);
  });

  it("allows the server's own origin, the one naming the Host the request was sent to", () => {
    expect(policy.allows('http://127.0.0.1:3000', '127.0.0.1:3000')).toBe(true);
    expect(policy.allows('https://switchboard.example.net', 'switchboard.example.net')).toBe(true);
    expect(policy.allows('https://switchboard.example.net', 'Switchboard.Example.Net:443')).toBe(true);
    expect(policy.allows('http://[::1]:3000', '[::1]:3000')).toBe(true);
    // Through a proxy that passes its host name alone (nginx's `$host`).
    expect(policy.allows('http://localhost:8080', 'localhost')).toBe(true);
  });

  it('refuses a foreign origin whatever the Host, and an own origin changed or malformed', () => {
    expect(policy.allows('https://evil.example.net', 'switchboard.example.net')).toBe(false);
    expect(policy.allows('http://127.0.0.1:3001', '127.0.0.1:3000')).toBe(false);
    expect(policy.allows('https://switchboard.example.net', 'switchboard.example.net:80')).toBe(false);
    expect(policy.allows('http://localhost:3000', '127.0.0.1:3000')).toBe(false);
    expect(policy.allows('https://switchboard.example.net', 'evil.net@switchboard.example.net')).toBe(false);
    expect(policy.allows('https://switchboard.example.net', 'switchboard.example.net/x')).toBe(false);
    expect(policy.allows('https://127.0.0.1:3000/', '127.0.0.1:3000:80')).toBe(false);
    expect(policy.allows('https://evil.net@switchboard.example.net', 'switchboard.example.net')).toBe(false);
    expect(policy.allows('https://switchboard.example.net/path', 'switchboard.example.net')).toBe(false);
    expect(policy.allows('ws://switchboard.example.net', 'switchboard.example.net')).toBe(false);
    expect(policy.allows('null', 'null')).toBe(false);
    expect(policy.allows('https://switchboard.example.net', '')).toBe(false);
  });

  it('allows everything with *', () => {
    expect(new OriginPolicy(['*'], false).allows('https://anything.example')).toBe(true);
  });
});
