import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { targetsToRun, type TargetDefinition } from './catalog.js';
import { checkGoals } from './goals.js';
import { Fleet } from './load/fleet.js';
import { describeMachine, pinSelf } from './machine.js';
import { measureTarget, type RunContext } from './measure.js';
import { fitWave, parseOptions, UsageError, type BenchOptions, type PhaseName } from './options.js';
import { measurePatternCost, PATTERN_INDEX_SIZES } from './pattern-cost.js';
import { BenchPlan } from './plan.js';
import { summarizeProfile } from './profile-summary.js';
import { RedisCluster, RedisServer, type BenchRedis } from './redis-server.js';
import { renderReport } from './report.js';
import type { BenchResult, TargetResult } from './results.js';
import { BenchTokens } from './switchboard-setup.js';
import { TargetProcess } from './target-process.js';

/** This file runs from dist/bench/bench/; the repository is three levels up. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RESULTS_DIRECTORY = join(ROOT, 'bench', 'results');
/** Descriptors a process needs beside its connections (listeners, pipes, SQLite, Redis). */
const SPARE_FILE_DESCRIPTORS = 256;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const machine = describeMachine();
  const adjustments = fitToFileLimit(options, machine.openFilesLimit);
  if (machine.pinning) pinSelf(machine.pinning.load);
  for (const [name, installed, needs] of [
    ['switchboard-redis', RedisServer.isInstalled(), 'redis-server'],
    ['switchboard-redis-cluster', RedisCluster.isInstalled(), 'redis-server and redis-cli'],
  ] as const) {
    if (!options.targets.includes(name) || installed) continue;
    const reason = `${needs} not installed: the ${name} target cannot run`;
    if (process.env.CI) throw new Error(reason);
    options.targets = options.targets.filter((target) => target !== name);
    adjustments.push(`${reason}; skipped`);
  }
  for (const adjustment of adjustments) process.stderr.write(`note: ${adjustment}\n`);
  const stamp = machine.date.replace(/[:.]/g, '-');
  const plan = new BenchPlan(options);
  const context: RunContext = {
    options,
    machine,
    plan,
    tokens: new BenchTokens(plan.users),
    stamp,
    reference: new Map(),
  };

  const definitions = targetsToRun(options);
  const unknownProfiles = options.profile.filter(
    (name) => !definitions.some((definition) => definition.name === name),
  );
  if (unknownProfiles.length > 0) {
    throw new UsageError(`--profile: ${unknownProfiles.join(', ')} is not among the targets of this run`);
  }
  const patternCost = options.phases.includes('events')
    ? measurePatternCost(PATTERN_INDEX_SIZES, options.patternCostMs)
    : null;
  const targets: TargetResult[] = [];
  for (const definition of definitions) {
    process.stderr.write(`\n== ${definition.name} ==\n`);
    targets.push(await runTarget(definition, context));
  }
  const result: BenchResult = {
    mode: options.smoke ? 'smoke' : 'full',
    machine,
    options,
    adjustments,
    targets,
    patternCost,
    goals: checkGoals(targets, patternCost),
  };
  const output = options.output ?? join(RESULTS_DIRECTORY, `${stamp}-${result.mode}.json`);
  mkdirSync(join(output, '..'), { recursive: true });
  writeFileSync(output, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(renderReport(result));
  process.stdout.write(`\nResults: ${relative(process.cwd(), output)}\n`);

  const problems = harnessProblems(result);
  if (problems.length > 0) {
    process.stderr.write(`\nThe harness did not work as it should:\n  - ${problems.join('\n  - ')}\n`);
    process.exitCode = 1;
  }
}

/** What makes the run unusable, whatever the figures: the smoke run in CI fails on these. */
function harnessProblems(result: BenchResult): string[] {
  const problems: string[] = [];
  for (const target of result.targets) {
    if (target.error) problems.push(`${target.name}: ${target.error}`);
    if (target.unexpectedCloses > 0)
      problems.push(`${target.name}: the server closed ${target.unexpectedCloses} connections`);
    const sweeps = [
      ...target.fanout.map((fanout) => fanout.sweep),
      ...(target.inbound ? [target.inbound] : []),
    ];
    for (const step of sweeps.flatMap((done) => [
      ...done.steps,
      ...(done.atHalfReference ? [done.atHalfReference] : []),
    ])) {
      if (step.probesAgree === false) {
        problems.push(
          `${target.name}: socket.io-client probes disagree with the lightweight clients at ${step.rate}`,
        );
      }
    }
    const wave = target.reconnectWave;
    if (wave && (!wave.withinGrace || wave.onlineBefore < wave.followed)) {
      problems.push(
        `${target.name}: the reconnect wave did not test the grace period ` +
          `(${wave.onlineBefore} of ${wave.followed} users online before it, ` +
          `back after ${wave.maxAwayMs} ms of a ${wave.graceMs} ms grace)`,
      );
    }
    // Tiny sizes pass every step: a phase without a figure means the phase itself is broken.
    if (result.mode === 'smoke') {
      for (const phase of result.options.phases) {
        if (!phaseRan(target, phase)) problems.push(`${target.name}: phase ${phase} produced no figure`);
      }
    }
  }
  return problems;
}

