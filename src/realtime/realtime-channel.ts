import { envelope } from '../common/envelope.js';
import type { RealtimeServer } from './realtime-server.js';

/** Who receives an emit: sockets in any of `rooms` (all of the namespace when omitted), minus `except`. */
export interface Audience {
  rooms?: string | readonly string[];
  except?: string | readonly string[];
  /** This instance's sockets only, instead of every instance's through the adapter. */
  local?: boolean;
}

/**
 * The one way server → client events leave a module: typed by the namespace's payload map
 * (event name → `data`), wrapped in the `{ type, data, timestamp }` envelope, each socket once
 * however many of the rooms it is in.
 */
export class RealtimeChannel<Payloads extends object> {
  constructor(
    private readonly realtime: RealtimeServer,
    readonly namespace: string,
  ) {}

  /** Before the Socket.IO server exists no socket can be listening, so there is nothing to send. */
  emit<E extends keyof Payloads & string>(audience: Audience, event: E, data: Payloads[E]): void {
    if (!this.realtime.isReady) return;
    let target = this.realtime.namespace(this.namespace).to([]);
    if (audience.local) target = target.local;
    if (audience.rooms !== undefined) target = target.to(audience.rooms as string | string[]);
    if (audience.except !== undefined) target = target.except(audience.except as string | string[]);
    target.emit(event, envelope(event, data));
  }
}
