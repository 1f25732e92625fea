import { EventRouter, type EventSubscriber } from './event-router.js';
import type { PublishedEvent } from './notifications.events.js';

describe('EventRouter', () => {
  it('ends each event once per transport, after handing it to every subscriber it matched', () => {
    const router = new EventRouter(10);
    const log: string[] = [];
    const endOfSocketEvent = () => log.push('end');
    const socketSubscriber = (userId: string): EventSubscriber => ({
      userId,
      isAdmin: false,
      deliver: (event) => log.push(`${userId} ${event.type}`),
      endOfEvent: endOfSocketEvent,
    });
    router.subscribe(socketSubscriber('alice'), ['security.*']);
    router.subscribe(socketSubscriber('bob'), ['*']);
    router.subscribe(
      { userId: 'carol', isAdmin: false, deliver: (event) => log.push(`carol ${event.type}`) },
      ['security.login'],
    );
    const event: PublishedEvent = { id: '1', type: 'security.login', data: {}, timestamp: '' };

    expect(router.route(event, 'broadcast')).toBe(3);
    expect(log).toHaveLength(4);
    expect(log.slice(0, 3).sort()).toEqual([
      'alice security.login',
      'bob security.login',
      'carol security.login',
    ]);
    expect(log[3]).toBe('end');

    log.length = 0;
    expect(router.route({ ...event, type: 'system.shutdown' }, 'admins')).toBe(0);
    expect(log).toEqual([]);
  });
});
