/**
 * `npm run test:production` only (the default `npm test` never runs it: its file is not `*.test.ts`):
 * the production Temporal server built from source, two workers and two API processes. The rest as in
 * the root jest.config.js.
 */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/production'],
  testMatch: ['**/*.production.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  globalSetup: '<rootDir>/test/production/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  testTimeout: 900000,
  maxWorkers: 1,
  forceExit: true,
};
