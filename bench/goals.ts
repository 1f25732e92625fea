import { PUBLISH_EVENT } from './event-wire.js';
import { waveEvents } from './load/reconnect-wave.js';
import { PATTERN_INDEX_SIZES, type PatternCostRow } from './pattern-cost.js';
import type { FanoutShape, GoalCheck, TargetResult } from './results.js';
import { SEND_EVENT } from './wire.js';

const SHAPES: FanoutShape[] = ['room', 'groups'];
const HANDLER_RSS_LIMIT_BYTES = 1024;
/**
 * Matching in O(segments of the type): the largest index may cost a few cache misses more per
 * node than the smallest, far from the ×10,000 of a scan over the subscriptions.
 */
const MATCH_GROWTH_LIMIT = 2;

/** The targets, checked against one run's figures (same machine, same run). */
export function checkGoals(targets: TargetResult[], patternCost: PatternCostRow[] | null): GoalCheck[] {
  const byName = new Map(targets.map((target) => [target.name, target]));
  const socketIo = byName.get('socket.io');
  const switchboard = byName.get('switchboard');
  const redis = byName.get('switchboard-redis');
  const redisCluster = byName.get('switchboard-redis-cluster');
  const withHandlers = targets.filter((target) => /^switchboard\+\d+h$/.test(target.name));
  const goals: GoalCheck[] = [];

  for (const shape of SHAPES) {
    goals.push(
      atLeast(
        `fan-out (${shape}) sustainable deliveries/s >= 0.95 x socket.io`,
        switchboard,
        sustainable(switchboard, shape),
        sustainable(socketIo, shape),
        0.95,
      ),
    );
  }
  for (const shape of SHAPES) {
    goals.push(
      atMost(
        `fan-out (${shape}) p99 at half socket.io's capacity <= 1.1 x socket.io`,
        switchboard,
        p99AtHalf(switchboard, shape),
        p99AtHalf(socketIo, shape),
        1.1,
      ),
    );
  }
  for (const target of [switchboard, ...withHandlers]) {
    goals.push(
      atMost(
        'idle RSS per connection <= 1.2 x socket.io',
        target,
        target?.memory?.rssPerConnectionBytes ?? null,
        socketIo?.memory?.rssPerConnectionBytes ?? null,
        1.2,
      ),
    );
  }
  goals.push(
    atLeast(
      'connects/s with JWT >= 0.85 x socket.io without auth',
      switchboard,
      switchboard?.connect?.connectsPerS ?? null,
      socketIo?.connect?.connectsPerS ?? null,
      0.85,
    ),
  );
  for (const [label, target] of [
    ['Redis adapter', redis],
    ['Redis Cluster adapter', redisCluster],
  ] as const) {
    for (const shape of SHAPES) {
      goals.push(
        atLeast(
          `${label} fan-out (${shape}) >= 0.8 x in-memory`,
          target,
          sustainable(target, shape),
          sustainable(switchboard, shape),
          0.8,
        ),
      );
    }
  }
  for (const target of withHandlers) {
    const value = target.memory?.rssPerConnectionBytes ?? null;
    const reference = switchboard?.memory?.rssPerConnectionBytes ?? null;
    const difference = value === null || reference === null ? null : value - reference;
    goals.push({
      goal: `${target.name.slice('switchboard'.length)} changes idle RSS per connection by < 1 KB`,
      target: target.name,
      value,
      reference,
      measured: difference,
      limit: `|difference| < ${HANDLER_RSS_LIMIT_BYTES} bytes`,
      met: difference === null ? null : Math.abs(difference) < HANDLER_RSS_LIMIT_BYTES,
    });
  }
  goals.push(
    atLeast(
      'events fan-out (both doors) sustainable deliveries/s >= 0.9 x socket.io room broadcast',
      switchboard,
      sustainable(switchboard, 'events'),
      sustainable(socketIo, 'events'),
      0.9,
    ),
    matchGrowth(patternCost),
  );
  const presenceTargets = targets.filter((target) => target.switchboard);
  for (const target of presenceTargets.length > 0 ? presenceTargets : [undefined]) {
    goals.push(...quietWave(target));
  }
  return goals;
}

