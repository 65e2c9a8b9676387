/**
 * A departure as the CLI takes it (flags or one CSV row, flat canonical field names) and its checks:
 * the API's own validation (`parseOperatorDeparture`, the HRIS schema), run before anything is sent.
 */
import { parse } from 'csv-parse/sync';
import { parseOperatorDeparture } from '../../server/operator-start';
import { CliError, EXIT } from './exit';

/** The flat fields, in CSV header order, and where each sits in the API body. */
export const FIELDS = {
  employeeId: 'employee.id',
  name: 'employee.name',
  workEmail: 'employee.workEmail',
  personalEmail: 'employee.personalEmail',
  department: 'employee.department',
  managerEmail: 'employee.managerEmail',
  departmentHeadEmail: 'employee.departmentHeadEmail',
  workLocation: 'employee.workLocation',
  terminationType: 'termination.type',
  confirmedAt: 'termination.confirmedAt',
  lastDay: 'termination.lastDay',
  status: 'status',
} as const;
export type Field = keyof typeof FIELDS;

export const REQUIRED_FIELDS: Field[] = [
  'employeeId',
  'name',
  'workEmail',
  'department',
  'workLocation',
  'terminationType',
  'confirmedAt',
];

const BY_PATH = new Map<string, Field>(Object.entries(FIELDS).map(([flat, path]) => [path, flat as Field]));

export type FlatDeparture = Partial<Record<Field, string>>;

export interface FieldProblem {
  field: string;
  message: string;
}

/** The API body of a flat departure (empty values left out; optional ones sent as null). */
export function toBody(d: FlatDeparture): Record<string, unknown> {
  const v = (f: Field) => {
    const x = d[f]?.trim();
    return x ? x : undefined;
  };
  return {
    employee: {
      id: v('employeeId'),
      name: v('name'),
      workEmail: v('workEmail'),
      personalEmail: v('personalEmail') ?? null,
      department: v('department'),
      managerEmail: v('managerEmail') ?? null,
      departmentHeadEmail: v('departmentHeadEmail') ?? null,
      workLocation: v('workLocation'),
    },
    termination: {
      type: v('terminationType'),
      confirmedAt: v('confirmedAt'),
      lastDay: v('lastDay') ?? null,
    },
    ...(v('status') ? { status: v('status') } : {}),
  };
}

/** The flat field name of an API field path (`employee.workEmail` → `workEmail`). */
export function flatField(path: string): string {
  return BY_PATH.get(path) ?? path;
}

/** Checks a flat departure with the API's rules; problems are named by flat field. */
export function validate(d: FlatDeparture, now = new Date()): FieldProblem[] {
  const r = parseOperatorDeparture(toBody(d), ['terminated', 'resigned_confirmed'], now);
  if (r.ok) return [];
  return r.fields.map((f) => {
    const field = flatField(f.field);
    const missing = field in FIELDS && !d[field as Field]?.trim();
    return { field, message: missing ? 'is required' : f.message };
  });
}

export interface CsvRow {
  /** 1-based line of the file where the row starts. */
  line: number;
  departure: FlatDeparture;
  problems: FieldProblem[];
}

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
const HEADER = new Map(Object.keys(FIELDS).map((f) => [norm(f), f as Field]));

/**
 * Parses a departures CSV (header row of field names, any case, `_`/`-`/spaces ignored) and checks
 * every row. Header problems (unknown, missing or repeated columns) and unparseable files (a quoted
 * value never closed) are usage errors: nothing is started. Row problems are reported per row.
 * Line endings may be LF, CRLF or CR, even mixed; a quote inside an unquoted value is kept as written
 * (`Dana "DJ" Reyes`).
 */
export function parseDeparturesCsv(text: string, now = new Date()): CsvRow[] {
  // One line ending, so line numbers count the lines an editor shows and rows never run together.
  const normalized = text.replace(/\r\n?/g, '\n');
  let records: { record: string[]; info: { lines: number } }[];
  const errors: { code?: string; lines?: number; message: string }[] = [];
  try {
    records = parse(normalized, {
      info: true,
      bom: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      record_delimiter: '\n',
      skip_records_with_error: true,
      on_skip: (err) => {
        if (err) errors.push(err);
        return undefined;
      },
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    throw new CliError(EXIT.usage, `not a readable CSV: ${(e as Error).message}`);
  }
  const lineOf = ({ record, info }: { record: string[]; info: { lines: number } }) =>
    // info.lines is the line where the record ends; a quoted value may span lines.
    info.lines - record.reduce((n, v) => n + (v.match(/\n/g)?.length ?? 0), 0);
  const endOf = (r: { info: { lines: number } } | undefined) => r?.info.lines ?? 0;
  if (errors.length > 0) {
    const e = errors[0]!;
    if (e.code === 'CSV_QUOTE_NOT_CLOSED') {
      // The open quote swallowed the rest of the file: it starts on the first non-empty line after
      // the last complete record.
      const lines = normalized.replace(/^\ufeff/, '').split('\n');
      let start = endOf(records.at(-1)) + 1;
      while (start < lines.length && lines[start - 1] === '') start++;
      throw new CliError(
        EXIT.usage,
        `not a readable CSV: line ${start}: a quoted value is never closed (a " is missing); nothing started`,
      );
    }
    throw new CliError(EXIT.usage, `not a readable CSV: line ${e.lines ?? '?'}: ${e.message}`);
  }
  const [head, ...rows] = records;
  if (!head)
    throw new CliError(EXIT.usage, 'the CSV is empty: it needs a header row and one row per departure');
  const columns = head.record.map((h) => h.trim());
  const fields: Field[] = [];
  const unknown: string[] = [];
  const repeated: string[] = [];
  for (const c of columns) {
    const f = HEADER.get(norm(c));
    if (f && fields.includes(f)) repeated.push(c);
    else if (f) fields.push(f);
    else unknown.push(c);
  }
  const missing = REQUIRED_FIELDS.filter((f) => !fields.includes(f));
  if (unknown.length || missing.length || repeated.length)
    throw new CliError(
      EXIT.usage,
      [
        unknown.length ? `unknown column(s) ${unknown.map((c) => `"${c}"`).join(', ')}` : '',
        missing.length ? `missing column(s) ${missing.join(', ')}` : '',
        repeated.length ? `repeated column(s) ${repeated.map((c) => `"${c}"`).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ') + ` (line ${lineOf(head)}; columns are ${Object.keys(FIELDS).join(', ')})`,
    );
  const firstLine = new Map<string, number>();
  return rows.map((r) => {
    const { record } = r;
    const line = lineOf(r);
    const departure: FlatDeparture = {};
    fields.forEach((f, i) => {
      if (record[i] !== undefined) departure[f] = record[i];
    });
    const problems: FieldProblem[] =
      record.length !== columns.length
        ? [{ field: '(row)', message: `has ${record.length} values, the header has ${columns.length}` }]
        : validate(departure, now);
    const id = departure.employeeId?.trim();
    if (id && problems.length === 0) {
      const prior = firstLine.get(id);
      if (prior !== undefined)
        problems.push({ field: 'employeeId', message: `${id} is already on line ${prior}` });
      else firstLine.set(id, line);
    }
    return { line, departure, problems };
  });
}
