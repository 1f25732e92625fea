import type { BenchOptions } from './options.js';

/** What one connection may follow on `/presence` (`PRESENCE_MAX_SUBSCRIPTIONS`, default). */
export const SUBSCRIPTIONS_PER_OBSERVER = 1000;

/** A chat of the benchmark: who is in it and who sends to it. Members are client indexes. */
export interface RoomPlan {
  /** Stable name; the baselines use it as the chat id. */
  key: string;
  clients: number[];
  probes: number[];
  /** Members that take turns sending; the first one creates the chat on Switchboard. */
  senders: number[];
}

/**
 * Who is where, the same for every target: every connection is in the broadcast room, the
 * first `groupRooms × groupRoomSize` also in one group room each, the first `inboundSenders`
 * also alone in a room of their own. Probe `p` joins the broadcast room and group room `p`.
 */
export class BenchPlan {
  readonly broadcastRoom: RoomPlan;
  readonly groupRooms: RoomPlan[];
  readonly inboundRooms: RoomPlan[];

  constructor(readonly options: BenchOptions) {
    const { connections, probes, groupRooms, groupRoomSize, sendersPerRoom, inboundSenders } = options;
    const clients = range(0, connections);
    this.broadcastRoom = {
      key: 'broadcast',
      clients,
      probes: range(0, probes),
      senders: clients.slice(0, sendersPerRoom),
    };
    this.groupRooms = range(0, groupRooms).map((group) => {
      const members = range(group * groupRoomSize, (group + 1) * groupRoomSize);
      return {
        key: `group-${group}`,
        clients: members,
        probes: group < probes ? [group] : [],
        senders: members.slice(0, sendersPerRoom),
      };
    });
    this.inboundRooms = range(0, inboundSenders).map((client) => ({
      key: `inbound-${client}`,
      clients: [client],
      probes: [],
      senders: [client],
    }));
  }

  get rooms(): RoomPlan[] {
    return [this.broadcastRoom, ...this.groupRooms, ...this.inboundRooms];
  }

  /**
   * Every user of the benchmark: one per connection, one per probe and, for the reconnect wave,
   * one per presence observer.
   */
  get users(): string[] {
    return [
      ...this.broadcastRoom.clients.map((client) => this.clientUser(client)),
      ...this.broadcastRoom.probes.map((probe) => this.probeUser(probe)),
      ...range(0, this.waveObservers).map((observer) => this.observerUser(observer)),
    ];
  }

  /** The reconnect wave's users: the first `waveUsers` clients. */
  get waveClients(): number[] {
    return range(0, this.options.waveUsers);
  }

  /** The wave's clients that drop and come back: `waveDropped` of them, spread evenly. */
  get droppedClients(): number[] {
    const { waveUsers, waveDropped } = this.options;
    return this.waveClients.filter(
      (client) =>
        Math.floor(((client + 1) * waveDropped) / waveUsers) > Math.floor((client * waveDropped) / waveUsers),
    );
  }

  /** Connections on `/presence` that follow every user of the wave between them. */
  get waveObservers(): number {
    if (!this.options.phases.includes('reconnect-wave')) return 0;
    return Math.ceil(this.options.waveUsers / SUBSCRIPTIONS_PER_OBSERVER);
  }

  clientUser(client: number): string {
    return `bench-user-${client}`;
  }

  probeUser(probe: number): string {
    return `bench-probe-${probe}`;
  }

  observerUser(observer: number): string {
    return `bench-observer-${observer}`;
  }

  /** Room keys of a client, in the order of `rooms`. */
  roomsOfClient(client: number): string[] {
    const keys = [this.broadcastRoom.key];
    const groupRoom = this.groupRooms[Math.floor(client / this.options.groupRoomSize)];
    if (groupRoom) keys.push(groupRoom.key);
    const inboundRoom = this.inboundRooms[client];
    if (inboundRoom) keys.push(inboundRoom.key);
    return keys;
  }

  roomsOfProbe(probe: number): string[] {
    return this.rooms.filter((room) => room.probes.includes(probe)).map((room) => room.key);
  }

  /** Users of a room, creator (first sender) first. */
  usersOf(room: RoomPlan): [creator: string, ...others: string[]] {
    const [creator] = room.senders;
    if (creator === undefined) throw new Error(`Room ${room.key} has no sender to create it`);
    return [
      this.clientUser(creator),
      ...room.clients.filter((client) => client !== creator).map((client) => this.clientUser(client)),
      ...room.probes.map((probe) => this.probeUser(probe)),
    ];
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, index) => from + index);
}