function phaseRan(target: TargetResult, phase: PhaseName): boolean {
  switch (phase) {
    case 'connect':
      return target.connect !== null;
    case 'memory':
      return target.memory !== null;
    case 'fanout-room':
      return target.fanout.some((fanout) => fanout.shape === 'room' && fanout.sweep.sustainable !== null);
    case 'fanout-groups':
      return target.fanout.some((fanout) => fanout.shape === 'groups' && fanout.sweep.sustainable !== null);
    case 'inbound':
      return target.inbound?.sustainable != null;
    case 'reconnect-wave':
      // Only Switchboard has presence; the baselines skip the phase.
      return !target.switchboard || target.reconnectWave !== null;
    case 'events':
      // Raw ws has no Socket.IO namespace to subscribe on; only Switchboard stores notifications.
      return (
        target.name === 'ws' ||
        (target.fanout.some((fanout) => fanout.shape === 'events' && fanout.sweep.sustainable !== null) &&
          (!target.switchboard || target.notify !== null))
      );
  }
}

/** Each process holds one descriptor per connection: keep under the soft limit. */
function fitToFileLimit(options: BenchOptions, limit: number | null): string[] {
  if (limit === null) return [];
  const room = limit - SPARE_FILE_DESCRIPTORS - options.probes;
  // The events phase's subscribers replace the fleet, which is closed before them.
  const adjustments: string[] = [];
  if (options.eventSubscribers > room) {
    adjustments.push(
      `event subscribers lowered from ${options.eventSubscribers} to ${room} to stay under the open-files limit of ${limit}`,
    );
    options.eventSubscribers = room;
  }
  if (options.connections <= room) return adjustments;
  if (room < options.groupRooms * options.groupRoomSize || room < 2) {
    throw new UsageError(
      `--connections ${options.connections} needs about ${options.connections + SPARE_FILE_DESCRIPTORS} open files ` +
        `per process; the limit is ${limit}. Raise it (ulimit -n) or lower --connections / --rooms.`,
    );
  }
  const asked = options.connections;
  options.connections = room;
  options.inboundSenders = Math.min(options.inboundSenders, room);
  fitWave(options, room);
  return [
    ...adjustments,
    `connections lowered from ${asked} to ${room} to stay under the open-files limit of ${limit}`,
  ];
}

async function runTarget(definition: TargetDefinition, context: RunContext): Promise<TargetResult> {
  const result: TargetResult = {
    name: definition.name,
    switchboard: definition.switchboard,
    perMessage: definition.perMessage,
    error: null,
    setupSeconds: null,
    connect: null,
    memory: null,
    fanout: [],
    inbound: null,
    notify: null,
    reconnectWave: null,
    unexpectedCloses: 0,
    strayDeliveries: 0,
    phaseWindows: [],
    profiles: [],
  };
  const profiled = context.options.profile.includes(definition.name);
  // Named *.json so that the results directory's ignore rule covers it.
  const profileFile = join(
    RESULTS_DIRECTORY,
    `${context.stamp}-${fileSafe(definition.name)}.cpuprofile.json`,
  );
  const dataDirectory = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const pinning = context.machine.pinning;
  let redis: BenchRedis | null = null;
  let target: TargetProcess | null = null;
  const fleet = new Fleet();
  try {
    const redisCpu = pinning?.load ?? null;
    redis =
      definition.redis === 'single'
        ? await RedisServer.start(redisCpu)
        : definition.redis === 'cluster'
          ? await RedisCluster.start(redisCpu)
          : null;
    target = await TargetProcess.start({
      label: definition.name,
      script: fileURLToPath(new URL(`./targets/${definition.script}`, import.meta.url)),
      args: definition.extraHandlers > 0 ? ['--extra-handlers', String(definition.extraHandlers)] : [],
      env: targetEnvironment(definition, context, dataDirectory, redis),
      cwd: dataDirectory,
      cpu: pinning?.server ?? null,
      profileFile: profiled ? profileFile : null,
    });
    const ownPids = [process.pid, target.pid, ...(redis?.pids ?? [])];
    await measureTarget(definition, context, target, fleet, result, ownPids);
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    process.stderr.write(`  ${definition.name} failed: ${result.error}\n`);
  } finally {
    result.unexpectedCloses += fleet.unexpectedCloses;
    result.strayDeliveries += fleet.strayDeliveries;
    fleet.close();
    await target?.stop();
    await redis?.stop();
    rmSync(dataDirectory, { recursive: true, force: true });
  }
  if (profiled) result.profiles = summarizeProfile(profileFile, ROOT, result.phaseWindows);
  return result;
}

function targetEnvironment(
  definition: TargetDefinition,
  context: RunContext,
  dataDirectory: string,
  redis: BenchRedis | null,
): Record<string, string> {
  const common = { PATH: process.env.PATH ?? '', NODE_ENV: 'production' };
  if (!definition.switchboard) return common;
  return {
    ...common,
    HOST: '127.0.0.1',
    PORT: '0',
    SERVER_ID: `bench-${fileSafe(definition.name)}`,
    LOG_LEVEL: 'warn',
    JWT_SECRET: context.tokens.secret,
    // The setup builds chats of thousands of members over REST from one user; REST is not measured.
    RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
    RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
    DATA_DIR: dataDirectory,
    DATABASE_URL: `sqlite:${join(dataDirectory, 'switchboard.db')}`,
    ...redis?.environment,
  };
}

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '-');
}

main().catch((error: unknown) => {
  if (error instanceof UsageError && error.requested) {
    process.stdout.write(error.message);
    return;
  }
  const text =
    error instanceof UsageError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  process.stderr.write(`${text}\n`);
  process.exit(1);
});
