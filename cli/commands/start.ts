/**
 * `offboard start`: one departure from flags, or many from a CSV (a mass layoff). Every row is checked
 * first with the API's own rules; bad rows are reported by line and skipped; good rows are submitted to
 * `POST /departures` a few at a time, each accepted whole or not at all.
 */
import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { TERMINATION_TYPES, WORK_LOCATIONS } from '../../contract';
import { ApiError, ApiUnreachable, createApi, withApi, type Api } from '../lib/api';
import { apiOptions, intIn, jsonOption } from '../lib/common';
import {
  FIELDS,
  REQUIRED_FIELDS,
  flatField,
  parseDeparturesCsv,
  toBody,
  validate,
  type CsvRow,
  type Field,
  type FlatDeparture,
} from '../lib/departure-input';
import { CliError, EXIT, type ExitCode } from '../lib/exit';
import { printJson, println } from '../lib/output';

interface StartOptions {
  csv?: string;
  concurrency: number;
  dryRun?: boolean;
  json?: boolean;
  url?: string;
  token?: string;
  idempotencyKey?: string;
  [flag: string]: unknown;
}

type Outcome = 'started' | 'queued' | 'duplicate' | 'updated' | 'held' | 'invalid' | 'failed';

interface RowResult {
  line: number | null;
  employeeId: string | null;
  result: Outcome;
  departureId?: string;
  workflowId?: string;
  error?: string;
}

interface Accepted {
  departureId: string;
  workflowId: string;
  action: 'started' | 'queued' | 'duplicate' | 'updated' | 'held';
  /** For `held`: why a second operator must approve it (`offboard approve`). */
  reason?: string;
}

const kebab = (f: string) => f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (f: string) => f.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function startCommand(): Command {
  const cmd = new Command('start')
    .summary('start one departure (flags) or many (--csv)')
    .description(
      'Start the offboarding of one departure given by flags, or of every row of a CSV file (a mass ' +
        'layoff). Every row is checked first with the same rules as the API; bad rows are reported as ' +
        '"line N: field: message" and skipped, the good ones are submitted to POST /departures a few at a ' +
        "time with a progress bar (on a terminal). A row is accepted whole or not at all, and each row's " +
        'idempotency key is its employeeId + confirmedAt: re-running the same file is safe, rows already ' +
        'accepted answer "duplicate". Roles hr or admin.',
    )
    .option('--csv <file>', 'departures CSV with a header row (columns below)')
    .option('--concurrency <n>', 'rows submitted at once', intIn(1, 32), 8)
    .option('--dry-run', 'check the input only; start nothing');
  for (const f of Object.keys(FIELDS) as Field[]) {
    const flag = f === 'employeeId' ? 'employee-id' : kebab(f);
    const help: Partial<Record<Field, string>> = {
      employeeId: 'HRIS employee id',
      workLocation: WORK_LOCATIONS.join(' | '),
      terminationType: TERMINATION_TYPES.join(' | '),
      confirmedAt: 'ISO instant HR confirmed the termination, e.g. 2026-11-25T14:00:00Z',
      lastDay: 'last working day, YYYY-MM-DD',
      status: 'terminated | resigned_confirmed (default: from the termination type)',
    };
    cmd.addOption(new Option(`--${flag} <value>`, help[f] ?? f));
  }
  cmd.option(
    '--idempotency-key <key>',
    'for a single start: your own key (default employeeId + confirmedAt)',
  );
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    `
CSV columns (header names in any case):
  required: ${REQUIRED_FIELDS.join(', ')}
  optional: ${(Object.keys(FIELDS) as Field[]).filter((f) => !REQUIRED_FIELDS.includes(f)).join(', ')}

An involuntary departure of a protected account is held until a second operator approves it
(offboard approve).

Exit codes: 0 every departure accepted (started, queued, duplicate or held); 2 some rows invalid or not
started (the others were); 3 refused (invalid flags, not allowed); 64 usage (bad file or header,
nothing started); 69 the API could not be reached.

Examples:
  offboard start --employee-id E-1042 --name "Dana Reyes" --work-email dana.reyes@example.com \\
    --department Finance --work-location remote --termination-type involuntary \\
    --confirmed-at 2026-11-25T14:00:00Z --last-day 2026-11-25
  offboard start --csv layoff.csv --json > result.json`,
  );
  cmd.action(async (opts: StartOptions) => {
    if (opts.csv) {
      const flags = (Object.keys(FIELDS) as Field[]).filter(
        (f) => typeof opts[camel(flagOf(f))] === 'string',
      );
      if (flags.length > 0 || opts.idempotencyKey !== undefined)
        throw new CliError(
          EXIT.usage,
          `give one departure as flags or many with --csv, not both (got --csv with ${[
            ...flags.map((f) => `--${flagOf(f)}`),
            ...(opts.idempotencyKey !== undefined ? ['--idempotency-key'] : []),
          ].join(', ')})`,
        );
    }
    process.exitCode = opts.csv ? await startCsv(opts) : await startOne(opts);
  });
  return cmd;
}

