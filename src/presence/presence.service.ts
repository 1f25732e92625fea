import { BeforeApplicationShutdown, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Subject, type Observable } from 'rxjs';
import type { Principal } from '../auth/principal.js';
import { hasAnyRole, Role } from '../auth/roles.js';
import { ChatMembership, type MemberChat } from '../chat/chat-membership.js';
import { BatchWindow } from '../common/batch-window.js';
import { chunks } from '../common/chunks.js';
import { Clock } from '../common/clock.js';
import { errorMessage, guarded } from '../common/failure-log.js';
import { AppConfig } from '../config/app-config.js';
import { ConnectionLifecycle } from '../connections/connection-lifecycle.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import type { InstanceHeartbeat } from '../connections/connection.store.js';
import type { RealtimeChannel } from '../realtime/realtime-channel.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { userRoom } from '../realtime/rooms.js';
import {
  PRESENCE_NAMESPACE,
  PresenceEvent,
  type ChosenStatus,
  type PresenceChange,
  type PresenceServerPayloads,
  type PresenceState,
} from './presence.events.js';
import { PresenceRepository, type StoredPresence } from './presence.repository.js';
import { PresenceStateStore } from './presence-state.store.js';

/** Who asks: any `Principal` will do, and so will an importing service's own user. */
export type PresenceViewer = Pick<Principal, 'userId' | 'roles'>;

/** A change as others see it, with the event that told it. */
export interface PresenceUpdate extends PresenceChange {
  event: keyof PresenceServerPayloads;
}

/** The sockets on `/presence` that follow a user (`presence:subscribe`). */
export function presenceRoom(userId: string): string {
  return `presence:${userId}`;
}

/** Users whose announcements are prepared together (their stored states and chats read at once). */
const ANNOUNCE_CHUNK = 500;

/**
 * What is to be told of a user: that they arrived (their stored status, read when the batch
 * goes, decides what others see), or a change already known.
 */
type Announcement = { arrived: true } | { arrived: false; update: PresenceUpdate };

/** How often leaving users, lost state and crashed instances are looked at, at most. */
const MAX_TICK_MS = 1000;
const MIN_TICK_MS = 100;

/**
 * Presence (docs/protocol.md, Presence). A user is online while they have a connection on any
 * instance (the connection registry counts them cluster-wide). When the last one closes, the user
 * is `leaving`; `user:offline` follows once `PRESENCE_GRACE_MS` passes without a reconnect,
 * written and told by exactly one instance (the state store arbitrates). A crashed instance's
 * users are found from what it published and taken offline within `PRESENCE_TTL_MS` (plus one
 * tick) of its last heartbeat, the grace counted inside that budget.
 *
 * Chosen statuses and last-seen times are stored. `invisible` looks like `offline` to everyone
 * but the user, with the last-seen time of the moment they went invisible.
 */
