// Typed lint for the whole project, plus a sandbox rule for workflow code.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);
/** Modules that do I/O and must never be bundled into the workflow sandbox. */
const ioModules = [
  'pino',
  'pino-pretty',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  'commander',
  'cli-progress',
  'csv-stringify',
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.data/**',
      'test/artifacts/**',
      'bin/**',
      'scripts/ensure-deps.js',
      'eslint.config.mjs',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O modules,
    // and activities only through `import type`. src/contract is imported by workflows, so it obeys too.
    files: ['workflows/**/*.ts', 'src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...ioModules].map((name) => ({
            name,
            message: 'Not allowed in workflow-safe code.',
          })),
          patterns: [
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activities with `import type` only.',
            },
            {
              group: ['**/src/*', '!**/src/contract', '!**/src/contract/**'],
              message: 'Workflow code may import only src/contract.',
            },
          ],
        },
      ],
    },
  },
);
