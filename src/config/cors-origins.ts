/**
 * One `CORS_ORIGINS` entry: `*`, or an origin `http(s)://host[:port]` whose leading host labels
 * may be `*` (subdomains of the rest, e.g. `https://*.example.com`). No path, no credentials.
 */
const ORIGIN_ENTRY =
  /^https?:\/\/(?:\*\.)*(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$|^https?:\/\/\[[0-9a-f:.]+\](?::\d{1,5})?$/i;

/** The entries of `CORS_ORIGINS` that are not origins, each with what is wrong. */
export function corsOriginProblems(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0 && entry !== '*' && !ORIGIN_ENTRY.test(entry.replace(/\/+$/, '')))
    .map(
      (entry) =>
        `${JSON.stringify(entry)} is not an origin: use http(s)://host[:port], a wildcard subdomain such as https://*.example.com, or *`,
    );
}
