/**
 * Audit evidence outside the database (lib/audit-export.ts, docs/operations.md) on real PostgreSQL: an
 * export is a new signed, read-only file every time; `offboard verify-audit --exports` (a child process)
 * passes on an untouched chain and, after a superuser rewrites a row and recomputes every later hash
 * (the chain then verifies on its own), fails naming the first export the chain contradicts; an edited,
 * unsigned, foreign, renamed, missing, out-of-order or stale export file is each named.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { createAuditExportActivities, readAuditChainHead } from '../activities/audit-export';
import { readAuditExports } from '../cli/lib/audit-exports';
import type { VerifyAuditResult } from '../cli/commands/verify-audit';
import { AUDIT_EXPORT_FILE, auditExportSignatureValid, writeAuditExport } from '../lib/audit-export';
import { mintSigningKey, parsePublicKeys, parseSigningKey, type AuditSigningKey } from '../lib/audit-key';
import { audit, type Db } from '../lib/db';
import { env, quietLogger, startStack, uniq, type Stack } from './support/harness';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const CLI = path.join(__dirname, '..', 'cli', 'offboard.cjs');
const pair = mintSigningKey('test-1');
const key = parseSigningKey(pair.signingKey) as AuditSigningKey;
const keysOf = (text: string) => {
  const r = parsePublicKeys(text);
  if ('errors' in r) throw new Error(r.errors.join('; '));
  return r.keys;
};
const publicKeys = () => keysOf(pair.publicKey);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function verifyAudit(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'verify-audit', ...args],
      { env: { ...process.env, DATABASE_URL: stack.databaseUrl, NO_COLOR: '1' }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const withExports = (dir: string, more: string[] = []) => [
  '--exports',
  dir,
  '--public-key',
  pair.publicKey,
  ...more,
];

async function verifyJson(dir: string): Promise<{ run: Run; result: VerifyAuditResult }> {
  const run = await verifyAudit([...withExports(dir), '--json']);
  return { run, result: JSON.parse(run.stdout) as VerifyAuditResult };
}

const newDir = () => mkdtempSync(path.join(env.root, `${uniq('exports')}-`));
const exporter = (dir: string, k: AuditSigningKey | null = key) =>
  createAuditExportActivities({ db: stack.db, dir, key: k, logger: quietLogger });
const appendRows = async (n: number) => {
  for (let i = 0; i < n; i++) await audit(stack.db, { actor: 'test', action: 'export_test', details: { i } });
};
const read = (dir: string, file: string) =>
  JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;

/** Runs `fn` as the superuser with the given AuditEvent triggers disabled, in one transaction. */
async function asSuperuser(triggers: string[], fn: (tx: Db) => Promise<unknown>): Promise<void> {
  await stack.db.$transaction(async (tx) => {
    for (const t of triggers) await tx.$executeRawUnsafe(`ALTER TABLE "AuditEvent" DISABLE TRIGGER "${t}"`);
    await fn(tx as unknown as Db);
    for (const t of triggers) await tx.$executeRawUnsafe(`ALTER TABLE "AuditEvent" ENABLE TRIGGER "${t}"`);
  });
}

/** Rewrites `details` of the row at `seq`, then re-links and re-hashes it and every row after it. */
const rewrite = (seq: bigint, details: string | null) =>
  asSuperuser(['AuditEvent_no_update_delete'], async (tx) => {
    await tx.$executeRawUnsafe(`UPDATE "AuditEvent" SET details = $1::jsonb WHERE seq = $2`, details, seq);
    await tx.$executeRawUnsafe(
      `DO $$ DECLARE r record; prev text; BEGIN
         SELECT hash INTO prev FROM "AuditEvent" WHERE seq = ${seq - 1n};
         FOR r IN SELECT * FROM "AuditEvent" WHERE seq >= ${seq} ORDER BY seq LOOP
           UPDATE "AuditEvent" SET "prevHash" = prev, hash = audit_event_hash(r.seq, r.id, r.at,
             r."createdAt", r.actor, r.action, r."departureId", r.details, prev) WHERE id = r.id
           RETURNING hash INTO prev;
         END LOOP; END $$`,
    );
  });

