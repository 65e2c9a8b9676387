/**
 * `offboard start --csv` with hostile files: fast-check generates departures CSVs mixing good rows and
 * bad ones (wrong column counts, bad emails and dates, unknown enums, huge fields, NUL, empty required
 * values, employees listed twice) in every shape a spreadsheet or an editor produces (BOM, LF, CRLF and
 * CR line endings mixed, quoted values with commas, quotes and line breaks, stray quotes, blank lines,
 * header names in any case and order). The parser (`parseDeparturesCsv`) must return every row with the
 * line it starts on, good rows exactly as written and each bad row with its problem named; a quote never
 * closed refuses the whole file naming its line. One end-to-end run of the CLI against the real API
 * shows bad rows reported by line and never started, good rows started exactly once, a re-run duplicate.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { FIELDS, REQUIRED_FIELDS, parseDeparturesCsv, type Field } from '../cli/lib/departure-input';
import { CliError } from '../cli/lib/exit';
import type { RunningServer } from '../server/main';
import { TOKENS, env, startApi, startStack, uniq, type Stack } from './support/harness';

const NOW = new Date('2026-06-01T12:00:00Z');
const OPTIONAL = (Object.keys(FIELDS) as Field[]).filter((f) => !REQUIRED_FIELDS.includes(f));

// ------------------------------------------------------------------ generating files

type Values = Record<Field, string>;
type Kind =
  | 'good'
  | 'fewer values'
  | 'more values'
  | 'bad email'
  | 'bad date'
  | 'unknown location'
  | 'huge name'
  | 'NUL in name'
  | 'empty required'
  | 'listed twice';

interface RowSpec {
  kind: Kind;
  /** Field to empty (empty required) or how many values to drop/add. */
  field: Field;
  n: number;
  name: string;
  eol: string;
  blankBefore: boolean;
  quoteAll: boolean;
}

/** Names a person may have, as written in a spreadsheet (commas, quotes, line breaks, any script). */
const goodName = fc.oneof(
  fc.constantFrom(
    'Dana Reyes',
    'Reyes, Dana',
    'Dana "DJ" Reyes',
    '"Dana" Reyes',
    'Multi\nLine Name',
    'Zoë Ångström',
  ),
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
    // eslint-disable-next-line no-control-regex -- control characters are the point here
    .filter((s) => s.trim().length > 0 && s.length <= 200 && !/[\u0000-\u001f\u007f]/.test(s)),
);
const rowSpec: fc.Arbitrary<RowSpec> = fc.record({
  kind: fc.oneof(
    { weight: 4, arbitrary: fc.constant<Kind>('good') },
    fc.constantFrom<Kind>(
      'fewer values',
      'more values',
      'bad email',
      'bad date',
      'unknown location',
      'huge name',
      'NUL in name',
      'empty required',
      'listed twice',
    ),
  ),
  field: fc.constantFrom(...REQUIRED_FIELDS),
  n: fc.integer({ min: 1, max: 3 }),
  name: goodName,
  eol: fc.constantFrom('\n', '\r\n', '\r'),
  blankBefore: fc.boolean(),
  quoteAll: fc.boolean(),
});
const headerName = (f: Field) =>
  fc.constantFrom(
    f,
    f.toLowerCase(),
    f.toUpperCase(),
    f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
    f.replace(/[A-Z]/g, (c) => ` ${c}`).replace(/^./, (c) => c.toUpperCase()),
  );
const fileSpec = fc
  .subarray(OPTIONAL)
  .chain((optional) => {
    const all = [...REQUIRED_FIELDS, ...optional];
    return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
  })
  .chain((columns) =>
    fc.record({
      bom: fc.boolean(),
      headerEol: fc.constantFrom('\n', '\r\n', '\r'),
      columns: fc.constant(columns),
      names: fc.tuple(...columns.map(headerName)),
      rows: fc.array(rowSpec, { minLength: 1, maxLength: 25 }),
      finalEol: fc.boolean(),
    }),
  );

interface Expected {
  line: number;
  kind: Kind;
  /** The field the problem must name (null: no problem). */
  field: string | null;
  message?: string;
  values: string[];
}