@Injectable()
export class PresenceService implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger(PresenceService.name);
  private readonly channel: RealtimeChannel<PresenceServerPayloads>;
  private readonly updates = new Subject<PresenceUpdate>();
  private membership: ChatMembership | null = null;
  private readonly stopListening: (() => void)[] = [];
  private timer?: NodeJS.Timeout;
  private tickMs = MAX_TICK_MS;
  private ticking = false;
  /**
   * Transitions seen while the state store was unreachable, retried at each tick until stored:
   * users who connected, and users whose last connection closed (with when).
   */
  private readonly pendingArrivals = new Set<string>();
  private readonly pendingLeaves = new Map<string, number>();
  /** The last time a tick failed on Redis: crashed instances are looked for only on a steady path. */
  private lastFailureAt: number;
  /** Dead instances already swept, with the heartbeat they died after. */
  private readonly swept = new Map<string, number>();
  /** A tick failed since the online users were last checked against their connections. */
  private unreconciled = false;
  /** Changes are told in batches (docs/protocol.md, Presence, Batches). */
  private readonly announcements: BatchWindow<string, Announcement>;

  constructor(
    private readonly repository: PresenceRepository,
    private readonly state: PresenceStateStore,
    private readonly registry: ConnectionRegistry,
    private readonly lifecycle: ConnectionLifecycle,
    private readonly realtime: RealtimeServer,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly moduleRef: ModuleRef,
  ) {
    this.channel = realtime.channel<PresenceServerPayloads>(PRESENCE_NAMESPACE);
    this.lastFailureAt = clock.now();
    this.announcements = new BatchWindow<string, Announcement>({
      gatherMs: config.presence.batchMs,
      merge: mergeAnnouncements,
      deliver: (batch) => this.announce(batch),
      onFailure: (error) => this.logger.warn(`Could not tell presence changes: ${errorMessage(error)}`),
    });
  }

  /** Changes as other users see them (an invisible user's are never in it). */
  get changes(): Observable<PresenceUpdate> {
    return this.updates.asObservable();
  }

  onModuleInit(): void {
    this.membership = this.chatMembership();
    this.stopListening.push(
      this.lifecycle.on('userConnected', (userId) => this.arrived(userId)),
      this.lifecycle.on('userDisconnected', (userId) => this.left(userId, this.clock.now())),
    );
    const { graceMs } = this.config.presence;
    this.tickMs = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(graceMs / 4)));
    this.timer = setInterval(
      guarded('look after presence', () => this.tick()),
      this.tickMs,
    );
    this.timer.unref();
  }

  /**
   * An instance that shuts down closes its sockets without the registry counting each one:
   * its users start leaving here, and whichever instance looks next takes offline those who
   * have no connection elsewhere once the grace passes.
   */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.announcements.flush();
    const now = this.clock.now();
    await Promise.allSettled(
      this.registry.localUserIds().map((userId) => this.state.markLeaving(userId, now)),
    );
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.announcements.close();
    for (const stop of this.stopListening.splice(0)) stop();
    this.updates.complete();
  }

  /** Chat's port when the chat module is there; without it, co-members are simply not told. */
  private chatMembership(): ChatMembership | null {
    try {
      return this.moduleRef.get(ChatMembership, { strict: false });
    } catch {
      return null;
    }
  }

  /** The state as the user sees it (an invisible user is `invisible`), connections included. */
  async statusOf(userId: string): Promise<PresenceState> {
    const [state] = await this.statesOf([userId], { userId, roles: [] });
    return state ?? offlineStranger(userId);
  }

  stateFor(viewer: PresenceViewer, userId: string): Promise<PresenceState> {
    return this.query(viewer, [userId]).then(([state]) => state ?? offlineStranger(userId));
  }

  /** The viewer's view of each user, in the order asked, each once. */
  async query(viewer: PresenceViewer, userIds: readonly string[]): Promise<PresenceState[]> {
    const unique = [...new Set(userIds)];
    const visible = new Set(await this.followable(viewer, unique));
    const states = new Map(
      (
        await this.statesOf(
          unique.filter((userId) => visible.has(userId)),
          viewer,
        )
      ).map((state) => [state.userId, state]),
    );
    return unique.map((userId) => states.get(userId) ?? offlineStranger(userId));
  }

  /** Of `userIds`, those the viewer may follow and query (`PRESENCE_VISIBILITY`). */
  async followable(viewer: PresenceViewer, userIds: readonly string[]): Promise<string[]> {
    if (this.config.presence.visibility === 'all' || isAdministrator(viewer)) return [...userIds];
    const sharing = new Set(
      this.membership ? await this.membership.sharingAChat(viewer.userId, userIds) : [],
    );
    return userIds.filter((userId) => userId === viewer.userId || sharing.has(userId));
  }

  /**
   * Stores the chosen status and tells it: to everyone who may hear as the status (or as
   * `user:offline` / `user:online` when the user turns invisible or visible again), and to the
   * user's own devices as it is. Answers the caller's own state.
   */
  async setStatus(actor: PresenceViewer, status: ChosenStatus): Promise<PresenceState> {
    const { userId } = actor;
    const before = await this.storedOf(userId);
    const now = new Date(this.clock.now());
    const [connections = 0] = await this.liveConnectionCounts([userId]);
    const online = connections > 0;
    const turningInvisible = status === 'invisible' && before.status !== 'invisible';
    // Others keep seeing the moment an online user went invisible as their last-seen time.
    await this.repository.setStatus(userId, status, turningInvisible && online ? now : undefined);
    if (online && status !== before.status) {
      if (turningInvisible) {
        this.tellOthers(PresenceEvent.Offline, { userId, status: 'offline', lastSeenAt: now.toISOString() });
      } else if (before.status === 'invisible') {
        this.tellOthers(PresenceEvent.Online, { userId, status, lastSeenAt: iso(before.lastSeenAt) });
      } else {
        this.tellOthers(PresenceEvent.Status, { userId, status, lastSeenAt: iso(before.lastSeenAt) });
      }
    }
    const own = await this.statusOf(userId);
    this.channel.emit({ rooms: userRoom(userId) }, PresenceEvent.Status, toChange(own));
    return own;
  }

  /** Records a transition, or keeps it for the next tick when the state store cannot be reached. */
  private async arrived(userId: string): Promise<void> {
    this.pendingLeaves.delete(userId);
    try {
      await this.connected(userId);
      this.pendingArrivals.delete(userId);
    } catch (error) {
      this.pendingArrivals.add(userId);
      throw error;
    }
  }

  private async left(userId: string, leftAt: number): Promise<void> {
    this.pendingArrivals.delete(userId);
    try {
      await this.state.markLeaving(userId, leftAt);
      this.pendingLeaves.delete(userId);
    } catch (error) {
      this.pendingLeaves.set(userId, leftAt);
      throw error;
    }
  }

  private async replayPending(): Promise<void> {
    for (const userId of [...this.pendingArrivals]) await this.arrived(userId);
    for (const [userId, leftAt] of [...this.pendingLeaves]) await this.left(userId, leftAt);
  }

  private async connected(userId: string): Promise<void> {
    if (await this.state.markOnline(userId)) this.announcements.add(userId, { arrived: true });
  }

  /** Takes a user offline if this instance wins the race; `leftAt` is when they were last seen. */
  private async disconnected(userId: string, leftAt: number): Promise<void> {
    if (!(await this.state.markOffline(userId))) return;
    const stored = await this.storedOf(userId);
    // An invisible user already looks offline, seen last when they went invisible.
    if (stored.status === 'invisible') return;
    const lastSeenAt = new Date(leftAt);
    await this.repository.recordLastSeen(userId, lastSeenAt);
    this.tellOthers(PresenceEvent.Offline, {
      userId,
      status: 'offline',
      lastSeenAt: lastSeenAt.toISOString(),
    });
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.restoreLostState();
      await this.replayPending();
      await this.endGracePeriods();
      await this.sweepCrashedInstances();
    } catch (error) {
      this.lastFailureAt = this.clock.now();
      this.unreconciled = true;
      this.logger.warn(`Presence upkeep failed: ${errorMessage(error)}`);
    } finally {
      this.ticking = false;
    }
  }

  private async endGracePeriods(): Promise<void> {
    const now = this.clock.now();
    for (const { userId, leftAt } of await this.state.leavingSince(now - this.config.presence.graceMs)) {
      const [connections = 0] = await this.liveConnectionCounts([userId]);
      if (connections > 0) await this.state.keepOnline(userId);
      else await this.disconnected(userId, leftAt);
    }
  }

  /** After Redis lost its state, puts this instance's users back, silently: nothing changed for them. */
  private async restoreLostState(): Promise<void> {
    if (await this.state.holdsStateOf(this.registry.serverId)) return;
    await this.state.restore(this.registry.localUserIds());
  }

  /**
   * An instance whose heartbeat is older than the TTL crashed: its users who have no connection
   * elsewhere go offline at once, last seen at its last heartbeat. One live instance (the first
   * by id) looks, and only on a path that has been steady for a TTL, since right after a Redis
   * outage every heartbeat looks old until the instances beat again.
   */
  private async sweepCrashedInstances(): Promise<void> {
    const { ttlMs } = this.config.presence;
    const now = this.clock.now();
    if (now - this.lastFailureAt < ttlMs) return;
    const live = (await this.registry.liveInstanceIds()).sort();
    if (live[0] !== this.registry.serverId) return;
    if (this.unreconciled) await this.reconcileOnlineUsers();
    const heartbeats = await this.registry.instanceHeartbeats();
    for (const instanceId of this.swept.keys()) {
      if (!heartbeats.some((beat) => beat.instanceId === instanceId)) this.swept.delete(instanceId);
    }
    const deadBefore = this.deadBefore(now);
    for (const { instanceId, lastBeatAt } of heartbeats) {
      if (lastBeatAt >= deadBefore || this.swept.get(instanceId) === lastBeatAt) continue;
      const users = new Set(
        (await this.registry.connectionsOfInstance(instanceId)).map((record) => record.userId),
      );
      for (const userId of users) {
        const [connections = 0] = await this.liveConnectionCounts([userId], heartbeats);
        if (connections > 0) continue;
        await this.state.markLeaving(userId, lastBeatAt);
        await this.disconnected(userId, lastBeatAt);
      }
      this.swept.set(instanceId, lastBeatAt);
      if (users.size > 0)
        this.logger.log(
          `Instance ${instanceId} stopped beating; took ${users.size} of its users' presence in hand`,
        );
    }
  }

  /**
   * While Redis was unreachable, closed connections could not be counted and their users never
   * started leaving: once the path is steady again, every user announced online without a
   * connection starts leaving now.
   */
  private async reconcileOnlineUsers(): Promise<void> {
    const leaving = new Set(
      (await this.state.leavingSince(Number.POSITIVE_INFINITY)).map((user) => user.userId),
    );
    let stale = 0;
    for (const userId of await this.state.onlineUsers()) {
      if (leaving.has(userId)) continue;
      const [connections = 0] = await this.liveConnectionCounts([userId]);
      if (connections > 0) continue;
      await this.state.markLeaving(userId, this.clock.now());
      stale += 1;
    }
    this.unreconciled = false;
    if (stale > 0)
      this.logger.log(`${stale} users had no connection left after a Redis outage; they are leaving`);
  }

  /** Tells a change to those who may hear it, with the next batch. */
  private tellOthers(event: keyof PresenceServerPayloads, change: PresenceChange): void {
    this.announcements.add(change.userId, { arrived: false, update: { event, ...change } });
  }

  /**
   * Tells a batch of changes: arrivals as the users' stored statuses say (an invisible user's
   * not at all), each change to the followers on `/presence`, and to co-members of the user's
   * chats up to `PRESENCE_CHAT_MAX_MEMBERS`, on `/presence` and on `/chat`. The emits of a chunk
   * leave in one turn, so a socket told of many users gets them in one write. A change is not
   * told to users who arrived after it in the same batch: they were not connected when it
   * happened, exactly as if it had been told at once.
   */
  private async announce(batch: Map<string, Announcement>): Promise<void> {
    const laterArrivals = new Set(
      [...batch].filter(([, announcement]) => announcement.arrived).map(([userId]) => userId),
    );
    for (const chunk of chunks([...batch], ANNOUNCE_CHUNK)) {
      const arrivals = chunk.filter(([, announcement]) => announcement.arrived).map(([userId]) => userId);
      const stored =
        arrivals.length > 0 ? await this.repository.find(arrivals) : new Map<string, StoredPresence>();
      const updates: PresenceUpdate[] = [];
      for (const [userId, announcement] of chunk) {
        if (!announcement.arrived) {
          updates.push(announcement.update);
          continue;
        }
        const { status, lastSeenAt } = stored.get(userId) ?? { status: 'online' as const, lastSeenAt: null };
        if (status !== 'invisible') {
          updates.push({ event: PresenceEvent.Online, userId, status, lastSeenAt: iso(lastSeenAt) });
        }
      }
      const chats = await this.smallChatsOf(updates.map((update) => update.userId));
      const toldAt = new Map(updates.map((update) => [update.userId, update]));
      for (const [userId] of chunk) {
        laterArrivals.delete(userId);
        const update = toldAt.get(userId);
        if (update) this.tell(update, chats.get(userId) ?? [], laterArrivals);
      }
    }
  }

  private tell(
    { event, ...change }: PresenceUpdate,
    chats: readonly MemberChat[],
    laterArrivals: ReadonlySet<string>,
  ): void {
    this.updates.next({ event, ...change });
    const coMembers = new Set(chats.flatMap((chat) => chat.memberIds));
    coMembers.delete(change.userId);
    const except = [change.userId, ...arrivedSince(coMembers, laterArrivals)].map(userRoom);
    this.channel.emit(
      { rooms: [presenceRoom(change.userId), ...[...coMembers].map(userRoom)], except },
      event,
      change,
    );
    if (this.membership && chats.length > 0) {
      const { namespace, audience } = this.membership.audienceOf(chats.map((chat) => chat.chatId));
      this.realtime.channel<PresenceServerPayloads>(namespace).emit({ ...audience, except }, event, change);
    }
  }

  private async smallChatsOf(userIds: readonly string[]): Promise<Map<string, MemberChat[]>> {
    const { chatMaxMembers } = this.config.presence;
    if (!this.membership || chatMaxMembers === 0 || userIds.length === 0) return new Map();
    return this.membership.smallChatsOf(userIds, chatMaxMembers);
  }

  /**
   * A live instance beats every third of the TTL: one silent for the TTL less a tick is gone, so
   * that its users are found within the TTL of its last beat (the registry waits the full TTL
   * before it stops counting it).
   */
  private deadBefore(now: number): number {
    return now - (this.config.presence.ttlMs - this.tickMs);
  }

  /** Each user's connections on instances this service holds alive (see `deadBefore`). */
  private async liveConnectionCounts(
    userIds: readonly string[],
    heartbeats?: readonly InstanceHeartbeat[],
  ): Promise<number[]> {
    const beats = heartbeats ?? (await this.registry.instanceHeartbeats());
    const deadBefore = this.deadBefore(this.clock.now());
    const live = new Set(
      beats.filter((beat) => beat.lastBeatAt >= deadBefore).map((beat) => beat.instanceId),
    );
    live.add(this.registry.serverId);
    return Promise.all(
      userIds.map(
        async (userId) =>
          (await this.registry.connectionsOfUser(userId)).filter((record) => live.has(record.instanceId))
            .length,
      ),
    );
  }

  private async storedOf(userId: string): Promise<StoredPresence> {
    return (await this.repository.find([userId])).get(userId) ?? { status: 'online', lastSeenAt: null };
  }

  /** The states of users the viewer may see, as the viewer may see them. */
  private async statesOf(userIds: readonly string[], viewer: PresenceViewer): Promise<PresenceState[]> {
    if (userIds.length === 0) return [];
    const [stored, online, counts] = await Promise.all([
      this.repository.find(userIds),
      this.state.onlineAmong(userIds),
      this.liveConnectionCounts(userIds),
    ]);
    return userIds.map((userId, index) => {
      const { status, lastSeenAt } = stored.get(userId) ?? { status: 'online' as const, lastSeenAt: null };
      const connections = counts[index] ?? 0;
      const isOnline = connections > 0 || online.has(userId);
      const self = viewer.userId === userId;
      const trusted = self || isAdministrator(viewer);
      // No one but the user learns that they are invisible rather than gone, admins included.
      if (!self && status === 'invisible') {
        return { userId, status: 'offline', online: false, lastSeenAt: iso(lastSeenAt) };
      }
      return {
        userId,
        status: isOnline ? status : 'offline',
        online: isOnline,
        lastSeenAt: iso(lastSeenAt),
        ...(trusted ? { connections } : {}),
      };
    });
  }
}

