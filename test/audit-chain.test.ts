/**
 * The tamper-evident audit trail on real PostgreSQL: concurrent writers (two Prisma clients, a plain pg
 * pool, inside and outside transactions, some rolled back) form one chain without gaps or forks;
 * `offboard verify-audit` (a child process, reading the database directly) recomputes it and names the
 * first broken row after a superuser tampers with the table; the completion certificate carries the
 * chain head of the moment it was issued; the migration chains the rows of an existing database.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createDocumentActivities } from '../activities/documents';
import { verifyAuditChain, type VerifyAuditResult } from '../cli/commands/verify-audit';
import {
  AUDIT_CHAIN_GENESIS,
  audit,
  auditCanonicalRow,
  auditChainHead,
  auditRowHash,
  createDb,
  type Db,
} from '../lib/db';
import { createDeparture, env, startStack, uniq, type Stack } from './support/harness';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const CLI = path.join(__dirname, '..', 'cli', 'offboard.cjs');
const MIGRATIONS = path.join(__dirname, '..', 'prisma', 'migrations');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function verifyAudit(args: string[] = [], databaseUrl = stack.databaseUrl): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'verify-audit', ...args],
      { env: { ...process.env, DATABASE_URL: databaseUrl, NO_COLOR: '1' }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const verifyJson = async (): Promise<{ run: Run; result: VerifyAuditResult }> => {
  const run = await verifyAudit(['--json']);
  return { run, result: JSON.parse(run.stdout) as VerifyAuditResult };
};

/** Runs `fn` as the superuser with the given AuditEvent triggers disabled, in one transaction. */
async function asSuperuser(triggers: string[], fn: (tx: Db) => Promise<unknown>): Promise<void> {
  await stack.db.$transaction(async (tx) => {
    for (const t of triggers) await tx.$executeRawUnsafe(`ALTER TABLE "AuditEvent" DISABLE TRIGGER "${t}"`);
    await fn(tx as unknown as Db);
    for (const t of triggers) await tx.$executeRawUnsafe(`ALTER TABLE "AuditEvent" ENABLE TRIGGER "${t}"`);
  });
}

