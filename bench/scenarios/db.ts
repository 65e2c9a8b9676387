/**
 * `db`: CPU and time per database statement in this process, the same statements three ways: through
 * the Prisma client the app uses (lib/db.ts: Rust-free client, query compiler in WebAssembly, over
 * @prisma/adapter-pg), through Prisma's `$executeRaw`, and through `pg` directly. The worker's and the
 * API's CPU profiles are dominated by the first (see bench/README.md); this measures it in isolation.
 * Statements run one after the other (no concurrency), so the figures are per statement.
 * Then the revocation path's own statements (a step's attempt, its pace booking, its confirmation with
 * the chained audit row) through lib/db.ts `sql`, unnamed and prepared (DATABASE_PREPARED_STATEMENTS),
 * with PostgreSQL's CPU per statement beside this process's.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import { ATTEMPT_SQL, CONFIRM_SQL } from '../../activities';
import { BOOK_SLOT_SQL } from '../../activities/pace';
import { createDb, Prisma, sql } from '../../lib/db';
import { cpuSecondsOf } from '../lib/procs';
import { printTable } from '../lib/report';
import type { Services } from '../lib/services';
import { runId } from '../lib/stack';

export interface DbOptions {
  statements: number;
}

async function timed(n: number, fn: (i: number) => Promise<unknown>) {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i); // warm-up
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return {
    cpuMicrosPerStatement: Math.round((c.user + c.system) / n),
    wallMicrosPerStatement: Math.round((wall * 1000) / n),
  };
}

export async function dbScenario(s: Services, o: DbOptions) {
  const id = runId();
  const n = o.statements;
  const departureId = `dep_db_${id}`;
  await s.db.departure.create({
    data: {
      id: departureId,
      employeeId: `DB${id}`,
      terminationKey: 'k',
      workflowId: `offboarding:DB${id}`,
      employeeName: 'x',
      workEmail: 'x@example.com',
      department: 'Finance',
      workLocation: 'remote',
      terminationType: 'involuntary',
      confirmedAt: new Date(),
      occurredAt: new Date(),
    },
  });
  const systems = Array.from({ length: 50 }, (_, i) => `sys${i}`);
  await s.db.stepRecord.createMany({
    data: systems.map((systemId, ordinal) => ({
      departureId,
      systemId,
      systemName: systemId,
      action: 'revoke',
      tier: 'application',
      ordinal,
      executingSystem: 'bench',
    })),
  });
  const pool = new Pool({ connectionString: s.databaseUrl, max: 1 });
  const where = (i: number) => ({
    departureId_systemId_action: { departureId, systemId: systems[i % 50]!, action: 'revoke' },
  });
  try {
    const rows = {
      'update StepRecord (by unique key)': {
        prisma: await timed(n, (i) =>
          s.db.stepRecord.update({ where: where(i), data: { status: 'running', attempts: i } }),
        ),
        executeRaw: await timed(n, (i) =>
          s.db
            .$executeRaw(Prisma.sql`UPDATE "StepRecord" SET status = 'running', attempts = ${i}, "updatedAt" = now()
              WHERE "departureId" = ${departureId} AND "systemId" = ${systems[i % 50]!} AND action = 'revoke'`),
        ),
        pg: await timed(n, (i) =>
          pool.query(
            `UPDATE "StepRecord" SET status = 'running', attempts = $1, "updatedAt" = now()
              WHERE "departureId" = $2 AND "systemId" = $3 AND action = 'revoke'`,
            [i, departureId, systems[i % 50]],
          ),
        ),
      },
      'find Departure (by id)': {
        prisma: await timed(n, () => s.db.departure.findUnique({ where: { id: departureId } })),
        executeRaw: await timed(n, () =>
          s.db.$queryRaw(Prisma.sql`SELECT * FROM "Departure" WHERE id = ${departureId}`),
        ),
        pg: await timed(n, () => pool.query(`SELECT * FROM "Departure" WHERE id = $1`, [departureId])),
      },
    };
    const revocation = await revocationStatements(s, n, departureId, systems);
    printTable(`db: ${n} statements each, one at a time (µs per statement: CPU of this process / wall)`, [
      ['statement', 'Prisma client', 'Prisma $executeRaw', 'pg'],
      ...Object.entries(rows).map(([k, v]) => [
        k,
        `${v.prisma.cpuMicrosPerStatement} / ${v.prisma.wallMicrosPerStatement}`,
        `${v.executeRaw.cpuMicrosPerStatement} / ${v.executeRaw.wallMicrosPerStatement}`,
        `${v.pg.cpuMicrosPerStatement} / ${v.pg.wallMicrosPerStatement}`,
      ]),
    ]);
    printTable(
      `db: the revocation path's statements through sql(), ${n} each (µs per statement: this process / PostgreSQL)`,
      [
        ['statement', 'unnamed', 'prepared'],
        ...Object.entries(revocation).map(([k, v]) => [
          k,
          `${v.unnamed.client} / ${v.unnamed.postgres}`,
          `${v.prepared.client} / ${v.prepared.postgres}`,
        ]),
      ],
    );
    return { scenario: 'db', options: o, microsPerStatement: rows, revocationStatements: revocation };
  } finally {
    await pool.end();
  }
}

/**
 * The revocation path's statements (activities/index.ts, activities/pace.ts) through `sql`, on a
 * one-connection pool without and with prepared statements: µs of CPU per statement in this process
 * and in PostgreSQL (the pool's one backend process, /proc).
 */
