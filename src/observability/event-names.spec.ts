import { randomUUID } from 'node:crypto';
import {
  AuthEvent,
  ChatEvent,
  NotificationsEvent,
  PresenceEvent,
  SessionsEvent,
} from '../contracts/index.js';
import { CONTRACT_EVENTS, EventLabels, OTHER_EVENT } from './event-names.js';

describe('CONTRACT_EVENTS', () => {
  it("holds every event of the contract's event maps, once", () => {
    for (const events of [AuthEvent, ChatEvent, NotificationsEvent, PresenceEvent, SessionsEvent]) {
      for (const name of Object.values(events)) expect(CONTRACT_EVENTS).toContain(name);
    }
    expect(CONTRACT_EVENTS).toContain('system');
    expect(new Set(CONTRACT_EVENTS).size).toBe(CONTRACT_EVENTS.length);
    expect(CONTRACT_EVENTS).not.toContain(OTHER_EVENT);
  });
});

describe('EventLabels', () => {
  function labels() {
    const bound: string[] = [];
    const table = new EventLabels((event) => {
      bound.push(event);
      return { event };
    });
    return { table, bound };
  }

  it('binds each known name once, up front, and everything else to one series', () => {
    const { table, bound } = labels();
    expect(bound).toHaveLength(CONTRACT_EVENTS.length + 1);
    expect(table.of(ChatEvent.SendMessage)).toEqual({ event: ChatEvent.SendMessage });
    expect(table.of(ChatEvent.SendMessage)).toBe(table.of(ChatEvent.SendMessage));
    for (let count = 0; count < 200; count += 1) {
      expect(table.of(`made-up:${randomUUID()}`)).toEqual({ event: OTHER_EVENT });
    }
    expect(table.of(42)).toEqual({ event: OTHER_EVENT });
    expect(table.of(undefined)).toEqual({ event: OTHER_EVENT });
    expect(bound).toHaveLength(CONTRACT_EVENTS.length + 1);
    expect(table.size).toBe(CONTRACT_EVENTS.length + 1);
  });

  it('learns the names of handlers, never `other` again', () => {
    const { table, bound } = labels();
    table.learn(['host:do-something', ChatEvent.SendMessage, OTHER_EVENT]);
    table.learn(['host:do-something']);
    expect(bound.filter((event) => event === 'host:do-something')).toHaveLength(1);
    expect(bound.filter((event) => event === OTHER_EVENT)).toHaveLength(1);
    expect(table.of('host:do-something')).toEqual({ event: 'host:do-something' });
  });
});
