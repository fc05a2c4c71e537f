// Lint rules that keep workflows deterministic and promises awaited.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // The HTTP layer sits above everything else in src/: only the entry points that serve it may
    // import it, so a client, worker or store never loads Express or the routes.
    files: ['src/**/*.ts'],
    ignores: ['src/api/**', 'src/server.ts', 'src/dev.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/api', '**/api/**'],
              message: 'Only src/api, src/server.ts and src/dev.ts import the HTTP layer (src/api).',
            },
          ],
        },
      ],
    },
  },
  {
    // Workflow code is replayed: no Node built-ins, and activities only as types. It builds on
    // `domain` and the SDK alone: never the store, the API or the SMS adapters, not even their types.
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)].map((name) => ({
            name,
            message: 'Workflows must be deterministic: no Node built-ins.',
          })),
          patterns: [
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Workflows import activities as types only, and never side-effecting code.',
            },
            {
              group: ['**/store', '**/store/**', '**/api', '**/api/**', '**/sms', '**/sms/**'],
              message:
                'Workflows import `domain` and the SDK only: what they share with the store, the API or SMS lives in src/domain.',
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard's page script: plain JavaScript run by the browser, Chart.js loaded before it.
    files: ['src/dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        window: 'readonly',
        document: 'readonly',
        console: 'readonly',
        fetch: 'readonly',
        getComputedStyle: 'readonly',
        URLSearchParams: 'readonly',
        Intl: 'readonly',
        Chart: 'readonly',
      },
    },
  },
  {
    // The operations page's script: plain JavaScript run by the browser.
    files: ['src/operations-page/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        fetch: 'readonly',
        Intl: 'readonly',
        Node: 'readonly',
        URLSearchParams: 'readonly',
      },
    },
  },
  {
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
