import type { StepResult } from './step.js';

export type RateUnit = 'deliveries/s' | 'messages/s';

export interface SweepStep extends StepResult {
  /** The step's nominal rate, in the sweep's unit. */
  rate: number;
  passed: boolean;
  /** Measurements taken: a failed or disturbed step is measured again; this is the last. */
  attempts: number;
  /** Other processes used more CPU than `DISTURBANCE_CPU_PCT` during the measurement kept. */
  disturbed: boolean;
}

export interface SweepResult {
  unit: RateUnit;
  /** The client event that triggers each message. */
  event: string;
  steps: SweepStep[];
  /** The highest passing step. */
  sustainable: SweepStep | null;
  /** No step above the sustainable one failed: the capacity lies beyond the steps that ran. */
  belowCapacity: boolean;
  stoppedBecause: string;
  /** A step at half of bare Socket.IO's sustainable rate, for comparing latency. */
  atHalfReference: SweepStep | null;
}

/** A step passes when at least this share of what was due arrived in time. */
export const PASS_RATIO = 0.99;
/**
 * Under Switchboard's default limit of 50 events per socket per second, with room for the
 * fixed one-second window to catch two bursts of one schedule tick.
 */
export const SENDER_RATE_CEILING = 40;
const FAILURES_TO_STOP = 2;
/** CPU of other processes, in % of one core, above which a step is measured again. */
export const DISTURBANCE_CPU_PCT = 10;
/** A failing step must fail this many times; a disturbed one is retried up to `MAX_ATTEMPTS`. */
const FAILED_ATTEMPTS = 2;
export const MAX_ATTEMPTS = 3;

export interface SweepPlan {
  unit: RateUnit;
  event: string;
  rates: number[];
  senders: number;
  /**
   * Once the steps found the sustainable rate and a failing one above it, rates in between are
   * measured at this ratio apart, up to the first that fails; null for none.
   */
  refineRatio: number | null;
  messagesPerS(rate: number): number;
  /** `durationMs` overrides the plan's step length. */
  measure(rate: number, durationMs?: number): Promise<StepResult>;
  /** The share of a step that must arrive in time: deliveries for fan-out, acks for inbound. */
  arrivedRatio(result: StepResult): number;
  report(step: SweepStep): void;
}

/**
 * Steps up through `rates` until two steps in a row fail, then refines between the highest
 * passing step and the failing one above it (`refineRatio`); the sustainable rate is the
 * highest step with at least `PASS_RATIO` arrived in time. Stops before a step would make any
 * sender exceed `SENDER_RATE_CEILING`, on every target alike.
 */
export async function sweep(plan: SweepPlan): Promise<SweepResult> {
  const steps: SweepStep[] = [];
  let failuresInARow = 0;
  let stoppedBecause = 'all steps ran';
  const overCeiling = (rate: number) => plan.messagesPerS(rate) / plan.senders > SENDER_RATE_CEILING;
  for (const rate of plan.rates) {
    if (overCeiling(rate)) {
      stoppedBecause = `${rate} ${plan.unit} would take a sender over ${SENDER_RATE_CEILING} events/s`;
      break;
    }
    const step = await measureStep(plan, rate);
    steps.push(step);
    failuresInARow = step.passed ? 0 : failuresInARow + 1;
    if (failuresInARow === FAILURES_TO_STOP) {
      stoppedBecause = `${FAILURES_TO_STOP} steps in a row under ${PASS_RATIO * 100}%`;
      break;
    }
  }
  const passedFirst = steps.filter((step) => step.passed).at(-1);
  const failedAbove = steps.find((step) => !step.passed && passedFirst && step.rate > passedFirst.rate);
  if (plan.refineRatio !== null && passedFirst && failedAbove) {
    const ratio = plan.refineRatio;
    for (
      let rate = nextRefined(passedFirst.rate, ratio);
      rate < failedAbove.rate && !overCeiling(rate);
      rate = nextRefined(rate, ratio)
    ) {
      const step = await measureStep(plan, rate);
      steps.push(step);
      if (!step.passed) break;
    }
  }
  const sustainable =
    steps
      .filter((step) => step.passed)
      .sort((a, b) => a.rate - b.rate)
      .at(-1) ?? null;
  return {
    unit: plan.unit,
    event: plan.event,
    steps,
    sustainable,
    belowCapacity:
      sustainable !== null && !steps.some((step) => !step.passed && step.rate > sustainable.rate),
    stoppedBecause,
    atHalfReference: null,
  };
}

/**
 * Measures one rate. Steps disturbed by other processes are measured again, and a failing
 * step must fail twice: a stray GC or heartbeat burst should not end a sweep early.
 */
export async function measureStep(plan: SweepPlan, rate: number, durationMs?: number): Promise<SweepStep> {
  let failures = 0;
  for (let attempt = 1; ; attempt += 1) {
    const result = await plan.measure(rate, durationMs);
    const step: SweepStep = {
      rate,
      passed: plan.arrivedRatio(result) >= PASS_RATIO,
      attempts: attempt,
      disturbed: result.otherCpuPct !== null && result.otherCpuPct > DISTURBANCE_CPU_PCT,
      ...result,
    };
    plan.report(step);
    if (!step.passed && !step.disturbed) failures += 1;
    const settled = !step.disturbed && (step.passed || failures >= FAILED_ATTEMPTS);
    if (settled || attempt === MAX_ATTEMPTS) return step;
  }
}

/** The refined rate after `rate`, in three significant digits so that it reads as the ladder's do. */
function nextRefined(rate: number, ratio: number): number {
  return Math.max(rate + 1, Number((rate * ratio).toPrecision(3)));
}
