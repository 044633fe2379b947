/**
 * Jest runs the TypeScript sources as native ES modules through ts-jest.
 * Type checking is done once by `tsc --noEmit` (npm test runs it first), so ts-jest
 * only transpiles (isolatedModules) and the suites start fast.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
  // Each suite loads the server's modules afresh (ES modules in a new VM context), and a
  // worker keeps much of that: its heap reached 2 GB of about 4 GB in a full run. A worker
  // over 1 GB after a suite is replaced before the next (https://jestjs.io/docs/configuration#workeridlememorylimit-numberstring).
  workerIdleMemoryLimit: '1GB',
};
