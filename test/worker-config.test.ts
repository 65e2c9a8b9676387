/**
 * The worker's tuning (WORKER_MAX_* in config/env.ts): parsed once with the rest of the configuration,
 * a bad value stops the process with the variable named, and `workerTuning` hands the values to the
 * Temporal worker under the SDK's option names.
 */
import { loadConfig, WORKER_TUNING_DEFAULTS } from '../config/env';
import { followupWorkerLimits, workerTuning } from '../workers/worker';

const base = { DATABASE_URL: 'postgresql://x@127.0.0.1/x' };

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
}

test('defaults: a bounded workflow cache, the SDK concurrency defaults', () => {
  const cfg = loadConfig(base);
  expect(cfg.WORKER_MAX_CACHED_WORKFLOWS).toBe(250);
  expect(cfg.WORKER_MAX_CONCURRENT_ACTIVITIES).toBe(100);
  expect(cfg.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS).toBe(40);
  expect(workerTuning(cfg)).toEqual({
    maxCachedWorkflows: WORKER_TUNING_DEFAULTS.WORKER_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivityTaskExecutions: WORKER_TUNING_DEFAULTS.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: WORKER_TUNING_DEFAULTS.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
  });
});

test('values from the environment reach the worker options', () => {
  const cfg = loadConfig({
    ...base,
    WORKER_MAX_CACHED_WORKFLOWS: '500',
    WORKER_MAX_CONCURRENT_ACTIVITIES: ' 20 ',
    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '8',
  });
  expect(workerTuning(cfg)).toEqual({
    maxCachedWorkflows: 500,
    maxConcurrentActivityTaskExecutions: 20,
    maxConcurrentWorkflowTaskExecutions: 8,
  });
  // 0 turns the cache off; the workflow-task limit is then not bounded by it.
  expect(workerTuning(loadConfig({ ...base, WORKER_MAX_CACHED_WORKFLOWS: '0' })).maxCachedWorkflows).toBe(0);
});

test.each([
  [
    'WORKER_MAX_CACHED_WORKFLOWS',
    'lots',
    /WORKER_MAX_CACHED_WORKFLOWS: must be a whole number from 0 to 100000/,
  ],
  ['WORKER_MAX_CACHED_WORKFLOWS', '', /WORKER_MAX_CACHED_WORKFLOWS: must be a whole number/],
  ['WORKER_MAX_CACHED_WORKFLOWS', '2.5', /WORKER_MAX_CACHED_WORKFLOWS: must be a whole number/],
  ['WORKER_MAX_CACHED_WORKFLOWS', '-1', /WORKER_MAX_CACHED_WORKFLOWS: must be a whole number/],
  ['WORKER_MAX_CACHED_WORKFLOWS', '1e3', /WORKER_MAX_CACHED_WORKFLOWS: must be a whole number/],
  ['WORKER_MAX_CACHED_WORKFLOWS', '100001', /WORKER_MAX_CACHED_WORKFLOWS: must be a whole number/],
  ['WORKER_MAX_CACHED_WORKFLOWS', '1', /WORKER_MAX_CACHED_WORKFLOWS: must be 0 \(no cache\) or at least 2/],
  [
    'WORKER_MAX_CONCURRENT_ACTIVITIES',
    '0',
    /WORKER_MAX_CONCURRENT_ACTIVITIES: must be a whole number from 1/,
  ],
  ['WORKER_MAX_CONCURRENT_ACTIVITIES', '10x', /WORKER_MAX_CONCURRENT_ACTIVITIES: must be a whole number/],
  [
    'WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND',
    '0',
    /WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: must be a number above 0/,
  ],
  [
    'WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND',
    'fast',
    /WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: must be a number above 0/,
  ],
  [
    'WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND',
    '-5',
    /WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: must be a number above 0/,
  ],
  [
    'WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND',
    '',
    /WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: must be a number above 0/,
  ],
  [
    'WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND',
    '20000',
    /WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: must be a number above 0/,
  ],
  [
    'WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING',
    '0.2',
    /WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING: must be a number from 0.5 up to 10000/,
  ],
  [
    'WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING',
    'slow',
    /WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING: must be a number from 0.5 up to 10000/,
  ],
  [
    'WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING',
    '10001',
    /WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING: must be a number from 0.5 up to 10000/,
  ],
  ['WORKER_FOLLOWUP_MAX_CONCURRENT', '0', /WORKER_FOLLOWUP_MAX_CONCURRENT: must be a whole number from 1/],
  // The switches that gave several ways to run revocations are gone: set, they stop start-up.
  ['WORKER_LOCAL_REVOCATION', 'true', /WORKER_LOCAL_REVOCATION: no longer exists/],
  ['WORKER_REVOCATION_SWEEP', 'false', /WORKER_REVOCATION_SWEEP: no longer exists/],
  ['WORKER_REVOCATION_SWEEP_LOCAL', 'false', /WORKER_REVOCATION_SWEEP_LOCAL: no longer exists/],
  ['WORKER_FOLLOWUP_FIRST_ROUND', 'false', /WORKER_FOLLOWUP_FIRST_ROUND: no longer exists/],
  [
    'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS',
    '1',
    /WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: must be a whole number from 2/,
  ],
])('%s=%j is refused with the variable named', (name, value, message) => {
  const error = errorOf({ [name]: value });
  expect(error).toMatch(/^Invalid configuration:/);
  expect(error).toMatch(message);
  // Only the bad variable is reported.
  expect(error.trim().split('\n')).toHaveLength(2);
});

