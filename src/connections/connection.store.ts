import type { ConnectionRecord } from './connection.types.js';

/**
 * Where the cluster-wide view of live connections is kept. Each instance writes its own
 * connections; readers see only instances whose heartbeat is younger than the TTL, so a
 * killed instance's connections drop out by themselves.
 */
export abstract class ConnectionStore {
  abstract add(record: ConnectionRecord): Promise<void>;
  abstract update(record: ConnectionRecord): Promise<void>;
  abstract remove(record: ConnectionRecord): Promise<void>;
  /** Rewrites this instance's whole view, after the store lost it (e.g. Redis restarted). */
  abstract replaceAll(records: ConnectionRecord[]): Promise<void>;
  /** Keeps this instance alive; resolves false when its entries were lost and need `replaceAll`. */
  abstract heartbeat(): Promise<boolean>;
  abstract countConnections(): Promise<number>;
  abstract countUserConnections(userId: string): Promise<number>;
  abstract listConnections(): Promise<ConnectionRecord[]>;
  abstract liveInstanceIds(): Promise<string[]>;
  /** Removes this instance's entries at shutdown. */
  abstract leave(): Promise<void>;
}
