/**
 * Starts the real servers once per test run and hands their addresses to the test files through
 * environment variables (Jest workers inherit them).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { findTemporalBinaries } from '../../embedded/binaries';
import { FAILURE_CONVERTER_PATH } from '../../lib/codec';
import { makeRoot, migrate, startPostgres, startSlapd, startTemporalDev, type Started } from './services';

declare global {
  var __OFFBOARD_SERVICES__: Started[] | undefined;
}

export default async function globalSetup(): Promise<void> {
  // The suite runs in a time zone far from UTC (+13:45 / +12:45) unless one is given: a timestamp
  // written or read in the process's local zone instead of UTC is then hours off and a test fails.
  // Set here, before Jest starts its workers, which inherit it (a test file cannot change its zone).
  process.env.TZ ??= 'Pacific/Chatham';
  const root = makeRoot();
  const t0 = Date.now();
  const { pg, ldap, temporal } = await startServices(root);
  const bins = findTemporalBinaries();
  const env = {
    TEST_ROOT: root,
    TEST_DATABASE_URL: pg.url,
    TEST_LDAP_URL: ldap.url,
    TEST_TEMPORAL_ADDRESS: temporal.address,
    TEST_TEMPORAL_TEST_SERVER: bins.testServer ?? '',
  };
  Object.assign(process.env, env);
  writeFileSync(path.join(root, 'env.json'), JSON.stringify(env, null, 2));
  console.log(
    `\n[globalSetup] PostgreSQL, slapd and Temporal dev server ready in ${Date.now() - t0} ms (${root})`,
  );
}

/** Starts PostgreSQL, slapd and the Temporal dev server and bundles the workflows; all or none. */
async function startServices(root: string) {
  const [pg, ldap, temporal, bundle] = await Promise.allSettled([
    startPostgres(root),
    startSlapd(root),
    startTemporalDev(root),
    // Bundle the workflow code once for every test worker (with the failure converter the workers'
    // data converter names, as the worker's own bundler would).
    bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    }),
  ]);
  const servers = [pg, ldap, temporal].flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  // Jest runs no teardown after a failed setup: what did start is stopped here, or it outlives the run.
  const stopAll = () => Promise.all(servers.map((x) => x.stop().catch(() => undefined)));
  try {
    for (const r of [pg, ldap, temporal, bundle]) if (r.status === 'rejected') throw r.reason;
    if (pg.status !== 'fulfilled' || ldap.status !== 'fulfilled' || temporal.status !== 'fulfilled')
      throw new Error('unreachable');
    if (bundle.status !== 'fulfilled') throw new Error('unreachable');
    writeFileSync(path.join(root, 'workflow-bundle.js'), bundle.value.code);
    migrate(pg.value.url);
    globalThis.__OFFBOARD_SERVICES__ = [temporal.value, ldap.value, pg.value];
    return { pg: pg.value, ldap: ldap.value, temporal: temporal.value };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