/** Text of a PDF (pdf-parse in a plain Node process, as test/documents.test.ts does). */
function pdfText(bytes: Uint8Array): string {
  const script = `
    const { PDFParse } = require('pdf-parse');
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', async () => {
      const parser = new PDFParse({ data: new Uint8Array(Buffer.concat(chunks)) });
      const r = await parser.getText();
      await parser.destroy();
      process.stdout.write(r.text);
    });`;
  const r = spawnSync(process.execPath, ['-e', script], {
    input: Buffer.from(bytes),
    cwd: path.resolve(__dirname, '..'),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`pdf-parse failed: ${r.stderr}`);
  return r.stdout.replace(/\s+/g, ' ');
}

async function issueCertificate() {
  const input = await createDeparture(stack.db, uniq('E-CHAIN'));
  await stack.db.departure.update({
    where: { id: input.departureId },
    data: { status: 'completed', workflowStartedAt: new Date() },
  });
  const acts = createDocumentActivities({
    db: stack.db,
    catalog: stack.catalog,
    mailer: stack.mailer,
    publicUrl: 'http://127.0.0.1:3000',
  });
  const before = await auditChainHead(stack.db);
  const r = await acts.generateCompletionCertificate({ departureId: input.departureId });
  const doc = await stack.db.document.findUniqueOrThrow({ where: { id: r.documentId } });
  return { departureId: input.departureId, before: before!, doc };
}

test('the documented worked example hashes the same in the reference code and in the database', async () => {
  const row = {
    seq: '1',
    id: '1',
    at: '2026-11-25T14:03:00.000Z',
    createdAt: '2026-11-25T14:03:00.000Z',
    actor: 'hris',
    action: 'departure_accepted',
    departureId: 'dep_1',
    details: '{"webhookId": "msg_1", "status": "terminated"}',
    prevHash: AUDIT_CHAIN_GENESIS,
  };
  expect(auditCanonicalRow(row)).toBe(
    '{"action":"departure_accepted","actor":"hris","at":"2026-11-25T14:03:00.000Z",' +
      '"createdAt":"2026-11-25T14:03:00.000Z","departureId":"dep_1",' +
      `"details":{"status":"terminated","webhookId":"msg_1"},"id":1,"prevHash":"${'0'.repeat(64)}","seq":1}`,
  );
  const documented = '4b18b9f2d8240f24a8291beb449b9efbfe4251f93b81ac8906ae556d37201f16';
  expect(auditRowHash(row)).toBe(documented);
  const [db] = await stack.db.$queryRawUnsafe<{ h: string }[]>(
    `SELECT audit_event_hash(1, 1, '2026-11-25 14:03:00', '2026-11-25 14:03:00', 'hris',
       'departure_accepted', 'dep_1', $1::jsonb, $2) AS h`,
    row.details,
    AUDIT_CHAIN_GENESIS,
  );
  expect(db!.h).toBe(documented);
});

test('200 concurrent appends from several clients, in and out of transactions, form one chain', async () => {
  const other = createDb(stack.databaseUrl, { max: 8 }); // a second process's pool
  const raw = new pg.Pool({ connectionString: stack.databaseUrl, max: 4 }); // a writer outside Prisma
  const tag = uniq('conc');
  const startCount = await stack.db.auditEvent.count();
  // Appends are serialized, and 80 interactive transactions share 18 connections: on a loaded CI
  // machine Prisma's default 2 s wait for a connection can run out (before the chain existed too).
  // This test is about the chain, so the transactions may wait.
  const txOpts = { maxWait: 60_000, timeout: 60_000 };
  let committed = 0;
  let rolledBack = 0;
  const outcomes = await Promise.allSettled(
    Array.from({ length: 200 }, async (_, i) => {
      const entry = { actor: tag, action: `append_${i}`, departureId: `dep_${i % 7}`, details: { i, tag } };
      switch (i % 5) {
        case 0:
          await audit(stack.db, entry);
          break;
        case 1:
          await audit(other, entry);
          break;
        case 2:
          // Inside a transaction with other work, the way the API writes its audit rows.
          await stack.db.$transaction(async (tx) => {
            await tx.notification.findFirst({ where: { key: `${tag}-${i}` } });
            await audit(tx, entry);
          }, txOpts);
          break;
        case 3:
          if (i % 3 === 0) {
            // A transaction that fails after its audit row: the row and its seq go away, no gap.
            const failed = await other
              .$transaction(async (tx) => {
                await audit(tx, entry);
                throw new Error('rolled back on purpose');
              }, txOpts)
              .catch((e: Error) => e);
            expect(failed).toEqual(new Error('rolled back on purpose'));
            rolledBack++;
            return;
          }
          await other.$transaction(async (tx) => audit(tx, entry), txOpts);
          break;
        default:
          // A client that sends its own chain values: the trigger overwrites them.
          await raw.query(
            `INSERT INTO "AuditEvent"(actor, action, "departureId", details, seq, "prevHash", hash)
             VALUES ($1, $2, $3, $4, 424242, 'forged', 'forged')`,
            [entry.actor, entry.action, entry.departureId, JSON.stringify(entry.details)],
          );
      }
      committed++;
    }),
  );
  await other.$disconnect();
  await raw.end();
  expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
  expect(committed + rolledBack).toBe(200);
  expect(rolledBack).toBeGreaterThan(0);
  const rows = await stack.db.auditEvent.findMany({
    orderBy: { seq: 'asc' },
    select: { seq: true, prevHash: true, hash: true, actor: true },
  });
  expect(rows.filter((r) => r.actor === tag)).toHaveLength(committed);
  expect(rows).toHaveLength(startCount + committed);
  // One chain: 1, 2, 3, ... each linked to the one before, no forged values.
  rows.forEach((r, k) => {
    expect(r.seq).toBe(BigInt(k + 1));
    expect(r.prevHash).toBe(k === 0 ? AUDIT_CHAIN_GENESIS : rows[k - 1]!.hash);
    expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
  });
  expect(rows.some((r) => r.hash === 'forged' || r.seq === 424242n)).toBe(false);

  // The verifier, in process (small batches, so the keyset paging is exercised) and as the CLI.
  const client = new pg.Client({ connectionString: stack.databaseUrl });
  await client.connect();
  const res = await verifyAuditChain(client, { batchSize: 7 }).finally(() => client.end());
  const head = rows.at(-1)!;
  expect(res).toMatchObject({ intact: true, rows: rows.length, broken: null });
  expect(res.head).toMatchObject({ seq: String(head.seq), hash: head.hash });

  const text = await verifyAudit();
  expect(text.stderr).toBe('');
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`intact: ${rows.length} rows`);
  expect(text.stdout).toContain(`chain head: seq ${head.seq}  hash ${head.hash}`);
  const { run, result } = await verifyJson();
  expect(run.code).toBe(0);
  expect(result).toMatchObject({ intact: true, rows: rows.length, head: { hash: head.hash } });
}, 180_000);