/**
 * The presence issue: users who drop and come back within the grace period cause no event at
 * all, neither received by anyone who follows them (observers on `/presence`, chat co-members on
 * `/chat`) nor told by the server (`PresenceService.changes`). A wave whose users were not all
 * back within the grace tests nothing: no data.
 */
function quietWave(target: TargetResult | undefined): GoalCheck[] {
  const wave = target?.reconnectWave ?? null;
  const events = wave?.withinGrace ? waveEvents(wave) : null;
  const check = (goal: string, count: number | null): GoalCheck => ({
    goal,
    target: target?.name ?? 'not run',
    value: count,
    reference: null,
    measured: count,
    limit: '= 0',
    met: count === null ? null : count === 0,
  });
  return [
    check('presence events received during a reconnect wave within the grace = 0', events?.observed ?? null),
    check('presence changes told by the server during that wave = 0', events?.server ?? null),
  ];
}

/** The worst ratio, over the type lengths, of a match in the largest index to one in the smallest. */
function matchGrowth(rows: PatternCostRow[] | null): GoalCheck {
  const smallest = PATTERN_INDEX_SIZES[0] ?? 0;
  const largest = PATTERN_INDEX_SIZES.at(-1) ?? 0;
  let worst: { value: number; reference: number } | null = null;
  for (const row of rows ?? []) {
    const reference = rows?.find(
      (other) => other.subscriptions === smallest && other.segments === row.segments,
    );
    if (row.subscriptions !== largest || !reference) continue;
    if (!worst || row.nsPerMatch / reference.nsPerMatch > worst.value / worst.reference) {
      worst = { value: row.nsPerMatch, reference: reference.nsPerMatch };
    }
  }
  return atMost(
    `event matching with ${largest.toLocaleString('en-US')} subscriptions <= ${MATCH_GROWTH_LIMIT} x with ${smallest} (O(segments))`,
    { name: 'PatternIndex' },
    worst?.value ?? null,
    worst?.reference ?? null,
    MATCH_GROWTH_LIMIT,
  );
}

function sustainable(target: TargetResult | undefined, shape: FanoutShape): number | null {
  return fanoutOf(target, shape)?.sweep.sustainable?.deliveredPerS ?? null;
}

function p99AtHalf(target: TargetResult | undefined, shape: FanoutShape): number | null {
  return fanoutOf(target, shape)?.sweep.atHalfReference?.delivery.p99Ms ?? null;
}

function fanoutOf(target: TargetResult | undefined, shape: FanoutShape) {
  const event = shape === 'events' ? PUBLISH_EVENT : SEND_EVENT;
  return target?.fanout.find((result) => result.shape === shape && result.sweep.event === event);
}

function atLeast(
  goal: string,
  target: Pick<TargetResult, 'name'> | undefined,
  value: number | null,
  reference: number | null,
  minimum: number,
): GoalCheck {
  return relative(goal, target, value, reference, `>= ${minimum}`, (ratio) => ratio >= minimum);
}

function atMost(
  goal: string,
  target: Pick<TargetResult, 'name'> | undefined,
  value: number | null,
  reference: number | null,
  maximum: number,
): GoalCheck {
  return relative(goal, target, value, reference, `<= ${maximum}`, (ratio) => ratio <= maximum);
}

function relative(
  goal: string,
  target: Pick<TargetResult, 'name'> | undefined,
  value: number | null,
  reference: number | null,
  limit: string,
  accepts: (ratio: number) => boolean,
): GoalCheck {
  const ratio = value === null || reference === null || reference === 0 ? null : value / reference;
  return {
    goal,
    target: target?.name ?? 'not run',
    value,
    reference,
    measured: ratio === null ? null : Math.round(ratio * 1000) / 1000,
    limit,
    met: ratio === null ? null : accepts(ratio),
  };
}
