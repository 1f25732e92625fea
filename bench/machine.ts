import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';

export interface Pinning {
  server: number;
  load: number;
}

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  node: string;
  platform: string;
  date: string;
  /** Soft limit on open files, which bounds the connections of each process. */
  openFilesLimit: number | null;
  /** CPUs of the server and of the load (and Redis); null when pinning is unavailable. */
  pinning: Pinning | null;
}

export function describeMachine(): MachineInfo {
  const cpuCount = availableParallelism();
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cpuCount,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    openFilesLimit: openFilesLimit(),
    pinning: cpuCount >= 2 && hasTaskset() ? { server: 0, load: 1 } : null,
  };
}

/** Moves this process (every thread, the libuv pool included) to `cpu`. */
export function pinSelf(cpu: number): void {
  const result = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], {
    stdio: 'ignore',
  });
  if (result.status !== 0) throw new Error(`taskset could not pin the load process to CPU ${cpu}`);
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

function openFilesLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    const result = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
    const soft = Number(result.stdout.trim());
    return result.status === 0 && Number.isInteger(soft) ? soft : null;
  }
}
