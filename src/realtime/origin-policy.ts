const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

/**
 * The allow-list of browser origins (`CORS_ORIGINS`): exact origins, `*`, or wildcard
 * subdomains such as `https://*.example.com`. Requests without an Origin header (servers,
 * native apps) are not browsers and pass.
 */
export class OriginPolicy {
  private readonly allowAll: boolean;
  private readonly exact = new Set<string>();
  private readonly patterns: RegExp[] = [];

  constructor(
    origins: string[],
    private readonly allowLocalhost: boolean,
  ) {
    this.allowAll = origins.includes('*');
    for (const origin of origins) {
      if (origin === '*') continue;
      if (origin.includes('*')) this.patterns.push(wildcardPattern(origin));
      else this.exact.add(normalize(origin));
    }
  }

  /**
   * With `host` (the request's `Host` header), the server's own origin passes too: a page this
   * server serves (the admin console) connecting back to it, whatever the list says. A foreign
   * page cannot claim it: its browser sends its own origin, which names another host.
   */
  allows(origin: string | undefined, host?: string): boolean {
    if (origin === undefined || origin === '') return true;
    if (this.allowAll) return true;
    const normalized = normalize(origin);
    if (this.exact.has(normalized)) return true;
    if (host !== undefined && isOriginOfHost(normalized, host)) return true;
    if (this.allowLocalhost && LOCALHOST_ORIGIN.test(normalized)) return true;
    return this.patterns.some((pattern) => pattern.test(normalized));
  }
}

/**
 * Whether `origin` is exactly `http(s)://<host>`, `host` being a `Host` header: the same host name
 * and, when the header names a port, the same port (an origin's default one implied). A header
 * without a port is what a proxy passing its own host name sends (nginx's `$host`): the name
 * decides.
 */
function isOriginOfHost(origin: string, host: string): boolean {
  const requested = host.trim().toLowerCase();
  let url: URL;
  let target: URL;
  try {
    url = new URL(origin);
    target = new URL(`http://${requested}`);
  } catch {
    return false;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin) return false;
  if (target.host === '' || `${target.username}${target.password}${target.search}${target.hash}` !== '')
    return false;
  if (target.pathname !== '/' || target.hostname !== url.hostname) return false;
  const port = /:(\d+)$/.exec(requested)?.[1];
  return port === undefined || Number(port) === Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

function normalize(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '');
}

function wildcardPattern(origin: string): RegExp {
  const [scheme, host] = normalize(origin).split('://');
  if (scheme === undefined || host === undefined) {
    throw new Error(`CORS origin ${JSON.stringify(origin)} has no scheme (expected http(s)://host)`);
  }
  const hostPattern = host
    .split('.')
    .map((label) =>
      label === '*'
        ? '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*'
        : escape(label),
    )
    .join('\\.');
  return new RegExp(`^${escape(scheme)}://${hostPattern}$`);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
