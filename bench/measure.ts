import type { TargetDefinition } from './catalog.js';
import { measureEvents, releaseFleet, servesEvents } from './events.js';
import { connectFleet, type TargetWire } from './load/connect.js';
import type { Fleet } from './load/fleet.js';
import type { LightClient } from './load/light-client.js';
import { runReconnectWave, waveEvents } from './load/reconnect-wave.js';
import { ResourceMeter } from './load/resources.js';
import { runStep, type RoomTraffic } from './load/step.js';
import { measureStep, sweep, type SweepPlan, type SweepResult } from './load/sweep.js';
import type { MachineInfo } from './machine.js';
import type { BenchOptions, PhaseName } from './options.js';
import type { BenchPlan, RoomPlan } from './plan.js';
import { describeStep } from './report.js';
import type { FanoutShape, MemoryResult, TargetResult } from './results.js';
import { createChats, type BenchTokens } from './switchboard-setup.js';
import type { TargetProcess } from './target-process.js';
import { monotonicMicros } from './targets/control.js';
import { RAW_CHATS_PARAM, RAW_USER_PARAM, SEND_EVENT } from './wire.js';

export interface RunContext {
  options: BenchOptions;
  machine: MachineInfo;
  plan: BenchPlan;
  tokens: BenchTokens;
  /** Names this run's files in `bench/results`. */
  stamp: string;
  /** Bare Socket.IO's sustainable fan-out rate per shape (events included), once measured. */
  reference: Map<FanoutShape, number>;
}

/**
 * Runs the phases against one started target, filling `result` as each phase ends so that a
 * failure later on keeps what was measured: setup (Switchboard's chats over REST), connect,
 * idle memory, the fan-out sweeps, the inbound sweep, on Switchboard (presence) the reconnect
 * wave, and last the events phase on connections of its own (the chat fleet closed first).
 */
export async function measureTarget(
  definition: TargetDefinition,
  context: RunContext,
  target: TargetProcess,
  fleet: Fleet,
  result: TargetResult,
  ownPids: number[],
): Promise<void> {
  const { options, plan } = context;
  const baseUrl = `http://127.0.0.1:${target.port}`;
  const phase = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const fromMicros = monotonicMicros();
    try {
      return await run();
    } finally {
      result.phaseWindows.push({ phase: name, fromMicros, toMicros: monotonicMicros() });
    }
  };
  const startMeter = () => ResourceMeter.start(() => target.sample(false), context.machine.pinning, ownPids);
  const events = () => measureEvents(definition, context, target, startMeter, phase, result);
  const runsEvents = options.phases.includes('events') && servesEvents(definition);
  if (options.phases.every((name) => name === 'events')) {
    if (runsEvents) await events();
    return;
  }
  let chatIds = new Map(plan.rooms.map((room) => [room.key, room.key]));
  if (definition.switchboard) {
    const startedAt = Date.now();
    chatIds = await phase('setup', () => createChats(baseUrl, plan, context.tokens));
    result.setupSeconds = (Date.now() - startedAt) / 1000;
    process.stderr.write(`  created ${chatIds.size} chats over REST in ${result.setupSeconds} s\n`);
  }
  const baseline = await target.sample(true);
  const wire = wireOf(definition, context, baseUrl, chatIds);
  result.connect = await phase('connect', () =>
    connectFleet(
      fleet,
      wire,
      {
        connections: options.connections,
        concurrency: options.handshakeConcurrency,
        perAddress: options.connectionsPerAddress,
        probes: options.probes,
      },
      startMeter,
    ),
  );
  process.stderr.write(
    `  connect: ${result.connect.connectsPerS} connects/s, p99 ${result.connect.handshake.p99Ms} ms` +
      (definition.switchboard ? `, ${result.connect.presenceDeliveries} presence events on /chat` : '') +
      '\n',
  );

  if (options.phases.includes('memory')) {
    const loaded = await target.sample(true);
    const connections = fleet.clients.length + fleet.probes.length;
    const memory: MemoryResult = {
      connections,
      baselineRssBytes: baseline.rssBytes,
      rssBytes: loaded.rssBytes,
      baselineHeapUsedBytes: baseline.heapUsedBytes,
      heapUsedBytes: loaded.heapUsedBytes,
      rssPerConnectionBytes: Math.round((loaded.rssBytes - baseline.rssBytes) / connections),
      heapPerConnectionBytes: Math.round((loaded.heapUsedBytes - baseline.heapUsedBytes) / connections),
    };
    result.memory = memory;
    process.stderr.write(
      `  memory: ${(memory.rssPerConnectionBytes / 1024).toFixed(2)} KiB RSS and ` +
        `${(memory.heapPerConnectionBytes / 1024).toFixed(2)} KiB heap per connection\n`,
    );
  }

  let step = 0;
  const traffic = (rooms: RoomPlan[]): RoomTraffic[] =>
    rooms.map((room) => ({
      chatId: chatIdOf(chatIds, room.key),
      senders: room.senders.map((client) => connectedClient(fleet, client)),
      lightweightMembers: room.clients.length,
      probes: room.probes.map((probe) => fleet.probes[probe]).filter((probe) => probe !== undefined),
    }));
  const stepPlan = (
    label: string,
    unit: SweepPlan['unit'],
    event: string,
    rooms: RoomPlan[],
    rates: number[],
  ): SweepPlan => {
    const roomTraffic = traffic(rooms);
    const deliveriesPerMessage = rooms.reduce((total, room) => total + room.clients.length, 0) / rooms.length;
    const messagesPerS = (rate: number) => (unit === 'deliveries/s' ? rate / deliveriesPerMessage : rate);
    return {
      unit,
      event,
      rates,
      refineRatio: options.refineRatio,
      senders: rooms.reduce((total, room) => total + room.senders.length, 0),
      messagesPerS,
      measure: (rate, durationMs = options.stepMs) => {
        step += 1;
        return runStep(
          {
            step,
            event,
            rooms: roomTraffic,
            messagesPerS: messagesPerS(rate),
            durationMs,
            graceMs: options.graceMs,
            contentLength: options.contentLength,
          },
          fleet,
          startMeter,
        );
      },
      arrivedRatio: (measured) => (unit === 'deliveries/s' ? measured.deliveredRatio : measured.ackedRatio),
      report: (measured) => process.stderr.write(`${describeStep(label, unit, measured)}\n`),
    };
  };

  const shapes: { shape: FanoutShape; enabledBy: PhaseName; rooms: RoomPlan[] }[] = [
    { shape: 'room', enabledBy: 'fanout-room', rooms: [plan.broadcastRoom] },
    { shape: 'groups', enabledBy: 'fanout-groups', rooms: plan.groupRooms },
  ];
  for (const { shape, enabledBy, rooms } of shapes) {
    if (!options.phases.includes(enabledBy)) continue;
    const layout = `${rooms.length} x ${rooms[0]?.clients.length ?? 0}`;
    for (const event of definition.fanoutEvents) {
      const label = `fan-out ${shape} ${event}`;
      const sweepPlan = stepPlan(label, 'deliveries/s', event, rooms, options.fanoutSteps);
      const swept: SweepResult = await phase(label, () => sweep(sweepPlan));
      if (definition.name === 'socket.io' && swept.sustainable)
        context.reference.set(shape, swept.sustainable.rate);
      const reference = context.reference.get(shape);
      if (reference !== undefined) {
        swept.atHalfReference = await phase(`${label} at half socket.io`, () =>
          measureStep(sweepPlan, reference / 2, options.referenceStepMs),
        );
      }
      result.fanout.push({ shape, layout, sweep: swept });
    }
  }
  if (options.phases.includes('inbound')) {
    const inboundPlan = stepPlan(
      'inbound',
      'messages/s',
      SEND_EVENT,
      plan.inboundRooms,
      options.inboundSteps,
    );
    result.inbound = await phase('inbound', () => sweep(inboundPlan));
  }
  // Last: it replaces some of the fleet's connections. The baselines have no presence.
  if (options.phases.includes('reconnect-wave') && definition.switchboard) {
    const wave = await phase('reconnect-wave', () =>
      runReconnectWave(
        plan,
        fleet,
        wire,
        { concurrency: options.handshakeConcurrency, perAddress: options.connectionsPerAddress },
        () => target.sample(false),
        startMeter,
        (userId) => context.tokens.for(userId),
      ),
    );
    result.reconnectWave = wave;
    const events = waveEvents(wave);
    process.stderr.write(
      `  reconnect wave: ${wave.dropped} of ${wave.users} users back in ${wave.maxAwayMs} ms ` +
        `(grace ${wave.graceMs} ms); presence events observed ${events.observed}, told by the server ` +
        `${events.server}; server cpu ${wave.resources.serverCpuPct}% until back, ` +
        `${wave.watchServerCpuMs} ms over the ${wave.watchedMs / 1000} s watched\n`,
    );
  }
  if (runsEvents) {
    await releaseFleet(fleet, target);
    await events();
  }
}

