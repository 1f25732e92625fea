import { Adapter, type BroadcastOptions, type Room } from 'socket.io-adapter';
import type { Envelope } from '../../src/common/envelope.js';

export interface Broadcast {
  event: string;
  data: unknown;
  /** The target rooms, sorted. */
  to: string[];
  /** The excluded rooms, sorted. */
  except: string[];
}

export interface RoomChange {
  /** The rooms whose sockets join or leave, sorted. */
  of: string[];
  rooms: Room[];
}

/**
 * Socket.IO's own in-memory adapter, noting every broadcast and room change it is asked for:
 * `new Server({ adapter: RecordingAdapter })`, then read `io.of(namespace).adapter`. Nothing
 * needs to listen, so a service can be tested on a server never attached to HTTP. Every
 * broadcast must be an `{ type, data, timestamp }` envelope whose type is its event.
 */
export class RecordingAdapter extends Adapter {
  readonly broadcasts: Broadcast[] = [];
  readonly joins: RoomChange[] = [];
  readonly leaves: RoomChange[] = [];

  override broadcast(packet: { data: [string, Envelope] }, options: BroadcastOptions): void {
    const [event, envelope] = packet.data;
    expect(envelope).toEqual({ type: event, data: expect.anything(), timestamp: expect.any(String) });
    this.broadcasts.push({
      event,
      data: envelope.data,
      to: sorted(options.rooms),
      except: sorted(options.except),
    });
    super.broadcast(packet, options);
  }

  override addSockets(options: BroadcastOptions, rooms: Room[]): void {
    this.joins.push({ of: sorted(options.rooms), rooms });
    super.addSockets(options, rooms);
  }

  override delSockets(options: BroadcastOptions, rooms: Room[]): void {
    this.leaves.push({ of: sorted(options.rooms), rooms });
    super.delSockets(options, rooms);
  }

  /** The event names broadcast so far, in order. */
  events(): string[] {
    return this.broadcasts.map((broadcast) => broadcast.event);
  }

  /** Forgets what was recorded so far. */
  reset(): void {
    this.broadcasts.length = 0;
    this.joins.length = 0;
    this.leaves.length = 0;
  }
}

function sorted(rooms: Set<Room> | undefined): string[] {
  return [...(rooms ?? [])].map(String).sort();
}