async function startOne(opts: StartOptions): Promise<ExitCode> {
  const d: FlatDeparture = {};
  for (const f of Object.keys(FIELDS) as Field[]) {
    const v = opts[camel(f === 'employeeId' ? 'employee-id' : kebab(f))];
    if (typeof v === 'string') d[f] = v;
  }
  if (Object.keys(d).length === 0)
    throw new CliError(EXIT.usage, 'give the departure as flags (see --help) or a file with --csv');
  const problems = validate(d);
  if (problems.length)
    throw new CliError(
      EXIT.refused,
      `invalid departure: ${problems.map((p) => `--${p.field in FIELDS ? flagOf(p.field) : p.field}: ${p.message}`).join('; ')}`,
    );
  if (opts.dryRun) {
    if (opts.json) printJson({ valid: true, departure: toBody(d) });
    else println('valid; nothing started (--dry-run)');
    return EXIT.ok;
  }
  const api = createApi(opts);
  const r = await withApi(() =>
    api.post<Accepted>(
      '/departures',
      toBody(d),
      opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
    ),
  );
  if (opts.json) printJson(r.body);
  else
    println(
      `${r.body.action}: ${r.body.departureId} (workflow ${r.body.workflowId})` +
        (r.body.action === 'held'
          ? `: ${r.body.reason ?? ''}; a second operator approves it with offboard approve`
          : ''),
    );
  return EXIT.ok;
}

function flagOf(field: string): string {
  return field === 'employeeId' ? 'employee-id' : kebab(field);
}

async function startCsv(opts: StartOptions): Promise<ExitCode> {
  let text: string;
  try {
    text = readFileSync(opts.csv!, 'utf8');
  } catch (e) {
    throw new CliError(EXIT.usage, `cannot read ${opts.csv}: ${(e as Error).message}`);
  }
  const rows = parseDeparturesCsv(text);
  const results: RowResult[] = [];
  const good: CsvRow[] = [];
  for (const r of rows) {
    if (r.problems.length === 0) good.push(r);
    else
      results.push({
        line: r.line,
        employeeId: r.departure.employeeId?.trim() || null,
        result: 'invalid',
        error: r.problems.map((p) => `${p.field}: ${p.message}`).join('; '),
      });
  }
  if (!opts.json) for (const r of results) println(`line ${r.line}: ${r.error ?? ''}`);

  // Set when the API refuses the caller (401/403): the remaining rows are not sent.
  const state: { aborted: CliError | null } = { aborted: null };
  if (!opts.dryRun && good.length > 0) {
    const api = createApi(opts);
    await preflight(api);
    const bar =
      !opts.json && process.stderr.isTTY
        ? new SingleBar({
            stream: process.stderr,
            format: 'starting {bar} {value}/{total} rows | {eta_formatted} left',
            hideCursor: true,
          })
        : null;
    bar?.start(good.length, 0);
    let next = 0;
    const worker = async () => {
      while (next < good.length) {
        const row = good[next++]!;
        if (state.aborted) {
          results.push({ ...idOf(row), result: 'failed', error: `not submitted: ${state.aborted.message}` });
        } else {
          const r = await submit(api, row);
          if ('fatal' in r) {
            state.aborted ??= r.fatal;
            results.push({ ...idOf(row), result: 'failed', error: r.fatal.message });
          } else results.push(r);
        }
        bar?.increment();
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, good.length) }, worker));
    bar?.stop();
  }
  results.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));

  const count = (o: Outcome) => results.filter((r) => r.result === o).length;
  const summary = {
    rows: rows.length,
    started: count('started'),
    queued: count('queued'),
    duplicate: count('duplicate'),
    updated: count('updated'),
    held: count('held'),
    invalid: count('invalid'),
    failed: count('failed'),
    valid: good.length,
    dryRun: !!opts.dryRun,
  };
  if (opts.json) printJson({ summary, rows: results });
  else {
    for (const r of results)
      if (r.result === 'failed')
        println(`line ${r.line}: ${r.employeeId ?? ''}: not started: ${r.error ?? ''}`);
    println(
      opts.dryRun
        ? `${good.length} valid, ${summary.invalid} invalid of ${rows.length} rows; nothing started (--dry-run)`
        : `started ${summary.started}, queued ${summary.queued}, duplicate ${summary.duplicate}, ` +
            `updated ${summary.updated}, ${summary.held ? `held for approval ${summary.held}, ` : ''}` +
            `invalid ${summary.invalid}, failed ${summary.failed} ` +
            `(${rows.length} rows)`,
    );
  }
  const fatal = state.aborted;
  if (fatal) {
    if (results.every((r) => r.result === 'invalid' || r.result === 'failed')) throw fatal;
    process.stderr.write(`offboard: ${fatal.message}\n`);
  }
  return summary.invalid + summary.failed > 0 ? EXIT.incomplete : EXIT.ok;
}

const idOf = (row: CsvRow) => ({ line: row.line, employeeId: row.departure.employeeId?.trim() ?? null });

/** Checks the API answers and the token is known before any row is sent. */
async function preflight(api: Api): Promise<void> {
  await withApi(() => api.get('/departures?limit=1'));
}

/**
 * Submits one row. A 4xx is the row's own problem (invalid) unless it is about the caller (401/403:
 * stop everything); unreachable or 5xx is retried twice (safe: the key makes it idempotent), then failed.
 */
async function submit(api: Api, row: CsvRow): Promise<RowResult | { fatal: CliError }> {
  const id = idOf(row);
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await api.post<Accepted>('/departures', toBody(row.departure));
      return { ...id, result: r.body.action, departureId: r.body.departureId, workflowId: r.body.workflowId };
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403))
        return { fatal: new CliError(EXIT.refused, `API refused (${e.status} ${e.code}): ${e.message}`) };
      if (e instanceof ApiError && e.status < 500)
        return {
          ...id,
          result: 'invalid',
          error: e.fields.length
            ? e.fields.map((f) => `${flatField(f.field)}: ${f.message}`).join('; ')
            : `${e.code}: ${e.message}`,
        };
      const transient = e instanceof ApiUnreachable || e instanceof ApiError;
      if (!transient) throw e;
      if (attempt >= 3) return { ...id, result: 'failed', error: (e as Error).message };
      await new Promise((r) => setTimeout(r, attempt * 500));
    }
  }
}