function wireOf(
  definition: TargetDefinition,
  context: RunContext,
  baseUrl: string,
  chatIds: Map<string, string>,
): TargetWire {
  const { plan, tokens } = context;
  const chatsOf = (keys: string[]) => keys.map((key) => chatIdOf(chatIds, key));
  const socketIoUrl = `${baseUrl.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
  if (definition.protocol === 'raw') {
    return {
      protocol: 'raw',
      baseUrl,
      clientUrl: (client) => {
        const query = new URLSearchParams({
          [RAW_USER_PARAM]: plan.clientUser(client),
          [RAW_CHATS_PARAM]: chatsOf(plan.roomsOfClient(client)).join(','),
        });
        return `${baseUrl.replace('http', 'ws')}/?${query.toString()}`;
      },
      clientAuth: () => undefined,
      probeAuth: null,
    };
  }
  if (definition.switchboard) {
    return {
      protocol: 'socket-io',
      baseUrl,
      clientUrl: () => socketIoUrl,
      clientAuth: (client) => ({ token: tokens.for(plan.clientUser(client)) }),
      probeAuth: (probe) => ({ token: tokens.for(plan.probeUser(probe)) }),
    };
  }
  return {
    protocol: 'socket-io',
    baseUrl,
    clientUrl: () => socketIoUrl,
    clientAuth: (client) => ({
      userId: plan.clientUser(client),
      chatIds: chatsOf(plan.roomsOfClient(client)),
    }),
    probeAuth: (probe) => ({ userId: plan.probeUser(probe), chatIds: chatsOf(plan.roomsOfProbe(probe)) }),
  };
}

function connectedClient(fleet: Fleet, client: number): LightClient {
  const connected = fleet.clients[client];
  if (connected === undefined) throw new Error(`Client ${client} of the plan is not connected`);
  return connected;
}

function chatIdOf(chatIds: Map<string, string>, key: string): string {
  const chatId = chatIds.get(key);
  if (chatId === undefined) throw new Error(`No chat was created for room ${key}`);
  return chatId;
}
