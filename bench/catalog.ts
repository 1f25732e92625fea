import type { WireProtocol } from './load/light-client.js';
import type { BaseTargetName, BenchOptions } from './options.js';
import { RELAY_EVENT, SEND_EVENT } from './wire.js';

export interface TargetDefinition {
  name: string;
  /** Compiled entry under `targets/`. */
  script: 'raw-ws.js' | 'socket-io.js' | 'switchboard.js';
  protocol: WireProtocol;
  switchboard: boolean;
  /** The Redis the target shares state through, started by the bench; none for in-memory. */
  redis: 'single' | 'cluster' | null;
  /** Handlers of the bench host gateway on `/chat`; 0 for none. */
  extraHandlers: number;
  /** The client events whose broadcasts the fan-out phases measure. */
  fanoutEvents: string[];
  /** What the server does for one `message:send`, for the reader of the results. */
  perMessage: string;
}

const SWITCHBOARD_PER_MESSAGE =
  'per-socket gate (token expiry, event rate), gateway dispatcher, ValidationPipe (SendMessageDto), ' +
  'AccessGuard, ChatService.sendMessage: content check, membership query, idempotent INSERT into SQLite, ' +
  "then to('chat:<id>').emit('message:new', envelope) through the adapter; acks the stored message";

const DEFINITIONS: Record<BaseTargetName, TargetDefinition> = {
  'socket.io': {
    name: 'socket.io',
    script: 'socket-io.js',
    protocol: 'socket-io',
    switchboard: false,
    redis: null,
    extraHandlers: 0,
    fanoutEvents: [SEND_EVENT],
    perMessage:
      "a message:send handler builds the message and calls to('chat:<id>').emit('message:new', envelope) " +
      '(encoded once, written to each member); acks it. No auth, validation or storage',
  },
  ws: {
    name: 'ws',
    script: 'raw-ws.js',
    protocol: 'raw',
    switchboard: false,
    redis: null,
    extraHandlers: 0,
    fanoutEvents: [SEND_EVENT],
    perMessage:
      'JSON.parse of the frame, builds the message, serializes ["message:new", envelope] once and ' +
      'ws.send()s it to each member of the room; acks it. No Engine.IO/Socket.IO framing or heartbeats',
  },
  switchboard: {
    name: 'switchboard',
    script: 'switchboard.js',
    protocol: 'socket-io',
    switchboard: true,
    redis: null,
    extraHandlers: 0,
    fanoutEvents: [SEND_EVENT],
    perMessage: `${SWITCHBOARD_PER_MESSAGE} (in-memory adapter)`,
  },
  'switchboard-redis': {
    name: 'switchboard-redis',
    script: 'switchboard.js',
    protocol: 'socket-io',
    switchboard: true,
    redis: 'single',
    extraHandlers: 0,
    fanoutEvents: [SEND_EVENT],
    perMessage: `${SWITCHBOARD_PER_MESSAGE}; the Redis adapter also PUBLISHes each broadcast to a local redis-server`,
  },
  'switchboard-redis-cluster': {
    name: 'switchboard-redis-cluster',
    script: 'switchboard.js',
    protocol: 'socket-io',
    switchboard: true,
    redis: 'cluster',
    extraHandlers: 0,
    fanoutEvents: [SEND_EVENT],
    perMessage: `${SWITCHBOARD_PER_MESSAGE}; the sharded Redis adapter also SPUBLISHes each broadcast to a three-master Redis Cluster`,
  },
};

/** Bare Socket.IO first: the other targets' latency is measured at half of its capacity. */
export function targetsToRun(options: BenchOptions): TargetDefinition[] {
  const chosen = [...options.targets].sort((a, b) => Number(b === 'socket.io') - Number(a === 'socket.io'));
  const definitions = chosen.map((name) => DEFINITIONS[name]);
  if (options.extraHandlers !== null) {
    const handlers = options.extraHandlers;
    definitions.push({
      ...DEFINITIONS.switchboard,
      name: `switchboard+${handlers}h`,
      extraHandlers: handlers,
      fanoutEvents: [SEND_EVENT, RELAY_EVENT],
      perMessage:
        `${DEFINITIONS.switchboard.perMessage}. A host gateway of ${handlers} handlers is on /chat too; ` +
        `its ${RELAY_EVENT} goes through the same gate, pipes and guard, then emits the same message:new ` +
        'to the room with neither the membership query nor storage',
    });
  }
  return definitions;
}