const cell = (v: string, quote: boolean) =>
  quote || /[,\r\n]/.test(v) || v.startsWith('"') ? `"${v.replace(/"/g, '""')}"` : v;

/** Builds the file text and what parsing it must give. */
function buildFrom(f: {
  bom: boolean;
  headerEol: string;
  columns: Field[];
  names: string[];
  rows: RowSpec[];
  finalEol: boolean;
}) {
  const columns = f.columns;
  let text = (f.bom ? '\ufeff' : '') + f.names.join(',');
  let line = 1;
  let eol = f.headerEol;
  const expected: Expected[] = [];
  const goodLines = new Map<string, number>();
  f.rows.forEach((r, i) => {
    const id = `E-${i + 1}`;
    const v: Values = {
      employeeId: id,
      name: r.name,
      workEmail: `e${i + 1}@example.com`,
      personalEmail: i % 2 ? `e${i + 1}@personal.example.net` : '',
      department: 'Finance',
      managerEmail: '',
      departmentHeadEmail: i % 3 ? 'head@example.com' : '',
      workLocation: ['remote', 'in_office', 'hybrid'][i % 3]!,
      terminationType: i % 2 ? 'voluntary' : 'involuntary',
      confirmedAt: '2026-05-30T09:00:00Z',
      lastDay: i % 2 ? '2026-06-30' : '',
      status: '',
    };
    let field: string | null = null;
    let message: string | undefined;
    let kind = r.kind;
    if (kind === 'listed twice') {
      const earlier = [...goodLines.entries()][0];
      if (earlier) {
        v.employeeId = earlier[0];
        field = 'employeeId';
        message = `${earlier[0]} is already on line ${earlier[1]}`;
      } else kind = 'good';
    }
    if (kind === 'bad email') [v.workEmail, field] = ['not-an-email', 'workEmail'];
    if (kind === 'bad date') [v.confirmedAt, field] = ['2026-02-30T09:00:00Z', 'confirmedAt'];
    if (kind === 'unknown location') [v.workLocation, field] = ['moon', 'workLocation'];
    if (kind === 'huge name') [v.name, field] = ['x'.repeat(201 + r.n * 30_000), 'name'];
    if (kind === 'NUL in name') [v.name, field] = ['Dana\u0000Reyes', 'name'];
    if (kind === 'empty required') [v[r.field], field, message] = ['', r.field, 'is required'];
    let values = columns.map((c) => v[c]);
    if (kind === 'fewer values')
      [values, field] = [values.slice(0, values.length - Math.min(r.n, values.length - 1)), '(row)'];
    if (kind === 'more values') [values, field] = [[...values, ...Array(r.n).fill('extra')], '(row)'];
    if (r.blankBefore) {
      text += eol;
      line++;
    }
    text += eol;
    line++;
    expected.push({ line, kind, field, message, values });
    if (kind === 'good') goodLines.set(v.employeeId, line);
    // A line break inside a quoted value is written with this line's own line ending.
    text += values.map((x) => cell(x, r.quoteAll).replace(/\n/g, r.eol)).join(',');
    line += values.reduce((n, x) => n + (x.match(/\n/g)?.length ?? 0), 0);
    eol = r.eol;
  });
  if (f.finalEol) text += eol;
  return { text, columns, expected };
}

const csvFile = fileSpec.map(buildFrom);

test('generated files: every row comes back with the line it starts on; good rows as written, bad rows with the problem named', () => {
  fc.assert(
    fc.property(csvFile, ({ text, columns, expected }) => {
      const rows = parseDeparturesCsv(text, NOW);
      expect(rows.map((r) => r.line)).toEqual(expected.map((e) => e.line));
      rows.forEach((row, i) => {
        const e = expected[i]!;
        const where = { line: e.line, kind: e.kind };
        if (e.field === null) {
          expect({ ...where, problems: row.problems }).toEqual({ ...where, problems: [] });
          // Exactly what was written (line breaks inside values normalized to \n).
          columns.forEach((c, k) => expect(row.departure[c]).toBe(e.values[k]));
        } else {
          expect({ ...where, fields: row.problems.map((p) => p.field) }).toEqual({
            ...where,
            fields: expect.arrayContaining([e.field]),
          });
          if (e.message) expect(row.problems.find((p) => p.field === e.field)!.message).toBe(e.message);
          for (const p of row.problems) expect(p.message.length).toBeLessThan(300); // no echo of a huge field
        }
      });
    }),
    { numRuns: 150 },
  );
});