/** The co-members who arrived after a change (looked up from the smaller side). */
function arrivedSince(coMembers: ReadonlySet<string>, laterArrivals: ReadonlySet<string>): string[] {
  if (laterArrivals.size <= coMembers.size)
    return [...laterArrivals].filter((userId) => coMembers.has(userId));
  return [...coMembers].filter((userId) => laterArrivals.has(userId));
}

/**
 * A user's later change replaces an earlier one in the same batch, except that an arrival stays
 * an arrival: others who saw the user offline learn they are online, with the later status.
 */
function mergeAnnouncements(earlier: Announcement, later: Announcement): Announcement {
  const arrival = earlier.arrived || earlier.update.event === PresenceEvent.Online;
  if (!arrival || later.arrived || later.update.event !== PresenceEvent.Status) return later;
  return { arrived: false, update: { ...later.update, event: PresenceEvent.Online } };
}

function offlineStranger(userId: string): PresenceState {
  return { userId, status: 'offline', online: false, lastSeenAt: null };
}

function toChange({ userId, status, lastSeenAt }: PresenceState): PresenceChange {
  return { userId, status, lastSeenAt };
}

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

function isAdministrator(viewer: PresenceViewer): boolean {
  return hasAnyRole(viewer.roles, [Role.Admin]);
}
