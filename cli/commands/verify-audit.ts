/**
 * `offboard verify-audit`: recomputes the hash chain of the audit trail (`AuditEvent`) straight from the
 * database and names the first row where it breaks (cli/lib/audit-chain.ts); with `--exports`, also
 * checks the chain against the heads exported outside the database (cli/lib/audit-exports.ts,
 * lib/audit-export.ts), which is what shows a chain rewritten with every later hash recomputed. For
 * auditors: it needs only read access to the database (DATABASE_URL) and to the export directory, and
 * the public key, not the API.
 */
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { parsePublicKeys, type AuditPublicKey } from '../../lib/audit-key';
import { AUDIT_CHAIN_GENESIS } from '../../lib/db';
import { verifyAuditChain, type VerifyAuditResult } from '../lib/audit-chain';
import { readAuditExports, type ExportsReading } from '../lib/audit-exports';
import { intIn, jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { colourWord, printJson, println } from '../lib/output';

export { verifyAuditChain, type Mismatch, type VerifyAuditResult } from '../lib/audit-chain';

/** pg's connection string parser ignores Prisma's `schema` parameter: honour it with search_path. */
function clientFor(url: string): { client: pg.Client; schema: string | null } {
  let schema: string | null = null;
  try {
    schema = new URL(url).searchParams.get('schema');
  } catch {
    throw new CliError(EXIT.usage, 'DATABASE_URL is not a URL (postgresql://user:password@host:port/db)');
  }
  return { client: new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 }), schema };
}

function cliErrorFor(e: unknown): CliError | null {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  switch (err.code) {
    case '42P01':
    case '42703':
      return new CliError(
        EXIT.refused,
        `no hash-chained audit trail in this database (${msg}): is it Offboard's, with every migration applied?`,
      );
    case '42501':
    case '28P01':
    case '28000':
    case '3D000':
      return new CliError(EXIT.refused, `the database refused: ${msg}`);
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
      return new CliError(EXIT.unavailable, `database unreachable: ${msg}`);
  }
  if (/timeout|terminated unexpectedly|Connection terminated/i.test(msg))
    return new CliError(EXIT.unavailable, `database unreachable: ${msg}`);
  return null;
}

interface VerifyAuditOptions {
  databaseUrl?: string;
  batchSize: number;
  json?: boolean;
  exports?: string;
  publicKey?: string[];
  maxAge?: number;
}

