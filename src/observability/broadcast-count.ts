import type { Namespace } from 'socket.io';
import type { Telemetry } from './telemetry.js';

/** A broadcast packet as Socket.IO hands it to its adapter: `data` is `[event, ...args]`. */
interface BroadcastPacket {
  data?: unknown;
}

/**
 * Counts the namespace's broadcasts (`to(room).emit`, `local.emit`, a channel's emits) by event
 * name, once per emit whatever the recipients, on the instance that emitted it: the Redis
 * adapters deliver what other instances published through their parent's `broadcast`, which this
 * own property does not wrap.
 */
export function countBroadcasts(namespace: Namespace, telemetry: Telemetry): void {
  const { adapter } = namespace;
  // The sharded adapter's `broadcast` returns a promise: it is handed back untouched.
  const broadcast = adapter.broadcast.bind(adapter) as (packet: BroadcastPacket, options: unknown) => unknown;
  Reflect.set(adapter, 'broadcast', (packet: BroadcastPacket, options: unknown): unknown => {
    telemetry.eventOut(Array.isArray(packet.data) ? (packet.data as unknown[])[0] : undefined);
    return broadcast(packet, options);
  });
}
