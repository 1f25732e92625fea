import proxyAddr from 'proxy-addr';

/** Which hops in front of this server may set `X-Forwarded-For`: none, a hop count, or addresses. */
export type TrustProxy =
  { kind: 'none' } | { kind: 'hops'; hops: number } | { kind: 'addresses'; list: string[] };

/**
 * Reads `TRUST_PROXY`: `false`, `true` (one hop, the usual single load balancer), a hop count, or a
 * comma-separated list of proxy addresses, CIDRs or proxy-addr's names (`loopback`, `uniquelocal`…).
 * Throws with a readable reason when a list entry is not an address.
 */
export function parseTrustProxy(value: string): TrustProxy {
  const text = value.trim();
  if (text === 'false' || text === '' || text === '0') return { kind: 'none' };
  if (text === 'true') return { kind: 'hops', hops: 1 };
  if (/^\d+$/.test(text)) return { kind: 'hops', hops: Number(text) };
  const list = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  try {
    proxyAddr.compile(list);
  } catch (error) {
    throw new Error(
      `must be false, true, a hop count, or proxy addresses/CIDRs (${(error as Error).message})`,
    );
  }
  return { kind: 'addresses', list };
}
