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

  allows(origin: string | undefined): boolean {
    if (origin === undefined || origin === '') return true;
    if (this.allowAll) return true;
    const normalized = normalize(origin);
    if (this.exact.has(normalized)) return true;
    if (this.allowLocalhost && LOCALHOST_ORIGIN.test(normalized)) return true;
    return this.patterns.some((pattern) => pattern.test(normalized));
  }
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
