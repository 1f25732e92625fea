import type { ConnectionRecord } from './connection.types.js';

/** What an add or a remove changed for the connection's user, across the whole cluster. */
export interface UserConnectionChange {
  /** The user's live connections anywhere once the write was made. */
  userConnections: number;
}

export interface InstanceHeartbeat {
  instanceId: string;
  lastBeatAt: number;
}

/**
 * Where the cluster-wide view of live connections is kept. Each instance writes its own
 * connections; readers see only instances whose heartbeat is younger than the TTL, so a
 * killed instance's connections drop out by themselves. Per-user and per-session indexes make
 * those lookups cost what that user or session has, not what the cluster has.
 */
export abstract class ConnectionStore {
  abstract add(record: ConnectionRecord): Promise<UserConnectionChange>;
  abstract update(record: ConnectionRecord): Promise<void>;
  abstract remove(record: ConnectionRecord): Promise<UserConnectionChange>;
  /** Rewrites this instance's whole view, after the store lost it (e.g. Redis restarted). */
  abstract replaceAll(records: ConnectionRecord[]): Promise<void>;
  /** Keeps this instance alive; resolves false when its entries were lost and need `replaceAll`. */
  abstract heartbeat(): Promise<boolean>;
  abstract countConnections(): Promise<number>;
  abstract countUserConnections(userId: string): Promise<number>;
  abstract listConnections(): Promise<ConnectionRecord[]>;
  abstract connectionsOfUser(userId: string): Promise<ConnectionRecord[]>;
  abstract connectionsOfSession(sessionId: string): Promise<ConnectionRecord[]>;
  abstract liveInstanceIds(): Promise<string[]>;
  /** Every instance seen lately (live or not) and when it last beat, in epoch milliseconds. */
  abstract instanceHeartbeats(): Promise<InstanceHeartbeat[]>;
  /**
   * The connections an instance published, readable for a while after its heartbeat stopped,
   * so that what a crashed instance held can be found.
   */
  abstract connectionsOfInstance(instanceId: string): Promise<ConnectionRecord[]>;
  /** Removes this instance's entries at shutdown, in one step. */
  abstract leave(records: ConnectionRecord[]): Promise<void>;
}
