import type { ConnectResult } from './load/connect.js';
import type { LatencySummary } from './load/histogram.js';
import type { ReconnectWaveResult } from './load/reconnect-wave.js';
import type { ResourceUsage } from './load/resources.js';
import type { SweepResult } from './load/sweep.js';
import type { MachineInfo } from './machine.js';
import type { BenchOptions } from './options.js';
import type { PatternCostRow } from './pattern-cost.js';
import type { PhaseWindow, ProfileSummary } from './profile-summary.js';

/** `events`: broadcast events published over REST to subscribers by pattern (a room on bare Socket.IO). */
export type FanoutShape = 'room' | 'groups' | 'events';

export interface MemoryResult {
  /** Lightweight connections plus probes. */
  connections: number;
  baselineRssBytes: number;
  rssBytes: number;
  baselineHeapUsedBytes: number;
  heapUsedBytes: number;
  rssPerConnectionBytes: number;
  heapPerConnectionBytes: number;
}

export interface FanoutResult {
  shape: FanoutShape;
  /** e.g. "1 x 10003" or "100 x 100". */
  layout: string;
  sweep: SweepResult;
}

/** `POST /api/notifications` to `users` users, `requests` times, `concurrency` in flight. */
export interface NotifyRun extends ResourceUsage {
  concurrency: number;
  requests: number;
  /** Notifications stored, as the answers counted them. */
  stored: number;
  seconds: number;
  storedPerS: number;
  latency: LatencySummary;
}

export interface NotifyResult {
  users: number;
  runs: NotifyRun[];
}

export interface TargetResult {
  name: string;
  /** Switchboard itself (presence included), not a baseline. */
  switchboard: boolean;
  perMessage: string;
  /** Why the target's run stopped early, if it did. */
  error: string | null;
  setupSeconds: number | null;
  connect: ConnectResult | null;
  memory: MemoryResult | null;
  fanout: FanoutResult[];
  inbound: SweepResult | null;
  /** Switchboard targets only: stored notifications of the events phase. */
  notify: NotifyResult | null;
  /** Switchboard targets only: users dropping and returning within the presence grace period. */
  reconnectWave: ReconnectWaveResult | null;
  /** Connections the server closed during the run. */
  unexpectedCloses: number;
  strayDeliveries: number;
  /** When each phase ran, to read a CPU profile phase by phase. */
  phaseWindows: PhaseWindow[];
  profiles: ProfileSummary[];
}

export interface GoalCheck {
  goal: string;
  target: string;
  value: number | null;
  reference: number | null;
  /** `value / reference`, or for absolute goals the value itself. */
  measured: number | null;
  limit: string;
  met: boolean | null;
}

export interface BenchResult {
  mode: 'full' | 'smoke';
  machine: MachineInfo;
  options: BenchOptions;
  /** Changes the harness made to the options, and why. */
  adjustments: string[];
  targets: TargetResult[];
  /** The events phase's in-process cost of matching a type against the subscription index. */
  patternCost: PatternCostRow[] | null;
  goals: GoalCheck[];
}