test('the completion certificate carries the chain head of the moment it was issued', async () => {
  await audit(stack.db, { actor: 'test', action: 'before_certificate' });
  const { departureId, before, doc } = await issueCertificate();
  const meta = doc.meta as { auditChainHead: string; auditChainSeq: number };
  expect(meta.auditChainHead).toBe(before.hash);
  expect(meta.auditChainSeq).toBe(Number(before.seq));
  expect(pdfText(doc.content!)).toContain(`Audit chain head: ${before.hash}`);

  // The chain moves on (the activity's own document_generated row, then more); the certificate does not.
  const generated = await stack.db.auditEvent.findFirstOrThrow({
    where: { departureId, action: 'document_generated' },
  });
  expect(generated.seq).toBeGreaterThan(before.seq);
  expect(generated.prevHash).toBe(before.hash);
  await audit(stack.db, { actor: 'test', action: 'after_certificate' });
  expect((await auditChainHead(stack.db))!.hash).not.toBe(before.hash);
  const again = await stack.db.document.findUniqueOrThrow({ where: { id: doc.id } });
  expect(again.meta).toEqual(doc.meta);

  // verify-audit compares every certificate's recorded head with the chain.
  const { run, result } = await verifyJson();
  expect(run.code).toBe(0);
  expect(result.certificates.checked).toBeGreaterThanOrEqual(1);
});

test('verify-audit --help; no database is a usage error', async () => {
  const help = await verifyAudit(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Usage: offboard verify-audit');
  expect(help.stdout).toMatch(/Exit codes/);
  const none = await new Promise<Run>((resolve) => {
    const e = { ...process.env };
    delete e.DATABASE_URL;
    execFile(process.execPath, [CLI, 'verify-audit'], { env: e }, (err, stdout, stderr) =>
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr }),
    );
  });
  expect(none.code).toBe(64);
  expect(none.stderr).toMatch(/DATABASE_URL/);
});

