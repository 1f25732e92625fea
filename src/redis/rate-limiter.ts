import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisService } from './redis.service.js';

export interface RateLimiterSpec {
  /** Names the counters: `${REDIS_KEY_PREFIX}ratelimit:<name>` in Redis. */
  name: string;
  /** Allowance per window; 0 means no limit. */
  points: number;
  durationS: number;
}

/**
 * A limiter counted in this process, or across the cluster when Redis is configured. The Redis
 * one falls back to an in-process count while Redis is unreachable, so that an outage neither
 * lifts the limit nor refuses every request. Null when `points` is 0 (no limit).
 */
export function createRateLimiter(redis: RedisService, spec: RateLimiterSpec): RateLimiterAbstract | null {
  if (spec.points === 0) return null;
  const options = { points: spec.points, duration: spec.durationS, keyPrefix: spec.name };
  if (!redis.enabled) return new RateLimiterMemory(options);
  return new RateLimiterRedis({
    ...options,
    storeClient: redis.client,
    keyPrefix: `${redis.keyPrefix}ratelimit:${spec.name}`,
    insuranceLimiter: new RateLimiterMemory(options),
  });
}
