/**
 * `offboard audit <employee>`: the live access audit. Every API-integrated catalog system is asked,
 * concurrently and each within a timeout, whether the employee still holds an active account there.
 * Needs the catalog (CATALOG_FILE) and the connector secrets its `*Env` fields name.
 */
import { Command } from 'commander';
import { z } from 'zod';
import { closeConnectors, createConnectors } from '../../activities/connectors';
import type { Subject } from '../../activities/connector';
import { knownAccounts } from '../../contract';
import { auditSystem } from '../../activities/live-audit';
import { loadCatalog } from '../../config/catalog';
import { AppError } from '../../lib/errors';
import { createApi, resolveDeparture, withApi } from '../lib/api';
import { apiOptions, durationArg, jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { colourWord, printJson, println, table } from '../lib/output';

export const DEFAULT_CATALOG = 'config/catalog.demo.yaml';

interface AuditOptions {
  workEmail?: string;
  catalog?: string;
  timeout: number;
  strict?: boolean;
  json?: boolean;
  url?: string;
  token?: string;
}

export interface AuditRow {
  systemId: string;
  name: string;
  integration: string;
  connector: string;
  /** `yes` = an active account; `no` = none or disabled; `error` = could not be checked; `n/a` = no API. */
  active: 'yes' | 'no' | 'error' | 'n/a';
  detail: string | null;
}

/** Loads the catalog (`file`, CATALOG_FILE or the demo), naming the file on error. */
export function catalogFrom(file: string | undefined, secretsEnv: NodeJS.ProcessEnv = process.env) {
  const path = file ?? process.env.CATALOG_FILE ?? DEFAULT_CATALOG;
  try {
    return loadCatalog(path, secretsEnv);
  } catch (e) {
    if (e instanceof AppError) throw new CliError(EXIT.usage, e.message.replace(/\n\s*/g, ' '));
    throw e;
  }
}

export function auditCommand(): Command {
  const cmd = new Command('audit')
    .summary('live access audit of one employee across every catalog system')
    .description(
      'Ask every API-integrated system in the catalog, now, whether EMPLOYEE still holds an active ' +
        'account, searching by every matching key of the catalog (and the account ids the departure ' +
        'names), the same check the verification report uses. Systems revoked by ticket or manual task ' +
        'have no API to ask: they are listed as n/a (their owners confirm them; see `status`). ' +
        'Needs the catalog (--catalog or CATALOG_FILE) and the connector secrets its *Env fields name. ' +
        "The work email comes from --work-email, or from the employee's newest departure via the API.",
    )
    .argument('<employee>', 'employee id, or a departure id (dep_…) or workflow id (offboarding:…)')
    .option('--work-email <email>', "the employee's work email (otherwise looked up through the API)")
    .option('--catalog <file>', `catalog file (env CATALOG_FILE, default ${DEFAULT_CATALOG})`)
    .option('--timeout <duration>', 'per system', durationArg, 15_000)
    .option('--strict', 'count systems without an API as not checked (exit 2)');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 no active account anywhere it could be checked; 1 an account is still active;\n' +
      '2 some systems could not be checked (and none active); 3 employee unknown to the API;\n' +
      '64 usage (bad catalog, missing secret); 69 API unreachable (for the email look-up).',
  );
  cmd.action(async (ref: string, opts: AuditOptions) => {
    let workEmail = opts.workEmail?.trim();
    // The connectors look the account up by these: a wrong one would "find no account" and pass.
    if (workEmail !== undefined && !z.email().safeParse(workEmail).success)
      throw new CliError(EXIT.usage, `--work-email must be an email address, got "${opts.workEmail}"`);
    if (!ref.trim()) throw new CliError(EXIT.usage, 'the employee id must not be empty');
    const catalog = catalogFrom(opts.catalog);
    let employeeId = ref;
    let employeeName = ref;
    let departureId = '(audit)';
    let accounts: Record<string, string> = {};
    // A departure or workflow id names the employee through the API (it is not the employee id).
    if (!workEmail || ref.startsWith('dep_') || ref.startsWith('offboarding:')) {
      const api = createApi(opts);
      const v = await withApi(() => resolveDeparture(api, ref));
      if (!workEmail && !v.departure.workEmail)
        throw new CliError(EXIT.refused, 'the API did not give the work email; pass --work-email');
      workEmail ??= v.departure.workEmail!;
      employeeId = v.departure.employeeId;
      employeeName = v.departure.employeeName;
      departureId = v.departure.id;
      accounts = knownAccounts(v.departure.accounts);
    }
    const subject: Subject = {
      departureId,
      employeeId,
      employeeName,
      workEmail,
      confirmedAt: new Date().toISOString(),
      managerEmail: null,
      accounts,
    };
    const connectors = createConnectors(catalog);
    let rows: AuditRow[];
    try {
      rows = await Promise.all(
        catalog.systems.map(async (s): Promise<AuditRow> => {
          const c = connectors.get(s.id);
          const base = { systemId: s.id, name: s.name, integration: s.integration };
          if (!c)
            return {
              ...base,
              connector: s.connector.kind,
              active: 'n/a',
              detail: `${s.integration}: no API`,
            };
          const r = await auditSystem(s, c, subject, [], opts.timeout);
          return {
            ...base,
            connector: c.executingSystem,
            active: r.active,
            detail: r.detail?.split('\n')[0] ?? null,
          };
        }),
      );
    } finally {
      await closeConnectors(connectors).catch(() => undefined);
    }
    const active = rows.filter((r) => r.active === 'yes').length;
    const unchecked = rows.filter((r) => r.active === 'error' || (opts.strict && r.active === 'n/a')).length;
    if (opts.json)
      printJson({ employeeId, workEmail, checkedAt: subject.confirmedAt, active, unchecked, systems: rows });
    else {
      println(
        table(
          ['SYSTEM', 'NAME', 'CONNECTOR', 'ACTIVE', 'DETAIL'],
          rows.map((r) => [
            r.systemId,
            r.name,
            r.connector,
            r.active === 'yes'
              ? colourWord('yes', 'red')
              : r.active === 'error'
                ? colourWord('error', 'yellow')
                : r.active,
            r.detail ?? '',
          ]),
        ),
      );
      println(
        `\n${employeeId} <${workEmail}>: ${active} active account(s), ${unchecked} system(s) not checked, ` +
          `${rows.filter((r) => r.active === 'no').length} confirmed without access`,
      );
    }
    process.exitCode = active > 0 ? EXIT.finding : unchecked > 0 ? EXIT.incomplete : EXIT.ok;
  });
  return cmd;
}
