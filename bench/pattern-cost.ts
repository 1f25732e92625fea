import { performance } from 'node:perf_hooks';
import { PatternIndex } from '../src/notifications/event-patterns.js';

/** One size of the subscription index and one length of the published type. */
export interface PatternCostRow {
  subscriptions: number;
  segments: number;
  /** Subscribers the type matched: the same at every size, so only the index grows. */
  matched: number;
  nsPerMatch: number;
}

export const PATTERN_INDEX_SIZES = [10, 10_000, 100_000];
const TYPE_SEGMENTS = [1, 2, 4, 8];
const BATCH = 1_000;
/** Subscribers of the patterns that match every measured type; the rest match none. */
const MATCHING = { all: -1, prefix: -2, exact: -3 };

/**
 * What matching a published type against the subscription index costs (`PatternIndex.match`,
 * the trie behind `EventRouter`), in process: with `sizes` subscriptions, and for types of 1 to
 * 8 segments. Besides the three patterns that match (`*`, `bench.*` and the exact type), the
 * index holds patterns that do not, half of them under `bench` beside the measured path, so the
 * nodes a match walks through are as crowded as the index is large.
 */
export function measurePatternCost(sizes: number[], durationMs: number): PatternCostRow[] {
  return sizes.flatMap((subscriptions) => {
    const index = new PatternIndex<number>();
    const matching: [string, number][] = [
      ['*', MATCHING.all],
      ['bench.*', MATCHING.prefix],
      ...TYPE_SEGMENTS.map((segments): [string, number] => [typeOf(segments), MATCHING.exact]),
    ];
    for (const [pattern, subscriber] of matching) index.add(pattern, subscriber);
    for (let filler = 0; filler < subscriptions - matching.length; filler += 1) {
      index.add(fillerPattern(filler), filler);
    }
    return TYPE_SEGMENTS.map((segments) => ({
      subscriptions,
      segments,
      ...timeMatch(index, typeOf(segments), durationMs),
    }));
  });
}

/** `bench.s1.s2…`, `segments` long. */
function typeOf(segments: number): string {
  return ['bench', ...Array.from({ length: segments - 1 }, (_, index) => `s${index + 1}`)].join('.');
}

/** Patterns no measured type matches: siblings of its path under `bench`, or other families. */
function fillerPattern(filler: number): string {
  const wildcard = filler % 4 >= 2 ? '.*' : '';
  if (filler % 2 === 0) return `bench.other${filler}${wildcard}`;
  return `family${filler % 1000}.kind${filler}${wildcard}`;
}

/** Calls `match` in batches for `durationMs`, after a batch of warm-up; the sizes are summed so no call is optimized away. */
function timeMatch(
  index: PatternIndex<number>,
  type: string,
  durationMs: number,
): { matched: number; nsPerMatch: number } {
  for (let call = 0; call < BATCH; call += 1) index.match(type);
  let matched = 0;
  let calls = 0;
  const startedAt = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let call = 0; call < BATCH; call += 1) matched += index.match(type).size;
    calls += BATCH;
    elapsed = performance.now() - startedAt;
  }
  return { matched: matched / calls, nsPerMatch: Math.round((elapsed * 1e6) / calls) };
}