describe('tampering by a database superuser is detected', () => {
  async function middleRow() {
    const n = await stack.db.auditEvent.count();
    const row = await stack.db.auditEvent.findUniqueOrThrow({ where: { seq: BigInt(Math.floor(n / 2)) } });
    // The stored jsonb text, to put back exactly what was there.
    const [{ details }] = await stack.db.$queryRawUnsafe<[{ details: string | null }]>(
      'SELECT details::text AS details FROM "AuditEvent" WHERE seq = $1',
      row.seq,
    );
    return { ...row, detailsText: details };
  }

  /** Copies rows aside (a plain table: Prisma's pool may run the restore on another connection). */
  async function backup(where: string): Promise<() => Promise<void>> {
    const t = uniq('audit_backup').replace(/-/g, '_');
    await stack.db.$executeRawUnsafe(`CREATE TABLE "${t}" AS SELECT * FROM "AuditEvent" WHERE ${where}`);
    return async () => {
      await asSuperuser(['AuditEvent_chain'], (tx) =>
        tx.$executeRawUnsafe(`INSERT INTO "AuditEvent" SELECT * FROM "${t}"`),
      );
      await stack.db.$executeRawUnsafe(`DROP TABLE "${t}"`);
    };
  }

  /** Tampers, runs the checks, and puts everything back whatever they found; then the chain verifies. */
  async function whileTampered(
    tamper: () => Promise<unknown>,
    restore: () => Promise<unknown>,
    check: () => Promise<void>,
  ): Promise<void> {
    await tamper();
    try {
      await check();
    } finally {
      await restore();
    }
    expect((await verifyAudit()).code).toBe(0);
  }

  const setDetails = (seq: bigint, details: string | null) =>
    asSuperuser(['AuditEvent_no_update_delete'], (tx) =>
      tx.$executeRawUnsafe(`UPDATE "AuditEvent" SET details = $1::jsonb WHERE seq = $2`, details, seq),
    );

  test('a changed details column: the row itself is named, hash mismatch; restoring it heals the chain', async () => {
    const row = await middleRow();
    await whileTampered(
      () => setDetails(row.seq, JSON.stringify({ tampered: true })),
      () => setDetails(row.seq, row.detailsText),
      async () => {
        const { run, result } = await verifyJson();
        expect(run.code).toBe(1);
        expect(result.intact).toBe(false);
        expect(result.broken).toMatchObject({
          seq: String(row.seq),
          id: String(row.id),
          at: row.at.toISOString(),
          action: row.action,
          mismatch: 'hash',
          found: row.hash,
        });
        expect(result.rows).toBe(Number(row.seq) - 1);
        const text = await verifyAudit();
        expect(text.code).toBe(1);
        expect(text.stdout).toContain(
          `BROKEN at seq ${row.seq} (id ${row.id}, ${row.at.toISOString()}, ${row.action}): hash mismatch`,
        );
      },
    );
  });

  test('a deleted row: the next row is named, its link does not match; re-inserting it heals the chain', async () => {
    const row = await middleRow();
    const before = await stack.db.auditEvent.findUniqueOrThrow({ where: { seq: row.seq - 1n } });
    const next = await stack.db.auditEvent.findUniqueOrThrow({ where: { seq: row.seq + 1n } });
    const restore = await backup(`seq = ${row.seq}`);
    await whileTampered(
      () =>
        asSuperuser(['AuditEvent_no_update_delete'], (tx) =>
          tx.$executeRawUnsafe(`DELETE FROM "AuditEvent" WHERE seq = $1`, row.seq),
        ),
      restore,
      async () => {
        const { run, result } = await verifyJson();
        expect(run.code).toBe(1);
        expect(result.broken).toMatchObject({
          seq: String(next.seq),
          id: String(next.id),
          action: next.action,
          mismatch: 'link',
          expected: before.hash,
          found: row.hash,
        });
        expect(result.broken!.message).toMatch(/1 row\(s\) missing/);
      },
    );
  });

  test('a row rewritten and every later hash recomputed: caught by the certificate issued after it', async () => {
    const { doc } = await issueCertificate();
    const certSeq = (doc.meta as { auditChainSeq: number }).auditChainSeq;
    const row = await middleRow();
    expect(Number(row.seq)).toBeLessThan(certSeq);
    // The first certificate issued after that row (this one, or one of an earlier test) tells.
    const certificates = await stack.db.document.findMany({ where: { type: 'completion_certificate' } });
    const first = certificates
      .map((d) => ({ id: d.id, ...(d.meta as { auditChainSeq: number | null; auditChainHead: string }) }))
      .filter((m) => m.auditChainSeq !== null && m.auditChainSeq >= Number(row.seq))
      .sort((a, b) => a.auditChainSeq! - b.auditChainSeq!)[0]!;
    // Rewrites `details` of the row, then re-links and re-hashes it and every row after it.
    const rewrite = (details: string | null) =>
      asSuperuser(['AuditEvent_no_update_delete'], async (tx) => {
        await tx.$executeRawUnsafe(
          `UPDATE "AuditEvent" SET details = $1::jsonb WHERE seq = $2`,
          details,
          row.seq,
        );
        await tx.$executeRawUnsafe(
          `DO $$ DECLARE r record; prev text; BEGIN
             SELECT hash INTO prev FROM "AuditEvent" WHERE seq = ${row.seq - 1n};
             FOR r IN SELECT * FROM "AuditEvent" WHERE seq >= ${row.seq} ORDER BY seq LOOP
               UPDATE "AuditEvent" SET "prevHash" = prev, hash = audit_event_hash(r.seq, r.id, r.at,
                 r."createdAt", r.actor, r.action, r."departureId", r.details, prev) WHERE id = r.id
               RETURNING hash INTO prev;
             END LOOP; END $$`,
        );
      });
    await whileTampered(
      () => rewrite(JSON.stringify({ rewritten: true })),
      () => rewrite(row.detailsText),
      async () => {
        const { run, result } = await verifyJson();
        expect(run.code).toBe(1);
        expect(result.broken).toMatchObject({
          seq: String(first.auditChainSeq),
          mismatch: 'certificate',
          expected: first.auditChainHead,
        });
        expect(result.broken!.message).toContain(first.id);
        // Every row before the certificate's position verified on its own: only the certificate tells.
        expect(result.rows).toBe(first.auditChainSeq! - 1);
      },
    );
  });

  test('rows cut from the end beyond a certificate: the chain is reported as cut', async () => {
    const { doc } = await issueCertificate();
    const certSeq = (doc.meta as { auditChainSeq: number }).auditChainSeq;
    const restore = await backup(`seq >= ${certSeq}`);
    await whileTampered(
      () =>
        asSuperuser(['AuditEvent_no_update_delete'], (tx) =>
          tx.$executeRawUnsafe(`DELETE FROM "AuditEvent" WHERE seq >= $1`, certSeq),
        ),
      restore,
      async () => {
        const { run, result } = await verifyJson();
        expect(run.code).toBe(1);
        expect(result.broken).toMatchObject({ seq: String(certSeq), id: null, mismatch: 'certificate' });
        expect(result.broken!.message).toMatch(/rows were removed from the end/);
      },
    );
  });
});

