/**
 * globalSetup of `npm run test:production`: the Debian PostgreSQL (durable commits, as in production;
 * Offboard's template database migrated, Temporal's databases created later by its own SQL tool), slapd
 * for the catalog's directory, and the workflow bundle the worker processes load. The Temporal server
 * itself is started by the test file, which kills and restarts it. The default globalTeardown stops these.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../../lib/codec';
import { makeRoot, migrate, startPostgres, startSlapd, type Started } from '../support/services';
import { temporalServerBinaries } from './temporal-server';

export default async function globalSetup(): Promise<void> {
  process.env.TZ ??= 'Pacific/Chatham';
  temporalServerBinaries(); // fails at once, naming the setup command, when it is not built
  const root = makeRoot();
  const t0 = Date.now();
  const started: Started[] = [];
  try {
    const pg = await startPostgres(root, { durableCommits: true });
    started.push(pg);
    const ldap = await startSlapd(root);
    started.push(ldap);
    migrate(pg.url);
    const bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    });
    writeFileSync(path.join(root, 'workflow-bundle.js'), bundle.code);
    const env = {
      TEST_ROOT: root,
      TEST_DATABASE_URL: pg.url,
      TEST_PG_PORT: String(pg.port),
      TEST_LDAP_URL: ldap.url,
    };
    Object.assign(process.env, env);
    globalThis.__OFFBOARD_SERVICES__ = started.reverse();
    console.log(`\n[globalSetup] PostgreSQL and slapd ready in ${Date.now() - t0} ms (${root})`);
  } catch (e) {
    for (const s of started) await s.stop().catch(() => undefined);
    throw e;
  }
}
