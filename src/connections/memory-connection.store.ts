import { ConnectionStore } from './connection.store.js';
import type { ConnectionRecord } from './connection.types.js';

/** The single-instance store: the process is the whole cluster. */
export class MemoryConnectionStore extends ConnectionStore {
  private readonly records = new Map<string, ConnectionRecord>();
  private readonly perUser = new Map<string, number>();

  constructor(private readonly instanceId: string) {
    super();
  }

  add(record: ConnectionRecord): Promise<void> {
    this.records.set(record.connectionId, record);
    this.perUser.set(record.userId, (this.perUser.get(record.userId) ?? 0) + 1);
    return Promise.resolve();
  }

  update(record: ConnectionRecord): Promise<void> {
    if (this.records.has(record.connectionId)) this.records.set(record.connectionId, record);
    return Promise.resolve();
  }

  remove(record: ConnectionRecord): Promise<void> {
    if (!this.records.delete(record.connectionId)) return Promise.resolve();
    const remaining = (this.perUser.get(record.userId) ?? 1) - 1;
    if (remaining > 0) this.perUser.set(record.userId, remaining);
    else this.perUser.delete(record.userId);
    return Promise.resolve();
  }

  async replaceAll(records: ConnectionRecord[]): Promise<void> {
    this.records.clear();
    this.perUser.clear();
    for (const record of records) await this.add(record);
  }

  heartbeat(): Promise<boolean> {
    return Promise.resolve(true);
  }

  countConnections(): Promise<number> {
    return Promise.resolve(this.records.size);
  }

  countUserConnections(userId: string): Promise<number> {
    return Promise.resolve(this.perUser.get(userId) ?? 0);
  }

  listConnections(): Promise<ConnectionRecord[]> {
    return Promise.resolve([...this.records.values()]);
  }

  liveInstanceIds(): Promise<string[]> {
    return Promise.resolve([this.instanceId]);
  }

  leave(): Promise<void> {
    this.records.clear();
    this.perUser.clear();
    return Promise.resolve();
  }
}
