import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  /** Microseconds of the monotonic clock. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A stretch of the run, on the monotonic clock V8 stamps samples with. */
export interface PhaseWindow {
  phase: string;
  fromMicros: number;
  toMicros: number;
}

export interface SelfTimeEntry {
  /** `function (file:line)`. */
  frame: string;
  selfMs: number;
  /** Of the profile's busy time (everything but `(idle)`). */
  percent: number;
}

export interface PackageShare {
  /** An npm package, a directory of the app (`src/<dir>`), `node` internals or a V8 bucket. */
  name: string;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  phase: string;
  busyMs: number;
  top: SelfTimeEntry[];
  /** Self time grouped by where the code lives. */
  byPackage: PackageShare[];
}

/**
 * Summarises a CPU profile (`node --cpu-prof`) once per phase window: the functions with the
 * most self time while that phase ran, and the packages they belong to.
 */
export function summarizeProfile(
  file: string,
  root: string,
  windows: PhaseWindow[],
  count = 20,
): ProfileSummary[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  return windows.map((window) => summarize(profile, relative(root, file), window, root, count));
}

function summarize(
  profile: CpuProfile,
  file: string,
  window: PhaseWindow,
  root: string,
  count: number,
): ProfileSummary {
  const frames = new Map(profile.nodes.map((node) => [node.id, frameName(node, root)]));
  const packages = new Map(profile.nodes.map((node) => [node.id, packageName(node)]));
  const selfMicros = new Map<string, number>();
  const packageMicros = new Map<string, number>();
  let sampledAt = profile.startTime;
  profile.samples.forEach((nodeId, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    sampledAt += delta;
    if (sampledAt < window.fromMicros || sampledAt > window.toMicros) return;
    const frame = frames.get(nodeId) ?? '(unknown)';
    selfMicros.set(frame, (selfMicros.get(frame) ?? 0) + delta);
    const where = packages.get(nodeId) ?? '(unknown)';
    packageMicros.set(where, (packageMicros.get(where) ?? 0) + delta);
  });
  selfMicros.delete('(idle)');
  packageMicros.delete('(idle)');
  const busyMicros = [...selfMicros.values()].reduce((total, micros) => total + micros, 0);
  const share = (micros: number) => (busyMicros === 0 ? 0 : Math.round((micros / busyMicros) * 1000) / 10);
  const top = [...selfMicros.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, micros]) => ({ frame, selfMs: Math.round(micros / 100) / 10, percent: share(micros) }));
  const byPackage = [...packageMicros.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, micros]) => ({ name, percent: share(micros) }));
  return { file, phase: window.phase, busyMs: Math.round(busyMicros / 1000), top, byPackage };
}

/**
 * `node_modules/<package>` (scoped or not, nested ones by their own name), `src/<dir>` for the
 * app, `node` for Node's own JavaScript, `(native)` for frames without a script (the syscalls
 * and builtins such as `writev`), and V8's own buckets such as `(garbage collector)`.
 */
function packageName({ callFrame }: CpuProfileNode): string {
  const { url, functionName } = callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [first = '', second = ''] = url.slice(modules + '/node_modules/'.length).split('/');
    return first.startsWith('@') ? `${first}/${second}` : first;
  }
  const app = /\/src\/([^/]+)\//.exec(url);
  if (app) return `src/${app[1]}`;
  return url.includes('/bench/') ? 'bench' : url;
}

function frameName({ callFrame }: CpuProfileNode, root: string): string {
  const name = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return name;
  const path = callFrame.url.startsWith('file://')
    ? relative(root, new URL(callFrame.url).pathname)
    : callFrame.url;
  return `${name} (${path}:${callFrame.lineNumber + 1})`;
}
