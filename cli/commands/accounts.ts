/**
 * `offboard approve <ref>`: a second operator approves a held departure (an operator's involuntary
 * departure of a protected account), and `offboard account <ref> <system> <accountId>`: IT records the
 * leaver's account id where matching found none or two (then `offboard redrive`). Both go through the API.
 */
import { Command } from 'commander';
import { createApi, resolveDeparture, withApi } from '../lib/api';
import { apiOptions, jsonOption } from '../lib/common';
import { EXIT } from '../lib/exit';
import { printJson, println } from '../lib/output';

interface ApiOpts {
  url?: string;
  token?: string;
  json?: boolean;
}

export function approveCommand(): Command {
  const cmd = new Command('approve')
    .summary('approve a departure held for a second operator')
    .description(
      "An operator's involuntary departure of a protected account (break-glass, tenant admin) waits " +
        'until a second operator approves it; then it starts. REF is a departure id, workflow id or ' +
        'employee id. Roles hr, it, admin; not the operator who submitted it.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id')
    .requiredOption('--note <text>', 'why you approve (recorded in the audit trail)');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 approved; 3 refused (not held, you submitted it, not allowed); 69 API unreachable.',
  );
  cmd.action(async (ref: string, opts: ApiOpts & { note: string }) => {
    const api = createApi(opts);
    const v = await withApi(() => resolveDeparture(api, ref));
    const r = await withApi(() =>
      api.post<{ departureId: string; action: string }>(
        `/departures/${encodeURIComponent(v.departure.id)}/approve`,
        { note: opts.note },
      ),
    );
    if (opts.json) printJson(r.body);
    else println(`approved ${r.body.departureId}: ${r.body.action}`);
    process.exitCode = EXIT.ok;
  });
  return cmd;
}

export function accountCommand(): Command {
  const cmd = new Command('account')
    .summary("record the leaver's account id in one system")
    .description(
      'Matching found no account of the leaver in SYSTEM (or two): record the id of theirs (Entra object ' +
        'id, directory DN, SCIM id). It wins over every matching key; re-drive the red step ' +
        '(`offboard redrive REF --step SYSTEM`) to act on it. Roles it, admin.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id')
    .argument('<system>', 'catalog system id')
    .argument('<accountId>', 'the account id at that system')
    .requiredOption('--note <text>', 'how you know (recorded in the audit trail)');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 recorded; 3 refused (no such system, departure finished, not allowed); 69 API unreachable.',
  );
  cmd.action(async (ref: string, system: string, accountId: string, opts: ApiOpts & { note: string }) => {
    const api = createApi(opts);
    const v = await withApi(() => resolveDeparture(api, ref));
    const r = await withApi(() =>
      api.post<{ departureId: string; systemId: string; accountId: string; replaced: string | null }>(
        `/departures/${encodeURIComponent(v.departure.id)}/accounts`,
        { systemId: system, accountId, note: opts.note },
      ),
    );
    if (opts.json) printJson(r.body);
    else
      println(
        `recorded ${r.body.systemId} account ${r.body.accountId} on ${r.body.departureId}` +
          (r.body.replaced ? ` (was ${r.body.replaced})` : '') +
          `; re-drive the step: offboard redrive ${r.body.departureId} --step ${r.body.systemId} --reason "…"`,
      );
    process.exitCode = EXIT.ok;
  });
  return cmd;
}
