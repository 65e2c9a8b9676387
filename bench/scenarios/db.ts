/**
 * `db`: CPU and time per database statement in this process, the same statements three ways: through
 * the Prisma client the app uses (lib/db.ts: Rust-free client, query compiler in WebAssembly, over
 * @prisma/adapter-pg), through Prisma's `$executeRaw`, and through `pg` directly. The worker's and the
 * API's CPU profiles are dominated by the first (see bench/README.md); this measures it in isolation.
 * Statements run one after the other (no concurrency), so the figures are per statement.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import { Prisma } from '../../lib/db';
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
    printTable(`db: ${n} statements each, one at a time (µs per statement: CPU of this process / wall)`, [
      ['statement', 'Prisma client', 'Prisma $executeRaw', 'pg'],
      ...Object.entries(rows).map(([k, v]) => [
        k,
        `${v.prisma.cpuMicrosPerStatement} / ${v.prisma.wallMicrosPerStatement}`,
        `${v.executeRaw.cpuMicrosPerStatement} / ${v.executeRaw.wallMicrosPerStatement}`,
        `${v.pg.cpuMicrosPerStatement} / ${v.pg.wallMicrosPerStatement}`,
      ]),
    ]);
    return { scenario: 'db', options: o, microsPerStatement: rows };
  } finally {
    await pool.end();
  }
}
