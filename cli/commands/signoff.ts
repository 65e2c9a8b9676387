/**
 * The verification checkpoint from the command line: `offboard acknowledge <ref>` (HR or IT signs the
 * verification report off, as the role of the token) and `offboard resolve <ref> <itemId>` (a red or
 * yellow report item gets a resolution with a note). Both go through the API
 * (`POST /departures/:id/acknowledge`, `POST /departures/:id/resolutions`), whose workflow updates decide.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { RESOLUTION_KINDS, type Acknowledgment, type Resolution } from '../../contract';
import { ApiError, asCliError, createApi, resolveDeparture, withApi, type Api } from '../lib/api';
import { apiOptions, jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { printJson, println } from '../lib/output';

/** The shortest resolution note the API accepts. */
export const MIN_NOTE = 3;

/** A commander parser for a note: trimmed, from `min` to `max` characters. */
function noteArg(min: number, max: number) {
  return (value: string): string => {
    const t = value.trim();
    if (t.length < min)
      throw new InvalidArgumentError(
        min === 1 ? 'must not be empty' : `must be at least ${min} characters (say what was done)`,
      );
    if (t.length > max) throw new InvalidArgumentError(`must be at most ${max} characters`);
    return t;
  };
}

const ITEM = /^(step|asset|document|access):.+$/;

function itemArg(value: string): string {
  if (!ITEM.test(value))
    throw new InvalidArgumentError(
      'must be a report item id: step:<stepId>, asset:<tag>, document:<type> or access:<systemId> ' +
        '(`offboard status <ref>` lists them)',
    );
  return value;
}

/** Runs an API call; a refusal whose status has a hint gets it added to the one-line error. */
async function withHints<T>(fn: () => Promise<T>, hints: Partial<Record<number, string>>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = asCliError(e);
    const hint = e instanceof ApiError ? hints[e.status] : undefined;
    if (err instanceof CliError && hint) throw new CliError(err.exitCode, `${err.message} (${hint})`);
    throw err;
  }
}

/** What still stands between the departure and done, as one line (best effort: never fails the command). */
async function outstandingLine(api: Api, departureId: string): Promise<string | null> {
  try {
    const v = await resolveDeparture(api, departureId);
    const ver = v.verification;
    if (!ver) return null;
    if (ver.done) return 'verification: signed off';
    return ver.outstanding.length
      ? `still outstanding: ${ver.outstanding.join('; ')}`
      : 'nothing outstanding: the offboarding finishes';
  } catch {
    return null;
  }
}

const COMMON_HINTS = {
  401: 'the token was not accepted: --token or OFFBOARD_TOKEN',
};

export function acknowledgeCommand(): Command {
  const cmd = new Command('acknowledge')
    .summary('acknowledge the verification report (HR or IT)')
    .description(
      'Acknowledge the verification report of a departure. The role of the token is the role that ' +
        'acknowledges: an HR token signs for HR, an IT token for IT (admin and itdesk cannot: a sign-off ' +
        'is personal to its function). Acknowledging again is not an error: the first acknowledgment ' +
        'stands and is shown. The departure is done once HR and IT have acknowledged, every red or ' +
        'yellow item is resolved (`offboard resolve`) and a final live access audit finds no active ' +
        'account. REF is a departure id, workflow id or employee id. Roles hr, it.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id')
    .option('--note <text>', 'a note kept with the acknowledgment', noteArg(1, 2000));
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  OFFBOARD_TOKEN=$HR_TOKEN offboard acknowledge E1234
  OFFBOARD_TOKEN=$IT_TOKEN offboard acknowledge offboarding:E1234 --note "checked the CRM by hand"

Exit codes: 0 acknowledged (also when this role had already acknowledged; the output says so);
  3 refused (unknown departure or employee, report not compiled yet, offboarding finished or rescinded,
  a token that is not HR or IT); 64 usage; 69 API unreachable.`,
  );
  cmd.action(async (ref: string, opts: { note?: string; url?: string; token?: string; json?: boolean }) => {
    const api = createApi(opts);
    const v = await withApi(() => resolveDeparture(api, ref));
    const id = v.departure.id;
    const r = await withHints(
      () =>
        api.post<{ departureId: string; acknowledgment: Acknowledgment; alreadyAcknowledged: boolean }>(
          `/departures/${encodeURIComponent(id)}/acknowledge`,
          opts.note !== undefined ? { note: opts.note } : {},
        ),
      {
        ...COMMON_HINTS,
        403: 'only an HR or IT token acknowledges, each for its own function',
        409: `see \`offboard status ${ref}\``,
      },
    );
    const { acknowledgment: a, alreadyAcknowledged } = r.body;
    if (opts.json) printJson(r.body);
    else {
      const role = a.role.toUpperCase();
      println(
        alreadyAcknowledged
          ? `already acknowledged: ${role} acknowledged the verification report of ${id} (by ${a.by} at ${a.at}); the first acknowledgment stands`
          : `acknowledged the verification report of ${id} for ${role} (by ${a.by} at ${a.at})`,
      );
      const rest = await outstandingLine(api, id);
      if (rest) println(rest);
    }
    process.exitCode = EXIT.ok;
  });
  return cmd;
}

