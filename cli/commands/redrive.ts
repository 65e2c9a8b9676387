/**
 * `offboard redrive <ref>`: re-drives the red API steps of a running offboarding after their fault is
 * fixed (the API's `POST /departures/:id/redrive`, a workflow update whose validator decides), and
 * `offboard asset-received <ref> <tag>`: the IT desk records a returned asset.
 */
import { Command } from 'commander';
import { createApi, resolveDeparture, withApi } from '../lib/api';
import { apiOptions, intIn, jsonOption } from '../lib/common';
import { EXIT } from '../lib/exit';
import { printJson, println } from '../lib/output';

export function redriveCommand(): Command {
  const cmd = new Command('redrive')
    .summary('re-drive the red steps of a running offboarding')
    .description(
      'Run the red API steps of a running offboarding again once their fault is fixed (all red ones, or ' +
        'those named with --step). REF is a departure id, workflow id or employee id. Roles it, admin. ' +
        'A finished offboarding cannot be re-driven: use `offboard retry` to reset it.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .option('--step <stepId...>', 'only these steps');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 re-driven; 3 refused (nothing red, not running, not allowed); 69 API unreachable.',
  );
  cmd.action(
    async (
      ref: string,
      opts: { reason: string; step?: string[]; url?: string; token?: string; json?: boolean },
    ) => {
      const api = createApi(opts);
      const v = await withApi(() => resolveDeparture(api, ref));
      const r = await withApi(() =>
        api.post<{ accepted: string[] }>(`/departures/${encodeURIComponent(v.departure.id)}/redrive`, {
          reason: opts.reason,
          ...(opts.step ? { stepIds: opts.step } : {}),
        }),
      );
      if (opts.json) printJson({ departureId: v.departure.id, accepted: r.body.accepted });
      else println(`re-driven on ${v.departure.id}: ${r.body.accepted.join(', ')}`);
      process.exitCode = EXIT.ok;
    },
  );
  return cmd;
}

export function assetReceivedCommand(): Command {
  const cmd = new Command('asset-received')
    .summary('record a returned asset (IT desk)')
    .description(
      'Record that the IT desk received an asset of a departure: chain of custody and check-in follow in ' +
        'the workflow. REF is a departure id, workflow id or employee id. Roles itdesk, admin.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id')
    .argument('<tag>', 'asset tag')
    .requiredOption('--condition <c>', 'good | damaged | missing_parts | wiped | not_working')
    .requiredOption('--inspected-by <name>', 'who inspected it')
    .option('--received-by <name>', 'who received it (default: the operator)')
    .option('--notes <text>', 'notes', '');
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 recorded; 3 refused (unknown tag, already received, bad input, not allowed); 69 API unreachable.',
  );
  cmd.action(
    async (
      ref: string,
      tag: string,
      opts: {
        condition: string;
        inspectedBy: string;
        receivedBy?: string;
        notes: string;
        url?: string;
        token?: string;
        json?: boolean;
      },
    ) => {
      const api = createApi(opts);
      const v = await withApi(() => resolveDeparture(api, ref));
      const r = await withApi(() =>
        api.post<Record<string, unknown>>(
          `/departures/${encodeURIComponent(v.departure.id)}/assets/${encodeURIComponent(tag)}/received`,
          {
            condition: opts.condition,
            inspectedBy: opts.inspectedBy,
            notes: opts.notes,
            ...(opts.receivedBy ? { receivedBy: opts.receivedBy } : {}),
          },
        ),
      );
      if (opts.json) printJson(r.body);
      else println(`asset ${tag} of ${v.departure.id}: receipt recorded`);
      process.exitCode = EXIT.ok;
    },
  );
  return cmd;
}

export function archiveConfirmedCommand(): Command {
  const cmd = new Command('archive-confirmed')
    .summary("record a data source's archive as done (IT)")
    .description(
      "Record that the owner of a catalog data source archived the leaver's data (the built-in manual " +
        'archive connector tasks them and keeps the archive pending, yellow in the report, until then): ' +
        'the workflow records it and generates the data-archiving confirmation again. REF is a departure ' +
        'id, workflow id or employee id. Roles it, admin.',
    )
    .argument('<ref>', 'employee id, workflow id or departure id')
    .argument('<source>', 'catalog data source id (e.g. mailbox)')
    .requiredOption('--items <n>', 'how many items the owner archived', intIn(0, 1_000_000_000))
    .requiredOption('--note <text>', "the owner's word: who said it was archived, and how");
  apiOptions(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 recorded; 3 refused (unknown archive, already confirmed, bad input, not allowed); 69 API unreachable.',
  );
  cmd.action(
    async (
      ref: string,
      source: string,
      opts: { items: number; note: string; url?: string; token?: string; json?: boolean },
    ) => {
      const api = createApi(opts);
      const v = await withApi(() => resolveDeparture(api, ref));
      const r = await withApi(() =>
        api.post<Record<string, unknown>>(
          `/departures/${encodeURIComponent(v.departure.id)}/archives/${encodeURIComponent(source)}/confirmed`,
          { items: opts.items, note: opts.note },
        ),
      );
      if (opts.json) printJson(r.body);
      else println(`archive of ${source} for ${v.departure.id}: confirmation recorded`);
      process.exitCode = EXIT.ok;
    },
  );
  return cmd;
}