test('an export is a new signed, read-only file every time, also when the head did not move', async () => {
  await appendRows(3);
  const dir = newDir();
  const first = await exporter(dir).exportAuditHead();
  const chain = await readAuditChainHead(stack.db);
  expect(chain.head).not.toBeNull();
  expect(first).toMatchObject({ sequence: 1, head: chain.head, rows: chain.head!.seq, signed: true });
  expect(first.file).toMatch(AUDIT_EXPORT_FILE);
  expect(statSync(path.join(dir, first.file)).mode & 0o777).toBe(0o444);
  const content = read(dir, first.file);
  expect(content).toMatchObject({ format: 'offboard-audit-head/1', keyId: 'test-1', head: chain.head });
  expect(auditExportSignatureValid(content, publicKeys()[0]!.key)).toBe(true);
  // The same head again: a new file (liveness), the first one untouched.
  const bytes = readFileSync(path.join(dir, first.file));
  const second = await exporter(dir).exportAuditHead();
  expect(second).toMatchObject({ sequence: 2, head: first.head });
  expect(second.file).not.toBe(first.file);
  expect(readFileSync(path.join(dir, first.file))).toEqual(bytes);
  // A file is never written over: its mode says so (root ignores it), and writers racing for a name
  // each get their own file (created exclusively: the loser takes the next sequence).
  if (process.getuid?.() !== 0)
    expect(() => writeFileSync(path.join(dir, first.file), 'x', { flag: 'w' })).toThrow(/EACCES|EPERM/);
  const at = new Date();
  const raced = await Promise.all(Array.from({ length: 6 }, () => writeAuditExport(dir, chain, key, at)));
  expect(raced.map((r) => r.content.sequence).sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8]);
  for (const r of raced) expect(read(dir, r.file)).toEqual(r.content);
  // Without a key (outside production only): unsigned.
  const unsigned = await exporter(dir, null).exportAuditHead();
  expect(unsigned.signed).toBe(false);
  expect(read(dir, unsigned.file)).not.toHaveProperty('signature');
});

test('an export directory that cannot be written fails the activity, naming AUDIT_EXPORT_DIR', async () => {
  await expect(exporter(path.join(env.root, uniq('missing'))).exportAuditHead()).rejects.toThrow(
    /cannot write an audit export into AUDIT_EXPORT_DIR \(.*\): ENOENT/,
  );
});

test('a chain rewritten with every later hash recomputed: verify-audit names the first export it contradicts', async () => {
  const dir = newDir();
  await appendRows(4);
  const e1 = await exporter(dir).exportAuditHead();
  await appendRows(4);
  const e2 = await exporter(dir).exportAuditHead();
  await appendRows(4);
  const e3 = await exporter(dir).exportAuditHead();

  // Untouched: every export's head is in the chain.
  const ok = await verifyJson(dir);
  expect(ok.run.code).toBe(0);
  expect(ok.result).toMatchObject({ intact: true, broken: null });
  expect(ok.result.exports).toMatchObject({ files: 3, checked: 3, problems: [] });
  expect(ok.result.exports!.newest).toMatchObject({ file: e3.file, sequence: 3, seq: e3.head!.seq });
  const text = await verifyAudit(withExports(dir));
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('3 export head(s) matched');

  // A row after the first export's head and before the second's.
  const seq = BigInt(e1.head!.seq) + 2n;
  expect(seq).toBeLessThan(BigInt(e2.head!.seq));
  const [{ details }] = await stack.db.$queryRawUnsafe<[{ details: string | null }]>(
    'SELECT details::text AS details FROM "AuditEvent" WHERE seq = $1',
    seq,
  );
  await rewrite(seq, JSON.stringify({ rewritten: true }));
  try {
    // On its own the rewritten chain verifies: only the exports tell.
    expect((await verifyAudit([])).code).toBe(0);
    const { run, result } = await verifyJson(dir);
    expect(run.code).toBe(1);
    expect(result.intact).toBe(false);
    expect(result.broken).toMatchObject({
      seq: e2.head!.seq,
      mismatch: 'export',
      evidence: e2.file,
      expected: e2.head!.hash,
    });
    expect(result.broken!.found).not.toBe(e2.head!.hash);
    expect(result.broken!.message).toContain(`export ${e2.file} recorded hash`);
    // The first export still matched; the rows up to the second export's position verified.
    expect(result.exports!.checked).toBe(1);
    expect(result.rows).toBe(Number(e2.head!.seq) - 1);
    const out = await verifyAudit(withExports(dir));
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(`BROKEN at seq ${e2.head!.seq}`);
    expect(out.stdout).toContain(`export mismatch`);
    expect(out.stdout).toContain(e2.file);
  } finally {
    await rewrite(seq, details);
  }
  expect((await verifyAudit(withExports(dir))).code).toBe(0);
});

