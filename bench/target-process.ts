import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { basename, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { ControlReply, ControlRequest, ProcessSample } from './targets/control.js';

/** The same for every target, so that no target runs with a different heap or GC. */
export const TARGET_NODE_FLAGS = ['--expose-gc'];

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;

export interface TargetLaunch {
  label: string;
  script: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** The CPU the server is pinned to, when pinning is available. */
  cpu: number | null;
  /** Where `--cpu-prof` writes the profile, when this target is profiled. */
  profileFile: string | null;
}

/** A target server in its own process, controlled over IPC: samples, then stop. */
export class TargetProcess {
  private nextSampleId = 0;
  private readonly pendingSamples = new Map<number, (sample: ProcessSample) => void>();
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (reply: ControlReply) => {
      if (reply.kind !== 'sample') return;
      this.pendingSamples.get(reply.id)?.(reply.sample);
      this.pendingSamples.delete(reply.id);
    });
    this.exited = exitCode(child);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('The target has no process id');
    return this.child.pid;
  }

  static async start(launch: TargetLaunch): Promise<TargetProcess> {
    const nodeFlags = [...TARGET_NODE_FLAGS];
    if (launch.profileFile) {
      nodeFlags.push(
        '--cpu-prof',
        `--cpu-prof-dir=${dirname(launch.profileFile)}`,
        `--cpu-prof-name=${basename(launch.profileFile)}`,
      );
    }
    // `taskset` execs node in place, so the pid and the IPC channel are node's own.
    const child =
      launch.cpu === null
        ? fork(launch.script, launch.args, {
            execArgv: nodeFlags,
            env: launch.env,
            cwd: launch.cwd,
            stdio: 'pipe',
          })
        : fork(launch.script, launch.args, {
            execPath: 'taskset',
            execArgv: ['-c', String(launch.cpu), process.execPath, ...nodeFlags],
            env: launch.env,
            cwd: launch.cwd,
            stdio: 'pipe',
          });
    prefixOutput(child, launch.label);
    const ready = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${launch.label} did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      child.on('message', (reply: ControlReply) => {
        if (reply.kind === 'ready') {
          clearTimeout(timer);
          resolve(reply.port);
        } else if (reply.kind === 'failed') {
          clearTimeout(timer);
          reject(new Error(`${launch.label} failed to start: ${reply.message}`));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${launch.label} exited with ${code} before it was ready`));
      });
    });
    try {
      return new TargetProcess(child, await ready);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** Memory and CPU time of the server; after two full collections when `collectGarbage`. */
  sample(collectGarbage: boolean): Promise<ProcessSample> {
    this.nextSampleId += 1;
    const id = this.nextSampleId;
    const request: ControlRequest = { kind: 'sample', id, collectGarbage };
    return new Promise((resolve) => {
      this.pendingSamples.set(id, resolve);
      this.child.send(request);
    });
  }

  /** Asks the server to close and exit (writing its CPU profile); kills it if it hangs. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const request: ControlRequest = { kind: 'stop' };
    this.child.send(request);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const code = await this.exited;
    clearTimeout(timer);
    if (code !== 0) process.stderr.write(`target ${this.pid} exited with ${code}\n`);
  }
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return once(child, 'exit').then(([code]) => code as number | null);
}

function prefixOutput(child: ChildProcess, label: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => process.stderr.write(`  [${label}] ${line}\n`));
  }
}