async function revocationStatements(s: Services, n: number, departureId: string, systems: string[]) {
  const params: Record<string, (i: number) => unknown[]> = {
    "step's attempt": (i) => [
      departureId,
      systems[i % 50],
      'revoke',
      new Date().toISOString(),
      i,
      ['green', 'yellow'],
      true,
    ],
    'pace booking': (i) => [`bench-sys${i % 5}`, 25],
    'confirmation + audit row': (i) => [
      departureId,
      systems[i % 50],
      'revoke',
      new Date().toISOString(),
      JSON.stringify({ changes: ['active=false'], confirmation: { id: 'x', active: false } }),
      'worker:bench',
      JSON.stringify({ systemId: systems[i % 50], action: 'revoke', changes: ['active=false'], attempt: 1 }),
    ],
  };
  const texts: Record<string, string> = {
    "step's attempt": ATTEMPT_SQL,
    'pace booking': BOOK_SLOT_SQL,
    'confirmation + audit row': CONFIRM_SQL,
  };
  const out: Record<string, Record<'unnamed' | 'prepared', { client: number; postgres: number }>> = {};
  for (const prepared of [false, true]) {
    const db = createDb(s.databaseUrl, { max: 1, preparedStatements: prepared });
    try {
      for (const [name, text] of Object.entries(texts)) {
        const run = (i: number) => sql(db, text, params[name]!(i));
        for (let i = 0; i < Math.min(200, n); i++) await run(i); // warm-up (and the prepare)
        // The one backend serving this pool (other backends come and go: not counted).
        const { rows } = await sql<{ pid: number }>(db, 'SELECT pg_backend_pid() AS pid');
        const backend = rows[0]!.pid;
        const pg0 = cpuSecondsOf(backend);
        const c0 = process.cpuUsage();
        for (let i = 0; i < n; i++) await run(i);
        const c = process.cpuUsage(c0);
        const pgSeconds = cpuSecondsOf(backend) - pg0;
        (out[name] ??= {} as (typeof out)[string])[prepared ? 'prepared' : 'unnamed'] = {
          client: Math.round((c.user + c.system) / n),
          postgres: Math.round((pgSeconds * 1e6) / n),
        };
      }
    } finally {
      await db.$disconnect();
    }
  }
  return out;
}