test('rows cut from the end beyond an export: reported as removed from the end', async () => {
  const dir = newDir();
  await appendRows(2);
  const e = await exporter(dir).exportAuditHead();
  // Signed by the key, a head one row beyond the chain's end (as if the newest row was deleted since).
  const beyond = { seq: String(BigInt(e.head!.seq) + 1n), id: '999999', hash: 'a'.repeat(64) };
  await writeAuditExport(dir, { head: beyond, rows: beyond.seq }, key);
  const { run, result } = await verifyJson(dir);
  expect(run.code).toBe(1);
  expect(result.broken).toMatchObject({ seq: beyond.seq, id: null, mismatch: 'export' });
  expect(result.broken!.message).toMatch(/rows were removed from the end/);
});

describe('the export files themselves', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    dir = newDir();
    await appendRows(2);
    for (let i = 0; i < 3; i++) {
      await exporter(dir).exportAuditHead();
      await appendRows(1);
    }
    files = readdirSync(dir).sort();
  });

  /** A writable copy of the exports, changed by `change`, checked in process. */
  async function checkCopy(change: (copy: string) => void, keys = publicKeys(), opts = {}) {
    const copy = newDir();
    for (const f of files) {
      writeFileSync(path.join(copy, f), readFileSync(path.join(dir, f)));
      chmodSync(path.join(copy, f), 0o644);
    }
    change(copy);
    return { copy, reading: await readAuditExports(copy, keys, opts) };
  }

  test('an edited export: signature failure naming the file (CLI: exit 1, the file named)', async () => {
    const { copy, reading } = await checkCopy((c) => {
      const e = read(c, files[1]!);
      (e.head as { hash: string }).hash = 'b'.repeat(64);
      writeFileSync(path.join(c, files[1]!), JSON.stringify(e, null, 2));
    });
    expect(reading.problems).toEqual([
      {
        file: files[1],
        problem: 'signature',
        message: expect.stringMatching(/does not verify with public key "test-1"/),
      },
    ]);
    expect(reading.exports.map((e) => e.file)).toEqual([files[0], files[2]]);
    const run = await verifyAudit(withExports(copy));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^intact: /m);
    expect(run.stdout).toContain('EXPORT PROBLEMS: 1');
    expect(run.stdout).toContain(`${files[1]}: signature: its signature does not verify`);
  });

  test('unsigned, signed with an unknown key, or with another key under the same id', async () => {
    const unsigned = await checkCopy((c) => {
      const e = read(c, files[0]!);
      delete e.signature;
      writeFileSync(path.join(c, files[0]!), JSON.stringify(e));
    });
    expect(unsigned.reading.problems).toEqual([
      { file: files[0], problem: 'unsigned', message: expect.stringMatching(/has no signature/) },
    ]);
    const other = mintSigningKey('other-1');
    const unknown = await checkCopy(() => undefined, keysOf(other.publicKey));
    expect(unknown.reading.problems.map((p) => p.problem)).toEqual([
      'unknown_key',
      'unknown_key',
      'unknown_key',
    ]);
    expect(unknown.reading.problems[0]!.message).toContain(
      '"test-1", which is not among the public keys given (other-1)',
    );
    const impostor = mintSigningKey('test-1');
    const forged = await checkCopy(() => undefined, keysOf(impostor.publicKey));
    expect(forged.reading.problems.map((p) => p.problem)).toEqual(['signature', 'signature', 'signature']);
    expect(forged.reading.exports).toEqual([]);
  });

  test('renamed, missing, damaged, out of order, stale; none at all', async () => {
    const renamed = await checkCopy((c) =>
      renameSync(path.join(c, files[0]!), path.join(c, files[0]!.replace(/-0+1\.json$/, '-00000009.json'))),
    );
    expect(renamed.reading.problems).toContainEqual(
      expect.objectContaining({
        problem: 'name',
        message: expect.stringMatching(/does not match its content/),
      }),
    );
    const missing = await checkCopy((c) => rmSync(path.join(c, files[1]!)));
    expect(missing.reading.problems).toEqual([
      {
        file: files[2],
        problem: 'order',
        message: expect.stringMatching(/sequence jumps from 1 .* to 3: 1 export\(s\) missing/),
      },
    ]);
    const damaged = await checkCopy((c) => writeFileSync(path.join(c, files[2]!), '{"format":"offboard-au'));
    expect(damaged.reading.problems).toEqual([
      { file: files[2], problem: 'unreadable', message: expect.stringMatching(/cannot be read as JSON/) },
    ]);
    // A later export (signed) whose head is behind the one before: the chain was cut in between.
    const behind = await checkCopy(() => undefined);
    const firstHead = read(dir, files[0]!).head as { seq: string; id: string; hash: string };
    await writeAuditExport(behind.copy, { head: firstHead, rows: firstHead.seq }, key);
    const again = await readAuditExports(behind.copy, publicKeys());
    expect(again.problems).toEqual([
      expect.objectContaining({
        problem: 'order',
        message: expect.stringMatching(/is behind that of .*: the chain was cut or rewritten/),
      }),
    ]);
    // Signed, but the chain was already broken when exported (its row count is not its head's position).
    const uneven = await checkCopy(() => undefined);
    const lastHead = read(dir, files[2]!).head as { seq: string; id: string; hash: string };
    await writeAuditExport(uneven.copy, { head: lastHead, rows: String(BigInt(lastHead.seq) + 1n) }, key);
    expect((await readAuditExports(uneven.copy, publicKeys())).problems).toEqual([
      expect.objectContaining({ problem: 'inconsistent', message: expect.stringMatching(/already broken/) }),
    ]);
    // Stale: the newest export is older than --max-age allows.
    expect(
      (await checkCopy(() => undefined, publicKeys(), { maxAgeMs: 3_600_000 })).reading.problems,
    ).toEqual([]);
    const stale = await checkCopy(() => undefined, publicKeys(), {
      maxAgeMs: 3_600_000,
      now: new Date(Date.now() + 2 * 3_600_000),
    });
    expect(stale.reading.problems).toEqual([
      { file: files[2], problem: 'stale', message: expect.stringMatching(/is the export schedule running/) },
    ]);
    const empty = await readAuditExports(newDir(), publicKeys());
    expect(empty.problems).toEqual([
      { file: null, problem: 'none', message: expect.stringMatching(/no audit export in/) },
    ]);
  });

  test('usage errors: no public key, a bad key, an unreadable directory, --public-key alone', async () => {
    const noKey = await verifyAudit(['--exports', dir]);
    expect(noKey.code).toBe(64);
    expect(noKey.stderr).toMatch(/--exports needs the public key/);
    const bad = await verifyAudit(['--exports', dir, '--public-key', 'test-1:bm90IGEga2V5']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(
      /public key 1: must be keyId:base64 of a 32-byte Ed25519 public key.*holds 9 bytes, not 32/,
    );
    const nowhere = await verifyAudit(withExports(path.join(dir, 'nowhere')));
    expect(nowhere.code).toBe(64);
    expect(nowhere.stderr).toMatch(/--exports .*nowhere: cannot read the directory: ENOENT/);
    const alone = await verifyAudit(['--public-key', pair.publicKey]);
    expect(alone.code).toBe(64);
    expect(alone.stderr).toMatch(/--public-key is for --exports <dir>/);
  });
});
