/**
 * The production Temporal server (not the dev server: frontend, history, matching and worker services in
 * one process, PostgreSQL persistence and visibility), built from source by
 * `node embedded/setup-tools.mjs temporal-server` into `.tools/temporal-server/<version>/`. Its schema is
 * set up by its own SQL tool (`temporal-sql-tool`), as an operator would; every port is chosen at run
 * time, so it never collides with another server on the machine.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { portOpen } from '../../embedded/net';
import { freePort } from '../support/services';

/** The version `embedded/setup-tools.mjs temporal-server` builds (keep the two equal). */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

export function temporalServerDir(): string {
  return path.resolve(__dirname, '../../.tools/temporal-server', TEMPORAL_SERVER_VERSION);
}

export function temporalServerBinaries() {
  const dir = temporalServerDir();
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  if (!existsSync(server) || !existsSync(sqlTool))
    throw new Error(
      `the production Temporal server is not built: run \`node embedded/setup-tools.mjs temporal-server\` ` +
        `(\`npm run test:production\` does)`,
    );
  return { dir, server, sqlTool };
}

/** PostgreSQL role of the Temporal server (the test cluster trusts local connections). */
const SQL_USER = 'temporal';
const SQL_PASSWORD = 'temporal-test-only';

/**
 * Creates the role and both databases (`temporal`, `temporal_visibility`) with the server's own SQL tool:
 * create-database, setup-schema -v 0.0, update-schema from the versioned PostgreSQL 12 schema.
 */
export function setupTemporalSchema(pgPort: number): void {
  const { dir, sqlTool } = temporalServerBinaries();
  execFileSync('psql', [
    '-h',
    '127.0.0.1',
    '-p',
    String(pgPort),
    '-U',
    'postgres',
    '-v',
    'ON_ERROR_STOP=1',
    '-qc',
    `CREATE ROLE ${SQL_USER} LOGIN CREATEDB PASSWORD '${SQL_PASSWORD}'`,
  ]);
  const env = {
    ...process.env,
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: '127.0.0.1',
    SQL_PORT: String(pgPort),
    SQL_USER,
    SQL_PASSWORD,
  };
  for (const [db, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    for (const args of [
      ['create-database'],
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '-d', path.join(dir, 'schema', 'postgresql', 'v12', schema, 'versioned')],
    ]) {
      const r = spawnSync(sqlTool, ['--db', db, ...args], { env, encoding: 'utf8' });
      if (r.status !== 0)
        throw new Error(`temporal-sql-tool --db ${db} ${args[0]} failed:\n${r.stdout}\n${r.stderr}`);
    }
  }
}

/**
 * A free port for a service's membership (ringpop) listener. Temporal stores it in a `smallint` column
 * (cluster_membership.rpc_port), so it must be below 32768, where the kernel's ephemeral ports (what
 * `freePort` gets) are not: a random one in 20000-32767 that nothing listens on.
 */
async function freeMembershipPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 32768');
}

export interface TemporalServer {
  address: string;
  /** The tail of the server's output (for a failure message). */
  log(): string;
  /** SIGKILL: no shutdown, every connection dropped. */
  kill(): Promise<void>;
  /** Starts it again on the same configuration, ports and databases. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Writes the server's configuration under `root/temporal-server/config/` (the module's
 * `development-postgres12.yaml` and `dynamicconfig/development-sql.yaml`, pointed at this PostgreSQL and
 * at free ports) and starts it; resolves when the frontend listens.
 */
export async function startTemporalServer(root: string, pgPort: number): Promise<TemporalServer> {
  const { dir, server } = temporalServerBinaries();
  const serverRoot = path.join(root, 'temporal-server');
  mkdirSync(path.join(serverRoot, 'config', 'dynamicconfig'), { recursive: true });
  const ports = {
    frontend: await freePort(),
    frontendMembership: await freeMembershipPort(),
    frontendHttp: await freePort(),
    history: await freePort(),
    historyMembership: await freeMembershipPort(),
    matching: await freePort(),
    matchingMembership: await freeMembershipPort(),
    worker: await freePort(),
    workerMembership: await freeMembershipPort(),
    metrics: await freePort(),
  };
  type Sql = { sql: Record<string, unknown> };
  const cfg = parse(readFileSync(path.join(dir, 'config', 'development-postgres12.yaml'), 'utf8')) as {
    log: Record<string, unknown>;
    persistence: { datastores: Record<string, Sql> };
    global: { pprof?: unknown; metrics: { prometheus: Record<string, unknown> } };
    services: Record<string, { rpc: Record<string, unknown> }>;
    clusterMetadata: { clusterInformation: { active: { rpcAddress: string } } };
    dynamicConfigClient: { filepath: string };
  };
  cfg.log = { stdout: true, level: 'warn' };
  for (const store of Object.values(cfg.persistence.datastores)) {
    Object.assign(store.sql, {
      connectAddr: `127.0.0.1:${pgPort}`,
      user: SQL_USER,
      password: SQL_PASSWORD,
    });
  }
  delete cfg.global.pprof;
  cfg.global.metrics.prometheus.listenAddress = `127.0.0.1:${ports.metrics}`;
  const rpc = (service: string, grpcPort: number, membershipPort: number, httpPort?: number) =>
    Object.assign(cfg.services[service]!.rpc, {
      grpcPort,
      membershipPort,
      ...(httpPort ? { httpPort } : {}),
    });
  rpc('frontend', ports.frontend, ports.frontendMembership, ports.frontendHttp);
  rpc('history', ports.history, ports.historyMembership);
  rpc('matching', ports.matching, ports.matchingMembership);
  rpc('worker', ports.worker, ports.workerMembership);
  cfg.clusterMetadata.clusterInformation.active.rpcAddress = `127.0.0.1:${ports.frontend}`;
  const dynamicConfig = path.join(serverRoot, 'config', 'dynamicconfig', 'development-sql.yaml');
  cfg.dynamicConfigClient.filepath = dynamicConfig;
  writeFileSync(path.join(serverRoot, 'config', 'development-postgres12.yaml'), stringify(cfg));
  copyFileSync(path.join(dir, 'config', 'dynamicconfig', 'development-sql.yaml'), dynamicConfig);
  writeFileSync(
    dynamicConfig,
    readFileSync(dynamicConfig, 'utf8').replace(/localhost:7243/g, `127.0.0.1:${ports.frontendHttp}`),
  );

  let proc: ChildProcess | null = null;
  let log = '';
  const start = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) throw new Error('already running');
    const p = spawn(
      server,
      [
        '--root',
        serverRoot,
        '--config',
        'config',
        '--env',
        'development-postgres12',
        '--allow-no-auth',
        'start',
      ],
      { cwd: serverRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = p;
    const keep = (b: Buffer) => (log = (log + b.toString()).slice(-8000));
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    const until = Date.now() + 90_000;
    while (!(await portOpen(ports.frontend))) {
      if (p.exitCode !== null) throw new Error(`the Temporal server exited (${p.exitCode}):\n${log}`);
      if (Date.now() > until) throw new Error(`the Temporal server did not listen within 90 s:\n${log}`);
      await sleep(200);
    }
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    address: `127.0.0.1:${ports.frontend}`,
    log: () => log,
    kill,
    start,
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
