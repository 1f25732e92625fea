/** @type {import('jest').Config} */
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2023',
    keepClassNames: true,
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

const TEST_TIMEOUT_MS = 30000;

/** What every project shares: TypeScript through swc as native ESM. */
const shared = {
  rootDir: import.meta.dirname,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // The package's own name, as the example host app imports it: the sources, not `dist/`.
    '^switchboard$': '<rootDir>/src/index.ts',
  },
  testTimeout: TEST_TIMEOUT_MS,
};

/** @returns {import('jest').Config} */
const project = (displayName, testMatch) => ({ ...shared, displayName, testMatch: [testMatch] });

/**
 * One project per kind of suite, chosen with `--selectProjects` (see the `test:*` scripts):
 * unit tests need nothing; e2e and security start the app in process (and `dist/` for the few
 * that spawn it); contract and cluster need real servers (PostgreSQL, Redis); browser drives the
 * admin console in Debian's Chromium (`/usr/bin/chromium`, or `CHROMIUM_PATH`).
 * @type {import('jest').Config}
 */
export default {
  testTimeout: TEST_TIMEOUT_MS,
  projects: [
    project('unit', '<rootDir>/src/**/*.spec.ts'),
    project('e2e', '<rootDir>/test/e2e/**/*.e2e-spec.ts'),
    project('contract', '<rootDir>/test/contract/**/*.contract-spec.ts'),
    project('cluster', '<rootDir>/test/cluster/**/*.cluster-spec.ts'),
    project('security', '<rootDir>/test/security/**/*.security-spec.ts'),
    // Packs the project and installs the tarball into a CommonJS host app (test/package): slow,
    // in a project of its own so that CI runs it beside the others.
    project('package', '<rootDir>/test/package/**/*.package-spec.ts'),
    project('browser', '<rootDir>/test/browser/**/*.browser-spec.ts'),
  ],
};
