/** Server → client events every namespace carries, whatever module serves it. */
export const RealtimeEvent = {
  /**
   * Live delivery may have dropped events since `since`: sync every stream the client follows
   * (`chat:sync { afterSeq, since }` per chat), after waiting `syncAfterMs` (docs/protocol.md,
   * Recovery).
   */
  SyncRequired: 'sync:required',
} as const;

/** Why live delivery may have dropped events. */
export type DeliveryGapReason =
  /** This instance's subscription to the other instances' broadcasts broke and is back. */
  | 'subscription_interrupted'
  /** Another instance could not publish its broadcasts for a while and can again. */
  | 'broadcasts_dropped';

export interface SyncRequiredPayload {
  reason: DeliveryGapReason;
  /** ISO-8601: when the interruption began; events from then on may be missing. */
  since: string;
  /**
   * How long this client waits before syncing, drawn at random per client so that thousands of
   * them do not reach the database at once.
   */
  syncAfterMs: number;
}
