import type { IncomingMessage } from 'node:http';

/** The peer addresses of a client on this machine. */
const LOOPBACK_PEERS = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
/** A `Host` header naming this machine as a browser on it reaches a local server. */
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i;
/** Set by proxies: a request through one came from wherever the proxy's client is. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip'];
/** What a browser says of a request made by a page of this very origin, or typed in. */
const OWN_FETCH_SITES = new Set(['same-origin', 'none']);

/**
 * Whether a request comes straight from this machine: a loopback peer with no proxy in between
 * (`TRUST_PROXY` aside: a local proxy makes every client look local), sent to a loopback name
 * (a DNS-rebinding page names its own host) and, from a browser, by a page of this origin.
 */
export function isDirectLoopbackRequest(request: IncomingMessage): boolean {
  const peer = request.socket.remoteAddress;
  if (peer === undefined || !LOOPBACK_PEERS.has(peer)) return false;
  if (FORWARDING_HEADERS.some((name) => request.headers[name] !== undefined)) return false;
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && !OWN_FETCH_SITES.has(String(site))) return false;
  return LOOPBACK_HOST.test(request.headers.host ?? '');
}
