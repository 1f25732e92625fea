import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'coverage/', 'data/', 'bench/results/', 'node_modules/']),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      'require-await': 'off',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // Nest modules are empty classes that exist only to carry their decorators.
      '@typescript-eslint/no-extraneous-class': 'off',
      // The project service reads `experimentalDecorators` and `emitDecoratorMetadata` from
      // tsconfig.json, so the rule leaves alone every file with a decorator: Nest's injection reads
      // the classes of constructor and handler parameters at runtime, through the emitted metadata,
      // and those imports must stay value imports. Type-only imports elsewhere are written
      // `import type { A }`, or `import { b, type A }` beside values.
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-import-type-side-effects': 'error',
    },
  },
  {
    // @types/jest types the asymmetric matchers (expect.any, expect.stringMatching, ...) as `any`,
    // so every `toEqual({ id: expect.any(String) })` would read as an unsafe assignment.
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    // Tool configuration in plain JavaScript sits outside the TypeScript project.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // The admin console's page: ES modules run by the browser as they are (no build step).
    files: ['src/console/public/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  prettier,
);
