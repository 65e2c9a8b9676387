/**
 * The chaos lab: a whole Offboard deployment whose parts can be killed and started again. PostgreSQL and
 * the Temporal dev server (SQLite file) are this lab's own instances, so stopping them disturbs no
 * other test file; the worker is a child process (SIGKILL is real); the API runs in the test process;
 * the stand-ins count every call and state change; the SMTP catcher keeps every message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../config/env';
import { MailCatcher } from '../../embedded/mailcatcher';
import { createDb, type Db } from '../../lib/db';
import { signDelivery } from '../../lib/webhook-sign';
import { runServer, type RunningServer } from '../../server/main';
import {
  CODEC_KEYS_SPEC,
  OPERATOR_TOKENS,
  SECRETS,
  WEBHOOK_SECRET,
  catalogYaml,
  dataConverter,
  env,
  hrisEvent,
  post,
  quietLogger,
  startStandIns,
  uniq,
  workflowBundlePath,
  type StandIns,
} from '../support/harness';
import { migrate, startPostgres, startTemporalDev } from '../support/services';

type Pg = Awaited<ReturnType<typeof startPostgres>>;
type Temporal = Awaited<ReturnType<typeof startTemporalDev>>;

export interface Lab {
  databaseUrl: string;
  db: Db;
  client: Client;
  mail: MailCatcher;
  standIns: StandIns;
  api: RunningServer;
  /**
   * Signs and posts the HRIS event terminating `employeeId`. A second call for the same employee is the
   * HRIS redelivering it: same webhook id, same body, fresh signature.
   */
  fire(employeeId: string): Promise<{ status: number; json: Record<string, unknown> }>;
  /** SIGKILLs the worker process (no shutdown: in-flight activities are simply gone). */
  killWorker(): Promise<void>;
  startWorker(): void;
  /** SIGKILLs the Temporal dev server; `startTemporal` starts it again on the same port and SQLite file. */
  killTemporal(): Promise<void>;
  startTemporal(): Promise<void>;
  /** Immediate shutdown of PostgreSQL (every connection dropped); `startPostgres` brings it back. */
  stopPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  workerLog(): string;
  stop(): Promise<void>;
}

export async function startLab(): Promise<Lab> {
  const root = path.join(env.root, uniq('chaos'));
  mkdirSync(root, { recursive: true });
  const dbFilename = path.join(root, 'temporal.sqlite');
  let pg: Pg | null = await startPostgres(root, { durableCommits: true });
  const pgPort = pg.port;
  migrate(pg.url);
  const databaseUrl = pg.url;
  let temporal: Temporal | null = await startTemporalDev(root, { dbFilename });
  const temporalPort = temporal.port;
  const address = temporal.address;

  const mail = new MailCatcher();
  await mail.start();
  const standIns = await startStandIns();
  const catalogFile = path.join(root, 'catalog.yaml');
  // Retries long enough to outlast each outage the tests cause (a target, the database).
  writeFileSync(catalogFile, catalogYaml(standIns, { maximumAttempts: 10 }));
  const taskQueue = uniq('chaos-tq');
  const db = createDb(databaseUrl);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, dataConverter });
  const apiEnv = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    HRIS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    OPERATOR_TOKENS,
    PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
    PORT: '0',
    DISPATCH_INTERVAL: '300ms',
    LOG_LEVEL: 'silent',
  };
  const api = await runServer(apiEnv, { config: loadConfig(apiEnv), logger: quietLogger });

  const deliveries = new Map<string, { id: string; body: string }>();
  let worker: ChildProcess | null = null;
  let log = '';
  const startWorker = () => {
    if (worker && worker.exitCode === null && worker.signalCode === null)
      throw new Error('the worker is already running');
    worker = spawn(process.execPath, ['--require', 'tsx/cjs', 'workers/main.ts'], {
      cwd: path.resolve(__dirname, '../..'),
      env: {
        ...process.env,
        ...SECRETS,
        DATABASE_URL: databaseUrl,
        TEMPORAL_ADDRESS: address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        CATALOG_FILE: catalogFile,
        SMTP_URL: mail.url,
        PUBLIC_URL: api.url,
        WORKFLOW_BUNDLE: workflowBundlePath(),
        PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Drain stderr (an unread pipe would block the worker once full); keep the tail for failures.
    worker.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-6000)));
  };
  const killWorker = async () => {
    const w = worker;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    const exited = new Promise((r) => w.once('exit', r));
    w.kill('SIGKILL');
    await exited;
  };

  return {
    databaseUrl,
    db,
    client,
    mail,
    standIns,
    api,
    async fire(employeeId) {
      let delivery = deliveries.get(employeeId);
      if (!delivery) {
        delivery = { id: `msg_${uniq(employeeId)}`, body: JSON.stringify(hrisEvent(employeeId)) };
        deliveries.set(employeeId, delivery);
      }
      const d = signDelivery(WEBHOOK_SECRET, delivery.body, { id: delivery.id });
      return post(`${api.url}/webhooks/hris`, d.body, d.headers);
    },
    killWorker,
    startWorker,
    async killTemporal() {
      await temporal?.kill();
      temporal = null;
    },
    async startTemporal() {
      temporal = await startTemporalDev(root, { port: temporalPort, dbFilename });
    },
    async stopPostgres() {
      await pg?.stop();
      pg = null;
    },
    async startPostgres() {
      pg = await startPostgres(root, { port: pgPort, durableCommits: true });
    },
    workerLog: () => log,
    async stop() {
      await killWorker();
      await api.close();
      await connection.close();
      await db.$disconnect();
      await standIns.stop();
      await mail.stop();
      await temporal?.stop();
      await pg?.stop();
    },
  };
}