test('the migration chains the rows of an existing database; UPDATE and DELETE stay refused', async () => {
  const name = uniq('chain_mig').replace(/-/g, '_');
  const adminUrl = new URL(env.databaseUrl);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(env.databaseUrl);
  url.pathname = `/${name}`;
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  try {
    // Statement by statement, split at every semicolon as Prisma's driver-adapter runner does.
    const apply = async (dir: string) => {
      const sql = readFileSync(path.join(MIGRATIONS, dir, 'migration.sql'), 'utf8');
      for (const stmt of sql
        .split(';')
        .map((s) => s.trim())
        .filter(Boolean))
        await c.query(stmt);
    };
    const dirs = readdirSync(MIGRATIONS)
      .filter((d) => /^\d{14}_/.test(d))
      .sort();
    const chainIdx = dirs.indexOf('20261127100000_audit_chain');
    expect(chainIdx).toBeGreaterThan(0);
    for (const d of dirs.slice(0, chainIdx)) await apply(d);
    // Rows as an older Offboard wrote them, with awkward content.
    const tricky = String.raw`{"b":[1,2.50,{"z":null,"a":"x\ny\u0001\"/é😀"}],"a":true,"aa":{},"B":[],"é":1,"z":1e3}`;
    await c.query(
      `INSERT INTO "AuditEvent"(actor, action, "departureId", details, at) VALUES
         ('hris', 'departure_accepted', 'dep_1', '{"webhookId": "m1"}', '2026-11-20 10:00:00.5'),
         ('api', 'no_details', NULL, NULL, '2026-11-20 10:00:01'),
         ('api', 'json_null', 'dep_1', 'null', '2026-11-20 10:00:02.25'),
         (E'line\nbreak "quoted"', 'tricky', 'dep_2', $1::jsonb, '2026-11-20 10:00:03.123')`,
      [tricky],
    );
    await c.query(
      `INSERT INTO "AuditEvent"(actor, action, details)
       SELECT 'bulk', 'row', jsonb_build_object('i', g, 'k', 'v' || g) FROM generate_series(1, 500) g`,
    );
    for (const d of dirs.slice(chainIdx)) await apply(d);

    const res = await verifyAuditChain(c, { batchSize: 100 });
    expect(res).toMatchObject({ intact: true, rows: 504, broken: null });
    const { rows } = await c.query<{ seq: string; id: string }>(
      'SELECT seq::text AS seq, id::text AS id FROM "AuditEvent" ORDER BY "AuditEvent".id LIMIT 2',
    );
    expect(rows).toEqual([
      { seq: '1', id: '1' },
      { seq: '2', id: '2' },
    ]);
    await expect(c.query(`UPDATE "AuditEvent" SET actor = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(c.query(`DELETE FROM "AuditEvent" WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(c.query(`TRUNCATE "AuditEvent"`)).rejects.toThrow(/append-only/);
    // New rows continue the chain of the old ones.
    await c.query(`INSERT INTO "AuditEvent"(actor, action) VALUES ('after', 'migration')`);
    expect(await verifyAuditChain(c)).toMatchObject({ intact: true, rows: 505 });
  } finally {
    await c.end();
    await admin.query(`DROP DATABASE "${name}"`).catch(() => undefined);
    await admin.end();
  }
});
