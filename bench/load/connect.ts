import { performance } from 'node:perf_hooks';
import { inPool } from '../pool.js';
import { Histogram, type LatencySummary } from './histogram.js';
import { LightClient, type WireProtocol } from './light-client.js';
import { Probe } from './probe.js';
import type { Fleet } from './fleet.js';
import type { ResourceMeter, ResourceUsage } from './resources.js';

export const HANDSHAKE_TIMEOUT_MS = 30_000;
const ERRORS_KEPT = 5;

/** How the load reaches one target. */
export interface TargetWire {
  protocol: WireProtocol;
  /** `http://127.0.0.1:<port>`. */
  baseUrl: string;
  clientUrl(client: number): string;
  /** The Socket.IO CONNECT payload of a client (token, or the baselines' rooms). */
  clientAuth(client: number): object | undefined;
  /** Null when the target does not speak Socket.IO, so no socket.io-client probe can join. */
  probeAuth: ((probe: number) => object) | null;
}

export interface ConnectResult {
  connections: number;
  seconds: number;
  connectsPerS: number;
  handshake: LatencySummary;
  probes: number;
  /** Over the lightweight connections' handshakes. */
  resources: ResourceUsage;
  /**
   * Presence events the lightweight clients received on `/chat` meanwhile: Switchboard tells each
   * user's coming online to the co-members of their chats of up to `PRESENCE_CHAT_MAX_MEMBERS`.
   */
  presenceDeliveries: number;
}

/**
 * Opens `connections` lightweight connections with `concurrency` handshakes in flight, each
 * from a source address of 127.0.x.y shared by at most `perAddress` connections, then the
 * probes (not timed). Handshake time runs from the TCP connect to the namespace CONNECT ack.
 * Any failed handshake fails the phase: later phases need every member in its rooms.
 */
export async function connectFleet(
  fleet: Fleet,
  wire: TargetWire,
  sizes: { connections: number; concurrency: number; perAddress: number; probes: number },
  startMeter: () => Promise<ResourceMeter>,
): Promise<ConnectResult> {
  const clients = new Array<LightClient | undefined>(sizes.connections);
  const meter = await startMeter();
  const presenceBefore = fleet.presenceDeliveries;
  const startedAt = performance.now();
  const { handshakes, failures, errors } = await connectClients(
    fleet,
    wire,
    Array.from({ length: sizes.connections }, (_, index) => index),
    sizes,
    (index, client) => (clients[index] = client),
  );
  const seconds = (performance.now() - startedAt) / 1000;
  const resources = await meter.stop();
  const presenceDeliveries = fleet.presenceDeliveries - presenceBefore;
  fleet.clients = clients.filter((client): client is LightClient => client !== undefined);
  if (failures > 0) {
    throw new Error(`${failures} of ${sizes.connections} connections failed: ${errors.join('; ')}`);
  }
  const probeAuth = wire.probeAuth;
  fleet.probes = probeAuth
    ? await Promise.all(
        Array.from({ length: sizes.probes }, (_, probe) =>
          Probe.connect(wire.baseUrl, probeAuth(probe), HANDSHAKE_TIMEOUT_MS),
        ),
      )
    : [];
  return {
    connections: sizes.connections,
    seconds: round(seconds),
    connectsPerS: Math.round(sizes.connections / seconds),
    handshake: handshakes.summary(),
    probes: fleet.probes.length,
    resources,
    presenceDeliveries,
  };
}

/**
 * Connects the fleet's clients `indexes`, `concurrency` handshakes in flight, handing each to
 * `connected`; answers their handshake times, and how many failed with the first few reasons.
 */
export async function connectClients(
  fleet: Fleet,
  wire: TargetWire,
  indexes: readonly number[],
  sizes: { concurrency: number; perAddress: number },
  connected: (index: number, client: LightClient) => void,
): Promise<{ handshakes: Histogram; failures: number; errors: string[] }> {
  const handshakes = new Histogram();
  const { failures, errors } = await openAll(
    indexes,
    sizes.concurrency,
    (index) =>
      LightClient.connect({
        url: wire.clientUrl(index),
        protocol: wire.protocol,
        auth: wire.clientAuth(index),
        localAddress: sourceAddress(index, sizes.perAddress),
        listener: fleet,
        timeoutMs: HANDSHAKE_TIMEOUT_MS,
      }),
    (index, { client, handshakeMs }) => {
      connected(index, client);
      handshakes.record(handshakeMs);
    },
  );
  return { handshakes, failures, errors };
}

/**
 * Opens one connection per item, `concurrency` at a time, handing each to `opened`; answers how
 * many failed, with the first few reasons.
 */
export async function openAll<Item, Connection>(
  items: readonly Item[],
  concurrency: number,
  open: (item: Item) => Promise<Connection>,
  opened: (item: Item, connection: Connection) => void,
): Promise<{ failures: number; errors: string[] }> {
  const errors = new Set<string>();
  let failures = 0;
  await inPool(items, concurrency, async (item) => {
    try {
      opened(item, await open(item));
    } catch (error) {
      failures += 1;
      if (errors.size < ERRORS_KEPT) errors.add(error instanceof Error ? error.message : String(error));
    }
  });
  return { failures, errors: [...errors] };
}

/** 127.0.x.y, a new one every `perAddress` connections, so no address runs out of ports. */
export function sourceAddress(client: number, perAddress: number): string {
  const slot = Math.floor(client / perAddress);
  return `127.0.${1 + Math.floor(slot / 254)}.${1 + (slot % 254)}`;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
