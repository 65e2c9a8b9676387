/**
 * `offboard shadow-it <export.csv>`: applications seen in an SSO / expense / access export that the
 * catalog does not cover, so they can be added before the next departure. `offboard shadow-it
 * --departure <ref>`: the apps one leaver had authorised at the identity providers (shadow-it-departure.ts).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { parse } from 'csv-parse/sync';
import { normaliseAppName } from '../../activities/consents';
import type { Catalog } from '../../config/catalog';
import { apiOptions, jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { printJson, println, table } from '../lib/output';
import { catalogFrom, DEFAULT_CATALOG } from './audit';
import { printDepartureShadowIt } from './shadow-it-departure';

/** Accepted header names of the application column, in order of preference (compared normalised). */
export const APP_COLUMNS = [
  'application',
  'application name',
  'app',
  'app name',
  'service',
  'service name',
  'system',
  'vendor',
  'merchant',
];
/** Accepted header names of the (optional) user column. */
export const USER_COLUMNS = [
  'user',
  'user email',
  'email',
  'username',
  'user name',
  'user principal name',
  'upn',
  'login',
  'employee',
  'employee id',
];

/**
 * Lower case, letters and digits only: "Team-Wiki", "team wiki" and "TEAM_WIKI" are one name, and so are
 * "Café" and "Cafe" (accents of Latin letters dropped). Letters of every script count: "Яндекс Диск"
 * and "日本アプリ" are names too (they were reduced to nothing and silently left out). The same
 * comparison decides which of a leaver's consents are uncovered (activities/consents.ts).
 */
export const normalise = normaliseAppName;

export interface ShadowApp {
  application: string;
  /** Every spelling seen in the export. */
  spellings: string[];
  rows: number;
  /** Distinct users (null when the export has no user column). */
  users: number | null;
}

export interface ShadowReport {
  uncovered: ShadowApp[];
  covered: (ShadowApp & { systemId: string })[];
  rows: number;
  appColumn: string;
  userColumn: string | null;
}

function pickColumn(headers: string[], wanted: string | undefined, accepted: string[]): number {
  const norm = headers.map(normalise);
  if (wanted) return norm.indexOf(normalise(wanted));
  for (const a of accepted) {
    const i = norm.indexOf(normalise(a));
    if (i >= 0) return i;
  }
  return -1;
}

/** Compares an access export with the catalog. */
export function shadowIt(
  text: string,
  catalog: Catalog,
  opts: { column?: string; userColumn?: string } = {},
): ShadowReport {
  let records: string[][];
  try {
    records = parse(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
    }) as string[][];
  } catch (e) {
    throw new CliError(EXIT.usage, `not a readable CSV: ${(e as Error).message}`);
  }
  const [headers, ...rows] = records;
  if (!headers) throw new CliError(EXIT.usage, 'the export is empty');
  const app = pickColumn(headers, opts.column, APP_COLUMNS);
  if (app < 0)
    throw new CliError(
      EXIT.usage,
      opts.column
        ? `no column "${opts.column}" in the export (columns: ${headers.join(', ')})`
        : `no application column: name it one of ${APP_COLUMNS.join(', ')} (any case), or pass --column`,
    );
  const user = pickColumn(headers, opts.userColumn, USER_COLUMNS);
  if (opts.userColumn && user < 0)
    throw new CliError(
      EXIT.usage,
      `no column "${opts.userColumn}" in the export (columns: ${headers.join(', ')})`,
    );

  const known = new Map<string, string>();
  for (const s of catalog.systems) {
    known.set(normalise(s.id), s.id);
    known.set(normalise(s.name), s.id);
  }
  const seen = new Map<string, { spellings: Map<string, number>; rows: number; users: Set<string> }>();
  for (const r of rows) {
    const name = r[app]?.trim();
    if (!name) continue;
    const key = normalise(name);
    if (!key) continue;
    const entry = seen.get(key) ?? { spellings: new Map(), rows: 0, users: new Set() };
    entry.rows++;
    entry.spellings.set(name, (entry.spellings.get(name) ?? 0) + 1);
    const who = user >= 0 ? r[user]?.trim().toLowerCase() : undefined;
    if (who) entry.users.add(who);
    seen.set(key, entry);
  }
  const report: ShadowReport = {
    uncovered: [],
    covered: [],
    rows: rows.length,
    appColumn: headers[app]!,
    userColumn: user >= 0 ? headers[user]! : null,
  };
  for (const [key, e] of seen) {
    const spellings = [...e.spellings.entries()].sort((a, b) => b[1] - a[1]).map(([s]) => s);
    const item: ShadowApp = {
      application: spellings[0]!,
      spellings,
      rows: e.rows,
      users: user >= 0 ? e.users.size : null,
    };
    const systemId = known.get(key);
    if (systemId) report.covered.push({ ...item, systemId });
    else report.uncovered.push(item);
  }
  const order = (a: ShadowApp, b: ShadowApp) =>
    (b.users ?? b.rows) - (a.users ?? a.rows) ||
    b.rows - a.rows ||
    a.application.localeCompare(b.application);
  report.uncovered.sort(order);
  report.covered.sort(order);
  return report;
}

