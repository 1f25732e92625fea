import { getMetadataStorage } from 'class-validator';
import { type AppConfig, buildAppConfig, type BuildConfigOptions } from './app-config.js';
import {
  ConfigValidationError,
  EnvironmentVariables,
  type NodeEnv,
  validateEnvironment,
} from './environment.js';

/** A setting's value in code: numbers and booleans as such (or as the environment's text). */
type SettingValue<T> = T extends number
  ? number | `${number}`
  : T extends boolean
    ? boolean | 'true' | 'false'
    : T extends NodeEnv
      ? T | `${T}`
      : T extends string
        ? T
        : never;

/**
 * Switchboard's settings when it runs inside another application: the environment variables of
 * the standalone server (README, Configuration), by the same names, typed, every one optional.
 * They are validated by the same rules and fail boot with the same messages. `undefined` counts
 * as unset, so `{ REDIS_URL: process.env.REDIS_URL }` is fine.
 *
 * `PORT`, `HOST` and `SHUTDOWN_GRACE_MS` are the standalone server's: a host listens and shuts
 * down as it likes.
 */
export type SwitchboardSettings = {
  [Name in keyof EnvironmentVariables]?: SettingValue<EnvironmentVariables[Name]> | undefined;
};

export interface ResolveSettingsOptions extends BuildConfigOptions {
  /**
   * Read the process environment too, beneath `settings` (which win): configure the embedded
   * Switchboard with the standalone server's variables. Default false: only `settings`, and
   * `NODE_ENV` from the environment unless `settings` names it.
   */
  readEnvironment?: boolean;
}

let knownNames: ReadonlySet<string> | undefined;

/** Every variable `EnvironmentVariables` declares (each carries at least one validation rule). */
export function settingNames(): ReadonlySet<string> {
  knownNames ??= new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(EnvironmentVariables, '', true, false)
      .map((metadata) => metadata.propertyName),
  );
  return knownNames;
}

/**
 * Validates `settings` as the environment is validated and builds the typed configuration;
 * throws a `ConfigValidationError` naming every bad setting.
 */
export function resolveSettings(
  settings: SwitchboardSettings | undefined,
  options: ResolveSettingsOptions = {},
): AppConfig {
  if (
    settings !== undefined &&
    (typeof settings !== 'object' || settings === null || Array.isArray(settings))
  ) {
    throw new ConfigValidationError(['settings must be an object of environment variable names to values']);
  }
  const given = Object.entries(settings ?? {}).filter(([, value]) => value !== undefined);
  const unknown = given.map(([name]) => name).filter((name) => !settingNames().has(name));
  if (unknown.length > 0) {
    throw new ConfigValidationError(
      unknown.map((name) => `${name}: not a Switchboard setting (see README, Configuration, for the names)`),
    );
  }
  const base: Record<string, unknown> = options.readEnvironment
    ? { ...process.env }
    : { NODE_ENV: process.env.NODE_ENV };
  const environment = validateEnvironment({ ...base, ...Object.fromEntries(given) });
  try {
    return buildAppConfig(environment, options);
  } catch (error) {
    throw new ConfigValidationError([(error as Error).message]);
  }
}