/** `--max-age`: 90m, 2h, 1d. */
function ageArg(value: string): number {
  const m = /^(\d+)(m|h|d)$/.exec(value);
  if (!m || Number(m[1]) === 0) throw new InvalidArgumentError('must be a duration such as 90m, 2h or 1d');
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm'];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The exports to check (read before the database is opened), or null without `--exports`. */
async function exportsFor(opts: VerifyAuditOptions): Promise<ExportsReading | null> {
  if (!opts.exports) {
    if (opts.publicKey?.length)
      throw new CliError(EXIT.usage, '--public-key is for --exports <dir>: give both');
    if (opts.maxAge !== undefined)
      throw new CliError(EXIT.usage, '--max-age is for --exports <dir>: give both');
    return null;
  }
  const given = opts.publicKey?.length ? opts.publicKey.join(',') : process.env.AUDIT_EXPORT_PUBLIC_KEYS;
  if (!given?.trim())
    throw new CliError(
      EXIT.usage,
      '--exports needs the public key(s) the exports are signed with: --public-key keyId:base64 (repeatable) or AUDIT_EXPORT_PUBLIC_KEYS',
    );
  const parsed = parsePublicKeys(given);
  if ('errors' in parsed) throw new CliError(EXIT.usage, parsed.errors.join('; '));
  const keys: AuditPublicKey[] = parsed.keys;
  try {
    return await readAuditExports(opts.exports, keys, { maxAgeMs: opts.maxAge });
  } catch (e) {
    throw new CliError(
      EXIT.usage,
      `--exports ${opts.exports}: cannot read the directory: ${(e as Error).message}`,
    );
  }
}

function printExports(x: NonNullable<VerifyAuditResult['exports']>): void {
  const n = x.newest;
  println(
    `exports: ${x.files} file(s) in ${x.dir}` +
      (n
        ? `; newest valid ${n.file} (sequence ${n.sequence}, ${n.exportedAt}, head seq ${n.seq ?? '(empty trail)'})`
        : ''),
  );
  if (x.problems.length === 0) return;
  println(`${colourWord('EXPORT PROBLEMS', 'red')}: ${x.problems.length}`);
  for (const p of x.problems) println(`  ${p.file ?? x.dir}: ${p.problem}: ${p.message}`);
}

export function verifyAuditCommand(): Command {
  const cmd = new Command('verify-audit')
    .summary("recompute the audit trail's hash chain from the database; name the first broken row")
    .description(
      'Read every row of the audit trail in chain order (in batches, any number of rows), recompute ' +
        "each row's SHA-256 over its canonical serialization (documented in lib/db.ts) and check that it " +
        'links to the row before it. Also compares the chain head each completion certificate recorded ' +
        'when it was issued and, with --exports, each signed export of the chain head written outside ' +
        'the database (lib/audit-export.ts). Prints the chain head and the row count when the chain is ' +
        'intact; otherwise the first broken row (seq, id, time, action) and what does not match: its hash ' +
        '(the row was changed), its link to the previous row (a row before it was removed or changed), its ' +
        'position (rows missing), a certificate or an export (the chain was rewritten or cut after it). ' +
        'Export files that are unsigned, signed with an unknown key, changed after signing, renamed, ' +
        'missing from the sequence or out of order are each named. Needs only read access to the ' +
        'database (DATABASE_URL or --database-url) and the export directory, not the API.',
    )
    .option('--database-url <url>', 'PostgreSQL URL with read access (env DATABASE_URL)')
    .option('--batch-size <n>', 'rows per query', intIn(1, 100_000), 5000)
    .option(
      '--exports <dir>',
      'the directory of audit chain head exports (AUDIT_EXPORT_DIR) to check against',
    )
    .option(
      '--public-key <keyId:base64>',
      'public key the exports are signed with; repeat for rotated keys (env AUDIT_EXPORT_PUBLIC_KEYS, comma-separated)',
      collect,
    )
    .option('--max-age <duration>', 'the newest export must be younger than this (e.g. 2h)', ageArg);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 the chain is intact (and every export valid and matched); 1 it is broken (the first\n' +
      'broken row is named) or an export has a problem (each is named); 3 refused: no chained audit\n' +
      'table, or access denied; 64 usage (no DATABASE_URL, --exports without a public key, an\n' +
      'unreadable export directory); 69 the database could not be reached.',
  );
  cmd.action(async (opts: VerifyAuditOptions) => {
    const url = opts.databaseUrl ?? process.env.DATABASE_URL;
    if (!url) throw new CliError(EXIT.usage, 'no database: set DATABASE_URL or pass --database-url');
    const exports = await exportsFor(opts);
    const { client, schema } = clientFor(url);
    client.on('error', () => undefined);
    const progress = !opts.json && !!process.stderr.isTTY;
    let result: VerifyAuditResult;
    try {
      await client.connect();
      if (schema) await client.query(`SELECT set_config('search_path', $1, false)`, [schema]);
      let lastShown = 0;
      result = await verifyAuditChain(client, {
        batchSize: opts.batchSize,
        exports: exports ?? undefined,
        onProgress: progress
          ? (n) => {
              if (Date.now() - lastShown < 500) return;
              lastShown = Date.now();
              process.stderr.write(`\rverified ${n} rows…`);
            }
          : undefined,
      });
      if (progress && lastShown) process.stderr.write('\r\u001b[K');
    } catch (e) {
      throw cliErrorFor(e) ?? e;
    } finally {
      await client.end().catch(() => undefined);
    }
    const exportProblems = result.exports?.problems.length ?? 0;
    if (opts.json) printJson(result);
    else if (result.intact) {
      println(
        `${colourWord('intact', 'green')}: ${result.rows} rows, every hash and link verified` +
          (result.certificates.checked
            ? `, ${result.certificates.checked} certificate head(s) matched`
            : '') +
          (result.exports ? `, ${result.exports.checked} export head(s) matched` : ''),
      );
      if (result.head)
        println(
          `chain head: seq ${result.head.seq}  hash ${result.head.hash}\n` +
            `            id ${result.head.id}, ${result.head.at}, ${result.head.action}`,
        );
      else println(`chain head: (empty trail) ${AUDIT_CHAIN_GENESIS}`);
      if (result.certificates.skipped) println(result.certificates.skipped);
      if (result.exports) printExports(result.exports);
    } else {
      const b = result.broken!;
      println(
        `${colourWord('BROKEN', 'red')} at seq ${b.seq}` +
          (b.id ? ` (id ${b.id}, ${b.at}, ${b.action})` : '') +
          `: ${b.mismatch} mismatch`,
      );
      println(`  ${b.message}`);
      println(`  expected ${b.expected}\n  found    ${b.found}`);
      println(
        result.head
          ? `${result.rows} row(s) before it verified; last good: seq ${result.head.seq}  hash ${result.head.hash}`
          : 'no row before it verified',
      );
      if (result.exports) printExports(result.exports);
    }
    process.exitCode = result.intact && exportProblems === 0 ? EXIT.ok : EXIT.finding;
  });
  return cmd;
}
