import { waveEvents } from './load/reconnect-wave.js';
import type { ResourceUsage } from './load/resources.js';
import { DISTURBANCE_CPU_PCT, MAX_ATTEMPTS, type SweepResult, type SweepStep } from './load/sweep.js';
import type { PatternCostRow } from './pattern-cost.js';
import type { BenchResult, FanoutShape, GoalCheck, TargetResult } from './results.js';

type Cell = string | number | null;
/** A header row, then a row per entry. */
type Table = [header: Cell[], ...rows: Cell[][]];

const DISTURBED_MARK = '*';

/** Per profiled phase on stdout; the JSON keeps more. */
const PROFILE_LINES = 12;

/** The figures of a run as text tables: each with its ratio to bare Socket.IO and to raw ws. */
export function renderReport(result: BenchResult): string {
  const { machine, targets } = result;
  const lines = [
    `Switchboard benchmark (${result.mode}) — ${machine.date}`,
    `${machine.cpuModel}, ${machine.cpuCount} CPUs, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}`,
    machine.pinning
      ? `server pinned to CPU ${machine.pinning.server}, load (and redis-server) to CPU ${machine.pinning.load}`
      : 'no CPU pinning (taskset or a second CPU missing)',
    `${result.options.connections} connections + ${result.options.probes} socket.io-client probes; ` +
      `steps of ${result.options.stepMs / 1000} s, counted when they arrive within ${result.options.graceMs / 1000} s after`,
    ...result.adjustments.map((adjustment) => `note: ${adjustment}`),
    ...(result.mode === 'smoke'
      ? ['smoke run: the sizes are too small for these figures to mean anything']
      : []),
    '',
    ...section('Connect', connectTable(targets)),
    ...section('Idle memory (after forced GC)', memoryTable(targets)),
    ...section(`Fan-out, one room (${layoutOf(targets, 'room')})`, fanoutTable(targets, 'room')),
    ...section(`Fan-out, many rooms (${layoutOf(targets, 'groups')})`, fanoutTable(targets, 'groups')),
    ...section('Inbound: acked message:send', inboundTable(targets)),
    ...(targets.some((target) => target.reconnectWave)
      ? section(
          'Reconnect wave (presence): users drop and return within the grace period',
          reconnectWaveTable(targets),
        )
      : []),
    ...(targets.some((target) => target.fanout.some((fanout) => fanout.shape === 'events'))
      ? section(
          `Events fan-out: broadcast events over REST (${eventLayouts(targets)})`,
          fanoutTable(targets, 'events'),
        )
      : []),
    ...(targets.some((target) => target.notify)
      ? section('Stored notifications: POST /api/notifications with userIds', notifyTable(targets))
      : []),
    ...(result.patternCost
      ? section(
          'Event matching (PatternIndex.match), ns per call by segments of the type',
          patternCostTable(result.patternCost),
        )
      : []),
    ...(anyDisturbed(targets)
      ? [
          `${DISTURBED_MARK} measured while other processes used more than ${DISTURBANCE_CPU_PCT}% of a core, after ${MAX_ATTEMPTS} attempts`,
          '',
        ]
      : []),
    ...section('Goals', goalsTable(result.goals)),
  ];
  for (const target of targets) {
    if (target.error) lines.push(`${target.name} stopped early: ${target.error}`);
  }
  for (const target of targets) {
    for (const profile of target.profiles) {
      lines.push(
        '',
        `CPU profile of ${target.name}, ${profile.phase}: ${profile.busyMs} ms busy, top self time (${profile.file}):`,
      );
      for (const entry of profile.top.slice(0, PROFILE_LINES)) {
        lines.push(`  ${entry.percent.toFixed(1).padStart(5)} %  ${entry.frame}`);
      }
      lines.push(
        `  by package: ${profile.byPackage
          .slice(0, PROFILE_LINES)
          .map((share) => `${share.name} ${share.percent}%`)
          .join(', ')}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** One line per step, printed while the run goes. */
export function describeStep(label: string, unit: string, step: SweepStep): string {
  const delivery = step.expectedDeliveries > 0 ? `delivered ${percent(step.deliveredRatio)}` : '';
  const failures = Object.entries(step.ackFailures).map(([code, count]) => `${code} x${count}`);
  return [
    `  ${label} ${formatNumber(step.rate)} ${unit}:`,
    delivery,
    `acked ${percent(step.ackedRatio)}`,
    `p50 ${ms(latencyOf(step).p50Ms)} p99 ${ms(latencyOf(step).p99Ms)} max ${ms(latencyOf(step).maxMs)}`,
    `cpu server ${step.serverCpuPct}% load ${step.loadCpuPct}%`,
    step.otherCpuPct === null ? '' : `others ${step.otherCpuPct}%`,
    step.serverCoreBusyPct === null ? '' : `cores ${step.serverCoreBusyPct}%/${step.loadCoreBusyPct}%`,
    step.gaps + step.outOfOrder > 0 ? `gaps ${step.gaps} out-of-order ${step.outOfOrder}` : '',
    failures.length > 0 ? `refused ${failures.join(', ')}` : '',
    step.probesAgree === false ? 'PROBES DISAGREE' : '',
    step.drained ? '' : 'not drained',
    step.disturbed ? 'DISTURBED' : '',
    step.attempts > 1 ? `attempt ${step.attempts}` : '',
    step.passed ? 'ok' : 'FAIL',
  ]
    .filter((part) => part !== '')
    .join('  ');
}

function latencyOf(step: SweepStep) {
  return step.expectedDeliveries > 0 ? step.delivery : step.ack;
}

function connectTable(targets: TargetResult[]): Table {
  const reference = referenceValues(targets, (target) => target.connect?.connectsPerS ?? null);
  return [
    [
      'target',
      'connects/s',
      'x socket.io',
      'x ws',
      'handshake p50',
      'p99',
      'max',
      'server cpu',
      'core',
      'load cpu',
      'core',
    ],
    ...targets.map((target) => {
      const connect = target.connect;
      return [
        target.name,
        formatNumber(connect?.connectsPerS ?? null),
        ...reference(connect?.connectsPerS ?? null),
        ms(connect?.handshake.p50Ms ?? null),
        ms(connect?.handshake.p99Ms ?? null),
        ms(connect?.handshake.maxMs ?? null),
        ...usage(connect?.resources ?? null),
      ];
    }),
  ];
}

function memoryTable(targets: TargetResult[]): Table {
  const rss = referenceValues(targets, (target) => target.memory?.rssPerConnectionBytes ?? null);
  const heap = referenceValues(targets, (target) => target.memory?.heapPerConnectionBytes ?? null);
  return [
    ['target', 'connections', 'RSS/conn', 'x socket.io', 'x ws', 'heap/conn', 'x socket.io', 'x ws'],
    ...targets.map((target) => {
      const memory = target.memory;
      return [
        target.name,
        memory?.connections ?? null,
        kib(memory?.rssPerConnectionBytes ?? null),
        ...rss(memory?.rssPerConnectionBytes ?? null),
        kib(memory?.heapPerConnectionBytes ?? null),
        ...heap(memory?.heapPerConnectionBytes ?? null),
      ];
    }),
  ];
}

function fanoutTable(targets: TargetResult[], shape: FanoutShape): Table {
  const rows = targets.flatMap((target) =>
    target.fanout
      .filter((result) => result.shape === shape)
      .map((result) => ({ target, sweep: result.sweep })),
  );
  const primary = (name: string) => rows.find((row) => row.target.name === name)?.sweep ?? null;
  const ratioTo = (name: string, value: number | null, pick: (sweep: SweepResult) => number | null) => {
    const reference = primary(name);
    return ratio(value, reference ? pick(reference) : null);
  };
  const ratios = (value: number | null, pick: (sweep: SweepResult) => number | null) => [
    ratioTo('socket.io', value, pick),
    ratioTo('ws', value, pick),
  ];
  const capacity = (sweep: SweepResult) => sweep.sustainable?.deliveredPerS ?? null;
  const halfP99 = (sweep: SweepResult) => sweep.atHalfReference?.delivery.p99Ms ?? null;
  const halfCost = (sweep: SweepResult) => {
    const step = sweep.atHalfReference;
    const deliveries = step ? step.deliveredInTime + step.lateDeliveries : 0;
    return step && deliveries > 0 ? Math.round((step.serverCpuMicros / deliveries) * 100) / 100 : null;
  };
  return [
    [
      'target',
      'event',
      'deliveries/s',
      'x socket.io',
      'x ws',
      'p50',
      'p99',
      'max',
      'server cpu',
      'core',
      'load cpu',
      'core',
      'gaps',
      'p99 @ half sio',
      'x socket.io',
      'server µs/delivery',
      'x socket.io',
    ],
    ...rows.map(({ target, sweep }) => {
      const best = sweep.sustainable;
      return [
        target.name,
        sweep.event,
        marked(atLeast(formatNumber(capacity(sweep)), sweep), best),
        ...ratios(capacity(sweep), capacity),
        ms(best?.delivery.p50Ms ?? null),
        ms(best?.delivery.p99Ms ?? null),
        ms(best?.delivery.maxMs ?? null),
        ...usage(best),
        best ? best.gaps : null,
        marked(ms(halfP99(sweep)), sweep.atHalfReference),
        ratioTo('socket.io', halfP99(sweep), halfP99),
        halfCost(sweep),
        ratioTo('socket.io', halfCost(sweep), halfCost),
      ];
    }),
  ];
}

function inboundTable(targets: TargetResult[]): Table {
  const reference = referenceValues(targets, (target) => target.inbound?.sustainable?.ackedPerS ?? null);
  return [
    [
      'target',
      'acks/s',
      'x socket.io',
      'x ws',
      'p50',
      'p99',
      'max',
      'server cpu',
      'core',
      'load cpu',
      'core',
    ],
    ...targets.map((target) => {
      const best = target.inbound?.sustainable ?? null;
      return [
        target.name,
        marked(atLeast(formatNumber(best?.ackedPerS ?? null), target.inbound), best),
        ...reference(best?.ackedPerS ?? null),
        ms(best?.ack.p50Ms ?? null),
        ms(best?.ack.p99Ms ?? null),
        ms(best?.ack.maxMs ?? null),
        ...usage(best),
      ];
    }),
  ];
}

function reconnectWaveTable(targets: TargetResult[]): Table {
  return [
    [
      'target',
      'users',
      'dropped',
      'back after',
      'grace',
      'reconnect p50',
      'p99',
      'events on /presence',
      'on /chat',
      'told by server',
      'server cpu',
      'core',
      'load cpu',
      'core',
      'server µs/return',
      'server cpu, watch',
    ],
    ...targets.flatMap((target) => {
      const wave = target.reconnectWave;
      if (!wave) return [];
      const events = waveEvents(wave);
      return [
        [
          target.name,
          formatNumber(wave.users),
          formatNumber(wave.dropped),
          ms(wave.maxAwayMs),
          ms(wave.graceMs),
          ms(wave.handshake.p50Ms),
          ms(wave.handshake.p99Ms),
          events.observed - wave.coMemberDeliveries,
          wave.coMemberDeliveries,
          events.server,
          ...usage(wave.resources),
          wave.returned > 0 ? Math.round(wave.resources.serverCpuMicros / wave.returned) : null,
          `${formatNumber(wave.watchServerCpuMs)} ms in ${wave.watchedMs / 1000} s (${wave.watchServerCpuPct}%)`,
        ],
      ];
    }),
  ];
}

function eventLayouts(targets: TargetResult[]): string {
  const layouts = targets.flatMap((target) =>
    target.fanout
      .filter((fanout) => fanout.shape === 'events')
      .map((fanout) => `${target.name}: ${fanout.layout}`),
  );
  return layouts.join('; ');
}

function notifyTable(targets: TargetResult[]): Table {
  return [
    [
      'target',
      'users',
      'in flight',
      'requests',
      'notifications/s',
      'request p50',
      'p99',
      'max',
      'server cpu',
      'core',
      'load cpu',
      'core',
      'server µs/notification',
    ],
    ...targets.flatMap((target) =>
      (target.notify?.runs ?? []).map((run) => [
        target.name,
        formatNumber(target.notify?.users ?? null),
        run.concurrency,
        run.requests,
        formatNumber(run.storedPerS),
        ms(run.latency.p50Ms),
        ms(run.latency.p99Ms),
        ms(run.latency.maxMs),
        ...usage(run),
        run.stored > 0 ? Math.round((run.serverCpuMicros / run.stored) * 10) / 10 : null,
      ]),
    ),
  ];
}

function patternCostTable(rows: PatternCostRow[]): Table {
  const segments = [...new Set(rows.map((row) => row.segments))];
  const sizes = [...new Set(rows.map((row) => row.subscriptions))];
  const cell = (size: number, length: number) => {
    const row = rows.find((candidate) => candidate.subscriptions === size && candidate.segments === length);
    return row ? `${row.nsPerMatch} ns (${row.matched})` : null;
  };
  return [
    ['subscriptions', ...segments.map((length) => `${length} segment${length === 1 ? '' : 's'} (matched)`)],
    ...sizes.map((size) => [formatNumber(size), ...segments.map((length) => cell(size, length))]),
  ];
}

/** Process CPU and busy share of the pinned core, server then load. */
function usage(used: ResourceUsage | null): Cell[] {
  if (!used) return [null, null, null, null];
  const pct = (value: number | null) => (value === null ? null : `${value}%`);
  return [
    pct(used.serverCpuPct),
    pct(used.serverCoreBusyPct),
    pct(used.loadCpuPct),
    pct(used.loadCoreBusyPct),
  ];
}

function goalsTable(goals: GoalCheck[]): Table {
  return [
    ['goal', 'target', 'measured', 'limit', 'status'],
    ...goals.map((goal) => [
      goal.goal,
      goal.target,
      goal.measured,
      goal.limit,
      goal.met === null ? 'no data' : goal.met ? 'met' : 'MISSED',
    ]),
  ];
}

/** Ratios of a figure to the same figure of socket.io and of ws. */
function referenceValues(targets: TargetResult[], pick: (target: TargetResult) => number | null) {
  const of = (name: string) => {
    const target = targets.find((candidate) => candidate.name === name);
    return target ? pick(target) : null;
  };
  return (value: number | null): Cell[] => [ratio(value, of('socket.io')), ratio(value, of('ws'))];
}

function layoutOf(targets: TargetResult[], shape: FanoutShape): string {
  return (
    targets.flatMap((target) => target.fanout).find((result) => result.shape === shape)?.layout ?? 'not run'
  );
}

function section(title: string, [header, ...rows]: Table): string[] {
  const text = (row: Cell[]) => row.map((cell) => (cell === null ? '-' : String(cell)));
  const headerText = text(header);
  const rowsText = rows.map(text);
  const widths = headerText.map((_, column) =>
    Math.max(...[headerText, ...rowsText].map((row) => row[column]?.length ?? 0)),
  );
  const render = (row: string[]) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return column === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ');
  return [
    title,
    render(headerText),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rowsText.map(render),
    '',
  ];
}

/** Whether any figure of the tables comes from a disturbed step. */
function anyDisturbed(targets: TargetResult[]): boolean {
  return targets
    .flatMap((target) => [
      ...target.fanout.map((fanout) => fanout.sweep),
      ...(target.inbound ? [target.inbound] : []),
    ])
    .some((sweep) => sweep.sustainable?.disturbed === true || sweep.atHalfReference?.disturbed === true);
}

/** A capacity the steps did not reach is only a lower bound. */
function atLeast(cell: string | null, sweep: SweepResult | null): string | null {
  return cell !== null && sweep?.belowCapacity ? `>= ${cell}` : cell;
}

/** Flags a figure whose step was disturbed by other processes in every attempt. */
function marked(cell: string | null, step: SweepStep | null): string | null {
  return cell !== null && step?.disturbed ? `${cell}${DISTURBED_MARK}` : cell;
}

function ratio(value: number | null, reference: number | null): string | null {
  return value === null || reference === null || reference === 0 ? null : `${(value / reference).toFixed(2)}`;
}

function formatNumber(value: number | null): string | null {
  return value === null ? null : Math.round(value).toLocaleString('en-US');
}

function ms(value: number | null): string | null {
  if (value === null) return null;
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value)} ms`;
}

function kib(bytes: number | null): string | null {
  return bytes === null ? null : `${(bytes / 1024).toFixed(2)} KiB`;
}

function percent(value: number): string {
  return `${(value * 100).toFixed(2)}%`;
}