export function resolveCommand(): Command {
  const cmd = new Command('resolve')
    .summary('resolve a red or yellow item of the verification report')
    .description(
      'Record how a red or yellow item of the verification report was resolved, with a note (kept in ' +
        'the audit trail). ITEM is a report item id as `offboard status` lists it: step:<stepId>, ' +
        'asset:<tag>, document:<type> or access:<systemId>. redriven_confirmed is for a step that is ' +
        'green now (re-driven, see `offboard redrive`); an account the live audit found active can ' +
        'only be fixed_by_hand (it is audited again). REF is a departure id, workflow id or employee ' +
        'id. Roles hr, it, admin.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id')
    .argument('<itemId>', 'report item id, e.g. step:crm or access:crm', itemArg)
    .addOption(
      new Option('--how <how>', 'how it was resolved').choices([...RESOLUTION_KINDS]).makeOptionMandatory(),
    )
    .requiredOption(
      '--note <text>',
      `what was done or why (at least ${MIN_NOTE} characters; audit trail)`,
      noteArg(MIN_NOTE, 4000),
    );
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  offboard resolve E1234 step:crm --how accepted_risk --note "CRM retired next month; account locked by the vendor"
  offboard resolve E1234 access:crm --how fixed_by_hand --note "disabled in the CRM admin console"
  offboard resolve E1234 step:crm --how redriven_confirmed --note "re-driven after the CRM outage" --json

Exit codes: 0 resolved; 3 refused (unknown departure or item, already resolved, report not compiled
  yet, an item that needs no or not this resolution, not allowed); 64 usage (bad --how, a note shorter
  than ${MIN_NOTE} characters, a malformed item id); 69 API unreachable.`,
  );
  cmd.action(
    async (
      ref: string,
      itemId: string,
      opts: { how: string; note: string; url?: string; token?: string; json?: boolean },
    ) => {
      const api = createApi(opts);
      const v = await withApi(() => resolveDeparture(api, ref));
      const id = v.departure.id;
      const r = await withHints(
        () =>
          api.post<{ departureId: string; resolution: Resolution }>(
            `/departures/${encodeURIComponent(id)}/resolutions`,
            { itemId, how: opts.how, note: opts.note },
          ),
        {
          ...COMMON_HINTS,
          403: 'resolutions are recorded by HR, IT or admin tokens',
          404: `\`offboard status ${ref}\` lists the report's items`,
          409: `see \`offboard status ${ref}\``,
          422: `see \`offboard status ${ref}\``,
        },
      );
      const res = r.body.resolution;
      if (opts.json) printJson(r.body);
      else {
        println(`resolved ${res.itemId} of ${id}: ${res.how} (by ${res.by} at ${res.at})`);
        const rest = await outstandingLine(api, id);
        if (rest) println(rest);
      }
      process.exitCode = EXIT.ok;
    },
  );
  return cmd;
}
