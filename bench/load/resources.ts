import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Pinning } from '../machine.js';
import type { ProcessSample } from '../targets/control.js';

export interface ResourceUsage {
  /** CPU time of the server process over the window. */
  serverCpuMicros: number;
  /** CPU time of the server process, in % of one core. */
  serverCpuPct: number;
  /** CPU time of the load process, in % of one core. */
  loadCpuPct: number;
  /**
   * How busy the pinned CPUs were, kernel work for loopback TCP included (part of which no
   * process is charged for): the better sign of which side saturated. Null without pinning.
   */
  serverCoreBusyPct: number | null;
  loadCoreBusyPct: number | null;
  /**
   * CPU used by every other user-space process of the machine, in % of one core: anything
   * well above zero means the step was disturbed. Null where /proc is not available.
   */
  otherCpuPct: number | null;
}

/** /proc/<pid>/stat times are in clock ticks of this many microseconds (USER_HZ = 100). */
const MICROS_PER_TICK = 10_000;
/** The `flags` bit of kernel threads, whose work serves the benchmark's own traffic. */
const PF_KTHREAD = 0x00200000;

/** CPU use of the server, the load, their cores and everything else over one window. */
export class ResourceMeter {
  private constructor(
    private readonly sampleServer: () => Promise<ProcessSample>,
    private readonly pinning: Pinning | null,
    private readonly ownPids: ReadonlySet<number>,
    private readonly startedAt: number,
    private readonly serverStart: ProcessSample,
    private readonly loadStart: NodeJS.CpuUsage,
    private readonly coresStart: Map<number, CoreTimes> | null,
    private readonly othersStart: Map<number, number> | null,
  ) {}

  /** `ownPids`: the benchmark's processes (server, load, redis-server), not counted as others. */
  static async start(
    sampleServer: () => Promise<ProcessSample>,
    pinning: Pinning | null,
    ownPids: number[],
  ): Promise<ResourceMeter> {
    const serverStart = await sampleServer();
    const own = new Set(ownPids);
    return new ResourceMeter(
      sampleServer,
      pinning,
      own,
      performance.now(),
      serverStart,
      process.cpuUsage(),
      pinning ? readCoreTimes() : null,
      readOtherProcessTicks(own),
    );
  }

  async stop(): Promise<ResourceUsage> {
    const load = process.cpuUsage(this.loadStart);
    const cores = this.coresStart ? readCoreTimes() : null;
    const others = this.othersStart ? readOtherProcessTicks(this.ownPids) : null;
    const elapsedMicros = (performance.now() - this.startedAt) * 1000;
    // The server times its own samples: a busy server answers late, after the window closed here.
    const server = await this.sampleServer();
    const serverMicros = server.cpuMicros - this.serverStart.cpuMicros;
    const serverElapsedMicros = server.atMicros - this.serverStart.atMicros;
    const busy = (cpu: number | undefined) => {
      if (cpu === undefined || !cores || !this.coresStart) return null;
      const before = this.coresStart.get(cpu);
      const after = cores.get(cpu);
      if (!before || !after || after.total === before.total) return null;
      return percent((after.busy - before.busy) / (after.total - before.total));
    };
    return {
      serverCpuMicros: serverMicros,
      serverCpuPct: percent(serverMicros / serverElapsedMicros),
      loadCpuPct: percent((load.user + load.system) / elapsedMicros),
      serverCoreBusyPct: busy(this.pinning?.server),
      loadCoreBusyPct: busy(this.pinning?.load),
      otherCpuPct:
        others && this.othersStart
          ? percent((ticksSince(this.othersStart, others) * MICROS_PER_TICK) / elapsedMicros)
          : null,
    };
  }
}

interface CoreTimes {
  busy: number;
  total: number;
}

/** Per-CPU jiffies from /proc/stat; busy is everything but idle and iowait. */
function readCoreTimes(): Map<number, CoreTimes> | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const cores = new Map<number, CoreTimes>();
  for (const line of text.split('\n')) {
    const [, core, times] = /^cpu(\d+)\s+(.*)$/.exec(line) ?? [];
    if (core === undefined || times === undefined) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = times
      .split(/\s+/)
      .map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    cores.set(Number(core), { busy, total: busy + idle + iowait });
  }
  return cores;
}

/** User plus system ticks of every user-space process but `own`, by pid. */
function readOtherProcessTicks(own: ReadonlySet<number>): Map<number, number> | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  const ticks = new Map<number, number>();
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || own.has(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const flags = Number(fields[6]);
    if (flags & PF_KTHREAD) continue;
    ticks.set(pid, Number(fields[11]) + Number(fields[12]));
  }
  return ticks;
}

/** Processes that started during the window count in full; those that ended are missed. */
function ticksSince(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ticks] of after) total += Math.max(0, ticks - (before.get(pid) ?? 0));
  return total;
}

function percent(fraction: number): number {
  return Math.round(fraction * 1000) / 10;
}
