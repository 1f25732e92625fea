import type { Socket } from 'socket.io-client';
import type { AckResponse, Envelope } from '../../src/common/envelope.js';
import {
  PRESENCE_NAMESPACE,
  PresenceEvent,
  PresenceLimits,
  type PresenceChange,
  type PresenceServerPayloads,
  type PresenceState,
} from '../../src/presence/presence.events.js';
import { connectReferenceClient } from './probe.js';

export type PresenceEventName = keyof PresenceServerPayloads;
export type PresenceEventCounts = Record<PresenceEventName, number>;

export const PRESENCE_EVENTS: PresenceEventName[] = [
  PresenceEvent.Online,
  PresenceEvent.Offline,
  PresenceEvent.Status,
];

export function noPresenceEvents(): PresenceEventCounts {
  return { [PresenceEvent.Online]: 0, [PresenceEvent.Offline]: 0, [PresenceEvent.Status]: 0 };
}

/**
 * A real socket.io-client on `/presence` that follows users (`presence:subscribe`) and counts
 * every `user:online`, `user:offline` and `user:status` it receives, as an application would.
 */
export class PresenceObserver {
  readonly received = noPresenceEvents();
  /** The users the events received were about. */
  readonly usersHeardOf = new Set<string>();

  private constructor(private readonly socket: Socket) {
    for (const event of PRESENCE_EVENTS) {
      socket.on(event, (message: Partial<Envelope<string, PresenceChange>>) => {
        this.received[event] += 1;
        const userId = message.data?.userId;
        if (typeof userId === 'string') this.usersHeardOf.add(userId);
      });
    }
  }

  static async connect(baseUrl: string, auth: object, timeoutMs: number): Promise<PresenceObserver> {
    return new PresenceObserver(
      await connectReferenceClient(`${baseUrl}${PRESENCE_NAMESPACE}`, auth, timeoutMs, 'presence observer'),
    );
  }

  /** Follows `userIds`, at most `PresenceLimits.maxIdsPerCall` per call; answers their states. */
  async subscribe(userIds: readonly string[], timeoutMs: number): Promise<PresenceState[]> {
    const states: PresenceState[] = [];
    for (let from = 0; from < userIds.length; from += PresenceLimits.maxIdsPerCall) {
      const batch = userIds.slice(from, from + PresenceLimits.maxIdsPerCall);
      const response = (await this.socket
        .timeout(timeoutMs)
        .emitWithAck(PresenceEvent.Subscribe, { userIds: batch })) as AckResponse<PresenceState[]>;
      if (!response.ok) {
        throw new Error(`presence:subscribe refused: ${response.error.code} ${response.error.message}`);
      }
      states.push(...response.data);
    }
    return states;
  }

  get total(): number {
    return PRESENCE_EVENTS.reduce((sum, event) => sum + this.received[event], 0);
  }

  close(): void {
    this.socket.close();
  }
}
