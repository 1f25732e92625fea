import { ConfigValidationError } from './environment.js';

/**
 * The parts of Switchboard an application can choose (`SwitchboardModule.forRoot({ features })`).
 * Authentication, the connection registry, health and metrics are always there; a feature left
 * out registers no namespace, route or table.
 */
export const SWITCHBOARD_FEATURES = ['sessions', 'chat', 'presence', 'notifications', 'admin'] as const;
export type SwitchboardFeature = (typeof SWITCHBOARD_FEATURES)[number];

/**
 * What a feature cannot run without. Rules that are optional are not listed: presence without
 * chat simply has no co-member rule (`PRESENCE_VISIBILITY=shared-chats` then shows nobody else).
 */
export const FEATURE_REQUIREMENTS: Readonly<Record<SwitchboardFeature, readonly SwitchboardFeature[]>> = {
  sessions: [],
  chat: [],
  presence: [],
  notifications: [],
  // The admin event stream and broadcasts go through notifications; user status through presence.
  admin: ['notifications', 'presence'],
};

/** The features this application runs, injected by class (the database migrates by them). */
export class EnabledFeatures {
  private readonly enabled: ReadonlySet<SwitchboardFeature>;

  constructor(features: Iterable<SwitchboardFeature> = SWITCHBOARD_FEATURES) {
    this.enabled = new Set(features);
  }

  has(feature: SwitchboardFeature): boolean {
    return this.enabled.has(feature);
  }

  /** In the canonical order of `SWITCHBOARD_FEATURES`. */
  get list(): SwitchboardFeature[] {
    return SWITCHBOARD_FEATURES.filter((feature) => this.enabled.has(feature));
  }
}

/** What is wrong with a `features` option: unknown names, and features missing what they need. */
export function featureProblems(requested: readonly unknown[]): string[] {
  const known = new Set<unknown>(SWITCHBOARD_FEATURES);
  const problems = requested
    .filter((feature) => !known.has(feature))
    .map(
      (feature) =>
        `features: unknown feature ${JSON.stringify(feature)} (known: ${SWITCHBOARD_FEATURES.join(', ')})`,
    );
  const chosen = new Set(requested);
  for (const feature of SWITCHBOARD_FEATURES) {
    if (!chosen.has(feature)) continue;
    const missing = FEATURE_REQUIREMENTS[feature].filter((needed) => !chosen.has(needed));
    if (missing.length > 0) {
      problems.push(
        `features: '${feature}' needs ${missing.map((name) => `'${name}'`).join(' and ')}; ` +
          `add ${missing.length > 1 ? 'them' : 'it'} or leave '${feature}' out`,
      );
    }
  }
  return problems;
}

/** The features to run (every one when `requested` is absent); throws `ConfigValidationError`. */
export function resolveFeatures(
  requested: readonly SwitchboardFeature[] = SWITCHBOARD_FEATURES,
): EnabledFeatures {
  if (!Array.isArray(requested)) {
    throw new ConfigValidationError([`features must be a list of ${SWITCHBOARD_FEATURES.join(', ')}`]);
  }
  const problems = featureProblems(requested);
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return new EnabledFeatures(requested);
}
