import type { LoggerService, LogLevel } from '@nestjs/common';
import { pino, stdSerializers, type DestinationStream, type Level, type Logger } from 'pino';
import type { AppConfig } from '../config/app-config.js';
import { NodeEnv } from '../config/environment.js';
import { REDACT_PATHS, REDACTED, scrubbingDestination } from './redaction.js';

/** Nest's levels, most severe first, as `LOG_LEVEL` names them. */
export const NEST_LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;

const PINO_LEVELS: Record<LogLevel, Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** How `createApp` says where logs go and how much of them. */
export interface LoggingOptions {
  /**
   * `false` logs nothing; a list of Nest levels logs the most verbose of them and everything more
   * severe; absent, `LOG_LEVEL` decides.
   */
  logger?: false | LogLevel[];
  /** Where JSON lines are written instead of stdout (tests read them from here). */
  logDestination?: DestinationStream;
}

/** The pino level that logs `levels` (the most verbose of them) and everything more severe. */
export function pinoLevelOf(levels: false | readonly string[]): Level | 'silent' {
  if (levels === false) return 'silent';
  const known = NEST_LOG_LEVELS.filter((level) => levels.includes(level));
  const mostVerbose = known.at(-1);
  return mostVerbose === undefined ? 'silent' : PINO_LEVELS[mostVerbose];
}

let stdout: DestinationStream | undefined;

/** One stdout destination per process, however many apps it runs (tests start several). */
function stdoutDestination(): DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: false });
  return stdout;
}

/**
 * `pino-pretty` when it is installed (a development dependency) and the app runs in
 * development; plain JSON on stdout otherwise, or when it cannot be loaded.
 */
export async function defaultDestination(development: boolean): Promise<DestinationStream> {
  if (development) {
    try {
      const { default: pretty } = await import('pino-pretty');
      return pretty({
        sync: true,
        colorize: process.env.NO_COLOR === undefined && process.stdout.isTTY,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,serverId,context',
        messageFormat: '{if context}[{context}] {end}{msg}',
        singleLine: true,
      });
    } catch {
      // Not installed (a production install): JSON it is.
    }
  }
  return stdoutDestination();
}

/**
 * The process's root logger: JSON lines (`level` as a name, ISO `time`), credentials censored by
 * path (`REDACT_PATHS`) and every written line scrubbed as text (`scrubbingDestination`).
 */
export function createRootLogger(
  level: Level | 'silent',
  destination: DestinationStream,
  base: Record<string, unknown> = {},
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      serializers: { err: stdSerializers.err },
    },
    scrubbingDestination(destination),
  );
}

/**
 * Nest's `LoggerService` over pino: every `Logger` of the app (`new Logger(context)`, Nest's own)
 * writes one JSON line with `context` as a field. A message that is an object is merged into
 * the line; an Error goes under `err` with its stack.
 */
export class AppLogger implements LoggerService {
  constructor(readonly pino: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params, true);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params, true);
  }

  setLogLevels(levels: LogLevel[]): void {
    this.pino.level = pinoLevelOf(levels);
  }

  /** A child for one part of the app, with `context` on every line, for structured lines. */
  child(context: string): Logger {
    return this.pino.child({ context });
  }

  /**
   * Nest passes the context last (a string) and, to `error`, a stack before it (`undefined` when
   * there is none). Anything else passed along is kept under `params`.
   */
  private write(level: Level, message: unknown, params: unknown[], mayHaveStack = false): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const rest = [...params];
    const context = typeof rest.at(-1) === 'string' ? (rest.pop() as string) : undefined;
    let stack: string | undefined;
    if (mayHaveStack && rest.length > 0 && (typeof rest.at(-1) === 'string' || rest.at(-1) === undefined)) {
      stack = rest.pop() as string | undefined;
    }
    const fields: Record<string, unknown> = context === undefined ? {} : { context };
    if (stack !== undefined) fields.stack = stack;
    if (rest.length > 0) fields.params = rest;
    if (message instanceof Error) {
      this.pino[level]({ ...fields, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level]({ ...fields, ...(message as Record<string, unknown>) });
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

/** The app's logger: `LOG_LEVEL` unless `createApp` was told otherwise, stdout unless told. */
export async function createAppLogger(config: AppConfig, options: LoggingOptions = {}): Promise<AppLogger> {
  const level = pinoLevelOf(options.logger ?? [config.server.logLevel]);
  const destination =
    options.logDestination ?? (await defaultDestination(config.env === NodeEnv.Development));
  return new AppLogger(createRootLogger(level, destination, { serverId: config.server.serverId }));
}