test('a quoted value never closed: the whole file is refused (nothing started), naming the line it opens on', () => {
  fc.assert(
    fc.property(csvFile, fc.constantFrom('"Reyes, Dana', 'x,"unclosed', '"'), (file, broken) => {
      const eol = file.text.match(/\r\n|\r|\n/)?.[0] ?? '\n';
      const body = file.text.replace(/(\r\n|\r|\n)$/, '');
      const lines = body.split(/\r\n|\r|\n/).length;
      const text = `${body}${eol}E-999,${broken},rest${eol}`;
      let caught: unknown;
      try {
        parseDeparturesCsv(text, NOW);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(CliError);
      expect((caught as CliError).exitCode).toBe(64);
      expect((caught as CliError).message).toContain(`line ${lines + 1}: a quoted value is never closed`);
    }),
    { numRuns: 60 },
  );
});

test.each<[string, string, RegExp]>([
  [
    'an unknown column',
    'employeeId,name,workEmail,department,workLocation,terminationType,confirmedAt,salary\n',
    /unknown column\(s\) "salary"/,
  ],
  [
    'a missing column',
    'employeeId,name,workEmail,department,workLocation,terminationType\n',
    /missing column\(s\) confirmedAt/,
  ],
  // Found by the file property: a repeated column silently took the later column's values.
  [
    'a repeated column',
    'employeeId,name,workEmail,department,workLocation,terminationType,confirmedAt,Name\n',
    /repeated column\(s\) "Name" \(line 1;/,
  ],
  ['an empty file', '', /the CSV is empty/],
  ['only a BOM and blank lines', '\ufeff\r\n\r\n', /the CSV is empty/],
])('%s: the file is refused as a usage error before anything starts', (_name, text, expected) => {
  let caught: unknown;
  try {
    parseDeparturesCsv(text, NOW);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CliError);
  expect((caught as CliError).exitCode).toBe(64);
  expect((caught as CliError).message).toMatch(expected);
});

test('regressions found by the file property: mixed line endings and stray quotes', () => {
  const header = 'employeeId,name,workEmail,department,workLocation,terminationType,confirmedAt';
  const row = (id: string, name = `Name ${id}`) =>
    `${id},${name},${id.toLowerCase()}@example.com,Finance,remote,involuntary,2026-05-30T09:00:00Z`;
  // A CRLF header with LF rows ran every row together into one "row" reported on line 1.
  const crlfThenLf = parseDeparturesCsv(`${header}\r\n${row('A')}\n${row('B')}\n`, NOW);
  expect(crlfThenLf.map((r) => [r.line, r.departure.employeeId, r.problems])).toEqual([
    [2, 'A', []],
    [3, 'B', []],
  ]);
  // An LF header with CRLF rows numbered every row one line too far.
  const lfThenCrlf = parseDeparturesCsv(`${header}\n${row('A')}\r\n${row('B')}\r\n`, NOW);
  expect(lfThenCrlf.map((r) => r.line)).toEqual([2, 3]);
  // A quote inside an unquoted name refused the whole file ("Invalid Opening Quote").
  const stray = parseDeparturesCsv(`${header}\n${row('A', 'Dana "DJ" Reyes')}\n${row('B')}\n`, NOW);
  expect(stray.map((r) => [r.departure.name, r.problems])).toEqual([
    ['Dana "DJ" Reyes', []],
    ['Name B', []],
  ]);
});

// ------------------------------------------------------------------ end to end

describe('offboard start --csv against the real API', () => {
  let stack: Stack;
  let api: RunningServer;
  beforeAll(async () => {
    stack = await startStack();
    api = await startApi(stack); // no worker: starting is what is checked, not revoking
  });
  afterAll(async () => {
    await api?.close();
    await stack?.stop();
  });

  const CLI = path.join(__dirname, '..', 'cli', 'offboard.cjs');
  function offboard(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        {
          env: { ...process.env, OFFBOARD_URL: api.url, OFFBOARD_TOKEN: TOKENS.hr, NO_COLOR: '1' },
          timeout: 90_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });
  }

  test('bad rows are reported by line and start nothing; good rows start exactly once; a re-run is duplicate', async () => {
    const p = uniq('HC');
    const id = (n: number) => `${p}-${n}`;
    const row = (n: number, over: Partial<Record<string, string>> = {}) =>
      [
        over.employeeId ?? id(n),
        over.name ?? `Employee ${n}`,
        over.workEmail ?? `${id(n).toLowerCase()}@example.com`,
        'Hostile CSV',
        over.workLocation ?? 'remote',
        'involuntary',
        over.confirmedAt ?? '2026-05-30T09:00:00Z',
      ].join(',');
    const lines = [
      '\ufeffEmployee ID,NAME,work_email,Department,workLocation,Termination Type,confirmedAt', // 1
      row(1), // 2
      row(2, { workEmail: 'not-an-email' }), // 3
      '', // 4
      row(3, { name: '"Reyes, Dana ""DJ"""' }), // 5
      row(4, { name: '"Multi\r\nLine"' }), // 6-7
      '', // 8
      row(5, { confirmedAt: '0000-01-01T00:00:00Z' }), // 9
      row(6).split(',').slice(0, 4).join(','), // 10: too few values
      `${row(7)},extra`, // 11: too many
      row(8, { name: 'x'.repeat(50_000) }), // 12
      row(9, { name: 'Dana\u0000Reyes' }), // 13
      row(1), // 14: listed twice
      row(10, { name: 'Dana "DJ" Reyes', workLocation: 'moon' }), // 15
      row(11, { name: 'Dana "DJ" Reyes' }), // 16
    ];
    // CRLF for the first half, LF after: as when rows are appended in another editor.
    const text = lines.slice(0, 8).join('\r\n') + '\r\n' + lines.slice(8).join('\n') + '\n';
    const file = path.join(env.root, `${p}.csv`);
    writeFileSync(file, text);

    const first = await offboard(['start', '--csv', file]);
    expect(first.code).toBe(2);
    const reported = first.stdout.split('\n').filter((l) => /^line \d+: /.test(l));
    expect(reported).toEqual([
      'line 3: workEmail: Invalid email address',
      'line 9: confirmedAt: must be between the years 1900 and 9999',
      'line 10: (row): has 4 values, the header has 7',
      'line 11: (row): has 8 values, the header has 7',
      'line 12: name: Too big: expected string to have <=200 characters',
      'line 13: name: must not contain NUL characters or unpaired surrogates',
      `line 14: employeeId: ${id(1)} is already on line 2`,
      expect.stringMatching(/^line 15: workLocation: Invalid option/),
    ]);
    expect(first.stdout).toMatch(
      /started 4, queued 0, duplicate 0, updated 0, invalid 8, failed 0 \(12 rows\)/,
    );

    const good = [1, 3, 4, 11];
    const started = await stack.db.departure.findMany({
      where: { employeeId: { startsWith: `${p}-` } },
      select: { employeeId: true, employeeName: true },
    });
    expect(started.map((d) => d.employeeId).sort()).toEqual(good.map(id).sort());
    expect(started.find((d) => d.employeeId === id(3))!.employeeName).toBe('Reyes, Dana "DJ"');
    expect(started.find((d) => d.employeeId === id(4))!.employeeName).toBe('Multi\nLine');
    expect(started.find((d) => d.employeeId === id(11))!.employeeName).toBe('Dana "DJ" Reyes');

    const again = await offboard(['start', '--csv', file, '--json']);
    expect(again.code).toBe(2);
    const out = JSON.parse(again.stdout) as { summary: Record<string, number> };
    expect(out.summary).toMatchObject({ rows: 12, started: 0, duplicate: 4, invalid: 8, failed: 0 });
    expect(await stack.db.departure.count({ where: { employeeId: { startsWith: `${p}-` } } })).toBe(4);
  }, 120_000);
});
