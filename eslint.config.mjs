// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', '.tools/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflows must stay deterministic: no Node built-ins, database, logger or network in them.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'Workflows are deterministic: no Node built-ins.' },
            {
              group: ['@prisma/*', 'pg', 'pino', 'pino-*'],
              message:
                'Workflows never touch the database or loggers; use activities and `log` from @temporalio/workflow.',
            },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'Workflows import only @temporalio/workflow.',
            },
            {
              group: ['**/activities/*', '!**/activities/index'],
              message: 'Import activities only as types via activities/index.',
            },
            {
              group: [
                '**/lib/*',
                '**/server/*',
                '**/config/*',
                'express',
                'ldapts',
                'nodemailer',
                '@microsoft/*',
              ],
              message: 'Workflows never touch the network or config.',
            },
          ],
          paths: [
            'fs',
            'path',
            'http',
            'https',
            'net',
            'crypto',
            'child_process',
            'os',
            'dns',
            'tls',
            'zlib',
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly' },
    },
  },
  {
    // The CLI's bin shim: CommonJS that loads tsx, then the TypeScript entry point.
    files: ['cli/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { process: 'readonly', require: 'readonly', setImmediate: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