interface ShadowOptions {
  departure?: string;
  url?: string;
  token?: string;
  catalog?: string;
  column?: string;
  userColumn?: string;
  json?: boolean;
}

/** Any environment variable "is set": shadow-it reads only ids and names, never connector secrets. */
const SECRETS_NOT_NEEDED = new Proxy({} as NodeJS.ProcessEnv, {
  get: (_t, key) => (typeof key === 'string' ? process.env[key] || 'not-needed' : undefined),
});

export function shadowItCommand(): Command {
  const cmd = new Command('shadow-it')
    .summary('applications in an access export that the catalog does not cover')
    .description(
      'Read an SSO, expense or access export (CSV with a header row) and list the applications it ' +
        'mentions that no catalog system covers, with how many rows and distinct users saw each, so they ' +
        'can be added to the catalog before the next departure. Names are compared with every catalog ' +
        'id and name ignoring case, spaces and punctuation ("Team-Wiki" = "team wiki").\n\n' +
        `Application column (first found, any case): ${APP_COLUMNS.join(', ')}.\n` +
        `User column (optional, for the user count): ${USER_COLUMNS.join(', ')}.\n` +
        'Connector secrets are not needed.\n\n' +
        'With --departure (instead of a file): the third-party apps one leaver had authorised at the ' +
        'identity providers (Entra consents and app role assignments, Okta grants and tokens, Google ' +
        'OAuth tokens, Keycloak consents), as the identity steps recorded them: app, client id, scopes, ' +
        'the system that held the consent, revoked, and the catalog system covering it (none: shadow ' +
        'IT). Read through the API (any operator role).',
    )
    .argument('[export.csv]', 'the access export')
    .option('--departure <ref>', "a departure's consents instead: departure, workflow or employee id")
    .option('--catalog <file>', `catalog file (env CATALOG_FILE, default ${DEFAULT_CATALOG})`)
    .option('--column <name>', 'the application column, if it has another name')
    .option('--user-column <name>', 'the user column, if it has another name');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 every application is covered; 1 some are not (so a scheduled check can fail on it);\n' +
      '3 departure not found or not allowed; 64 usage (unreadable file, no application column, bad\n' +
      'catalog, neither or both of a file and --departure); 69 API unreachable.',
  );
  cmd.action(async (file: string | undefined, opts: ShadowOptions) => {
    if (opts.departure !== undefined) {
      if (file !== undefined) throw new CliError(EXIT.usage, 'give an export file or --departure, not both');
      return printDepartureShadowIt(opts.departure, opts);
    }
    if (file === undefined)
      throw new CliError(EXIT.usage, 'an export file is required (or --departure <ref>)');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new CliError(EXIT.usage, `cannot read ${file}: ${(e as Error).message}`);
    }
    const catalog = catalogFrom(opts.catalog, SECRETS_NOT_NEEDED);
    const report = shadowIt(text, catalog, opts);
    if (opts.json) printJson(report);
    else {
      if (report.uncovered.length)
        println(
          table(
            ['APPLICATION', 'USERS', 'ROWS', 'ALSO SPELLED'],
            report.uncovered.map((a) => [
              a.application,
              a.users === null ? '-' : String(a.users),
              String(a.rows),
              a.spellings.slice(1).join(', '),
            ]),
          ) + '\n',
        );
      println(
        `${report.uncovered.length} application(s) not in the catalog, ${report.covered.length} covered ` +
          `(${report.rows} rows, column "${report.appColumn}")`,
      );
    }
    process.exitCode = report.uncovered.length > 0 ? EXIT.finding : EXIT.ok;
  });
  return cmd;
}
