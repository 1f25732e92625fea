import { type DynamicModule, Global, Module } from '@nestjs/common';

/**
 * The server's notion of "now" for rules that compare against a wall-clock time (token expiry),
 * injected by class so that an embedding application can supply its own time source.
 */
export abstract class Clock {
  /** Epoch milliseconds. */
  abstract now(): number;

  /**
   * Calls `listener` whenever this clock jumps instead of running on (set forward), so that code
   * waiting on a timer for one of its times can look again; a timer only measures elapsed time.
   * Returns the function that stops the calls.
   */
  abstract onJump(listener: () => void): () => void;
}

/** The system time, which only runs on: nothing ever needs to look again. */
export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }

  onJump(): () => void {
    return () => undefined;
  }
}

export const systemClock: Clock = new SystemClock();

/** Provides the `Clock` everywhere: the system time unless the application hands another. */
@Global()
@Module({})
export class ClockModule {
  static forRoot(clock: Clock = systemClock): DynamicModule {
    return {
      module: ClockModule,
      providers: [{ provide: Clock, useValue: clock }],
      exports: [Clock],
    };
  }
}
