import { ConnectionStore, type InstanceHeartbeat, type UserConnectionChange } from './connection.store.js';
import type { ConnectionRecord } from './connection.types.js';

/** The single-instance store: the process is the whole cluster. */
export class MemoryConnectionStore extends ConnectionStore {
  private readonly records = new Map<string, ConnectionRecord>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly bySession = new Map<string, Set<string>>();

  constructor(private readonly instanceId: string) {
    super();
  }

  add(record: ConnectionRecord): Promise<UserConnectionChange> {
    this.records.set(record.connectionId, record);
    addTo(this.byUser, record.userId, record.connectionId);
    addTo(this.bySession, record.sessionId, record.connectionId);
    return Promise.resolve({ userConnections: this.byUser.get(record.userId)?.size ?? 0 });
  }

  update(record: ConnectionRecord): Promise<void> {
    if (this.records.has(record.connectionId)) this.records.set(record.connectionId, record);
    return Promise.resolve();
  }

  remove(record: ConnectionRecord): Promise<UserConnectionChange> {
    if (this.records.delete(record.connectionId)) {
      removeFrom(this.byUser, record.userId, record.connectionId);
      removeFrom(this.bySession, record.sessionId, record.connectionId);
    }
    return Promise.resolve({ userConnections: this.byUser.get(record.userId)?.size ?? 0 });
  }

  async replaceAll(records: ConnectionRecord[]): Promise<void> {
    this.clear();
    for (const record of records) await this.add(record);
  }

  heartbeat(): Promise<boolean> {
    return Promise.resolve(true);
  }

  countConnections(): Promise<number> {
    return Promise.resolve(this.records.size);
  }

  countUserConnections(userId: string): Promise<number> {
    return Promise.resolve(this.byUser.get(userId)?.size ?? 0);
  }

  listConnections(): Promise<ConnectionRecord[]> {
    return Promise.resolve([...this.records.values()]);
  }

  connectionsOfUser(userId: string): Promise<ConnectionRecord[]> {
    return Promise.resolve(this.recordsOf(this.byUser.get(userId)));
  }

  connectionsOfSession(sessionId: string): Promise<ConnectionRecord[]> {
    return Promise.resolve(this.recordsOf(this.bySession.get(sessionId)));
  }

  liveInstanceIds(): Promise<string[]> {
    return Promise.resolve([this.instanceId]);
  }

  instanceHeartbeats(): Promise<InstanceHeartbeat[]> {
    return Promise.resolve([{ instanceId: this.instanceId, lastBeatAt: Date.now() }]);
  }

  connectionsOfInstance(instanceId: string): Promise<ConnectionRecord[]> {
    return Promise.resolve(instanceId === this.instanceId ? [...this.records.values()] : []);
  }

  leave(): Promise<void> {
    this.clear();
    return Promise.resolve();
  }

  private recordsOf(connectionIds: Set<string> | undefined): ConnectionRecord[] {
    return [...(connectionIds ?? [])].flatMap((id) => {
      const record = this.records.get(id);
      return record ? [record] : [];
    });
  }

  private clear(): void {
    this.records.clear();
    this.byUser.clear();
    this.bySession.clear();
  }
}

function addTo(index: Map<string, Set<string>>, key: string, connectionId: string): void {
  const ids = index.get(key);
  if (ids) ids.add(connectionId);
  else index.set(key, new Set([connectionId]));
}

function removeFrom(index: Map<string, Set<string>>, key: string, connectionId: string): void {
  const ids = index.get(key);
  ids?.delete(connectionId);
  if (ids?.size === 0) index.delete(key);
}