test('follow-up pace and stack traces: defaults and values from the environment', () => {
  const cfg = loadConfig(base);
  expect(cfg.WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING).toBe(1);
  expect(cfg.WORKER_WORKFLOW_STACK_TRACES).toBe(false);
  expect(followupWorkerLimits(cfg)).toEqual({
    maxActivitiesPerSecond: 20,
    maxConcurrentActivityTaskExecutions: 8,
  });
  const set = loadConfig({
    ...base,
    WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: ' 0.5 ',
    WORKER_FOLLOWUP_MAX_CONCURRENT: '2',
    WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING: '2.5',
    WORKER_WORKFLOW_STACK_TRACES: 'true',
  });
  expect(set.WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING).toBe(2.5);
  expect(set.WORKER_WORKFLOW_STACK_TRACES).toBe(true);
  expect(errorOf({ WORKER_WORKFLOW_STACK_TRACES: 'yes' })).toMatch(
    /WORKER_WORKFLOW_STACK_TRACES: must be true or false/,
  );
  expect(followupWorkerLimits(set)).toEqual({
    maxActivitiesPerSecond: 0.5,
    maxConcurrentActivityTaskExecutions: 2,
  });
});

test('more concurrent workflow tasks than cached workflows is refused (the SDK would lower it silently)', () => {
  expect(errorOf({ WORKER_MAX_CACHED_WORKFLOWS: '10', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '40' })).toMatch(
    /WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: must not exceed WORKER_MAX_CACHED_WORKFLOWS \(10\)/,
  );
  expect(
    loadConfig({ ...base, WORKER_MAX_CACHED_WORKFLOWS: '0', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '40' })
      .WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
  ).toBe(40);
});

test('intake and dispatcher start limits: defaults, values, bad values named', () => {
  const cfg = loadConfig(base);
  expect([cfg.INTAKE_MAX_INLINE_STARTS, cfg.DISPATCH_CONCURRENCY]).toEqual([8, 16]);
  const set = loadConfig({ ...base, INTAKE_MAX_INLINE_STARTS: '0', DISPATCH_CONCURRENCY: '4' });
  expect([set.INTAKE_MAX_INLINE_STARTS, set.DISPATCH_CONCURRENCY]).toEqual([0, 4]);
  expect(errorOf({ INTAKE_MAX_INLINE_STARTS: 'many' })).toMatch(
    /INTAKE_MAX_INLINE_STARTS: must be a whole number from 0 to 1000/,
  );
  expect(errorOf({ DISPATCH_CONCURRENCY: '0' })).toMatch(
    /DISPATCH_CONCURRENCY: must be a whole number from 1 to 1000/,
  );
});
