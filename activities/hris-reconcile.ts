/**
 * The scheduled reconciliation with each HR system (workflows/hris-reconcile.ts, docs/hris.md): what
 * changed since the last run is read from the vendor's API and fed to the same intake as the webhooks
 * (server/intake), recorded as found by reconciliation (`TriggerEvent.source`); a departure it starts
 * is one whose notification never arrived, and says so. Then the data-quality report to HR.
 *
 * The intake here never starts a workflow: what it accepts is queued, and the API's dispatcher starts
 * it and delivers rescissions and moved last days, as for a burst of webhooks.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { DataQualityFindings, HrisVendor, ReconciliationSummary } from '../contract';
import type { Catalog } from '../config/catalog';
import { audit, type Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import type { Mailer } from '../lib/mailer';
import { VendorBusyError } from '../hris/http';
import { anyFinding, checkQuality, type Snapshot } from '../hris/quality';
import type { HrisAdapter } from '../hris/types';
import { createIntake, reconciliation } from '../server/intake';
import type { IntakeStarter } from '../server/intake/types';
import { feedEmployee } from '../server/intake/vendor-map';
import { writeBackRecords, type WriteBackResult } from './hris-writeback';

export interface HrisActivityDeps {
  db: Db;
  mailer: Mailer;
  catalog: Catalog;
  logger: Logger;
  adapters: ReadonlyMap<HrisVendor, HrisAdapter>;
  remoteLocations: readonly string[];
  triggerStatuses: readonly string[];
  /** Where the data-quality report goes (default: the catalog's HR contact). */
  reportTo?: string;
}

/** Stores and answers; the API's dispatcher starts workflows and delivers messages. */
const QUEUE_ONLY: IntakeStarter = {
  claimInlineStart: () => false,
  releaseInlineStart: () => undefined,
  queued: () => undefined,
  startDeparture: () => Promise.reject(new Error('the reconciliation never starts workflows itself')),
  deliverMessages: () => Promise.resolve(0),
};

export function createHrisActivities(deps: HrisActivityDeps) {
  const { db } = deps;
  const intake = createIntake({
    db,
    triggerStatuses: deps.triggerStatuses,
    starter: QUEUE_ONLY,
    logger: deps.logger,
  });
  const adapterOf = (vendor: HrisVendor) => {
    const a = deps.adapters.get(vendor);
    if (!a)
      throw ApplicationFailure.nonRetryable(
        `no ${vendor} adapter is configured (HRIS_VENDORS)`,
        'NotConfigured',
      );
    return a;
  };
  /** The vendor asked to wait: retry the activity after its Retry-After. */
  const busy = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      if (e instanceof VendorBusyError)
        throw ApplicationFailure.create({
          message: e.message,
          type: 'VendorBusy',
          nextRetryDelay: e.retryAfterMs,
        });
      throw e;
    });

  return {
    /** Lists what changed since the last run and feeds each employee to the intake; keeps the cursor. */
    async reconcileHris(input: { vendor: HrisVendor }): Promise<ReconciliationSummary> {
      const adapter = adapterOf(input.vendor);
      const sync = await db.hrisSync.findUnique({ where: { vendor: input.vendor } });
      const now = new Date();
      const changed = await busy(adapter.changedSince(sync?.cursor ?? null, now));
      // The run's identity is where it started: a retried activity reuses its keys (duplicates, not twins).
      const run = sync?.cursor ?? 'first';
      const out: ReconciliationSummary = {
        vendor: input.vendor,
        checked: changed.ids.length,
        missed: [],
        rescinded: [],
        updated: [],
        unclear: [],
        cursor: changed.cursor,
      };
      for (const vendorId of changed.ids) {
        const fed = await busy(
          feedEmployee({ db, intake, adapter, remoteLocations: deps.remoteLocations }, vendorId, {
            key: `reconcile:${input.vendor}:${run}:${vendorId}`.slice(0, 200),
            base: {
              source: 'reconciliation',
              receivedAt: now,
              webhookId: `reconcile:${input.vendor}:${run}`.slice(0, 200),
              bodySha256: '',
              bodyBytes: 0,
            },
            origin: reconciliation(input.vendor),
            now,
            quiet: true,
          }),
        );
        if (!('answer' in fed)) {
          if (fed.outcome === 'invalid' || /without a termination date/.test(fed.reason))
            out.unclear.push({ employeeId: vendorId, reason: fed.reason });
          continue;
        }
        const a = fed.answer;
        if (a.status !== 202) continue;
        const ref = { employeeId: vendorId, departureId: a.body.departureId };
        if (a.body.action === 'queued' || a.body.action === 'held' || a.body.action === 'started') {
          out.missed.push(ref);
          await audit(db, {
            actor: `reconciliation:${input.vendor}`,
            action: 'hris_notification_missing',
            departureId: a.body.departureId,
            details: {
              vendor: input.vendor,
              note: "the HR system's notification did not arrive; reconciliation found it",
            },
          });
        } else if (a.body.action === 'rescinded') out.rescinded.push(ref);
        else if (a.body.action === 'updated') out.updated.push(ref);
      }
      await db.hrisSync.upsert({
        where: { vendor: input.vendor },
        create: { vendor: input.vendor, cursor: changed.cursor, lastRunAt: now },
        update: { cursor: changed.cursor, lastRunAt: now },
      });
      return out;
    },

    /** Uploads the certificates (and signed NDAs) of completed offboardings to the employee's record. */
    async writeBackHrisRecords(input: { vendor: HrisVendor }): Promise<WriteBackResult> {
      return busy(writeBackRecords(db, adapterOf(input.vendor)));
    },

    /**
     * Checks everyone the vendor lists for what HR should clean up, and emails HR the findings together
     * with what this run found that no webhook announced. Acts on none of it.
     */
    async reportHrisDataQuality(input: {
      vendor: HrisVendor;
      summary: ReconciliationSummary;
      runAt: string;
    }) {
      const adapter = adapterOf(input.vendor);
      const roster = await busy(adapter.roster());
      const sync = await db.hrisSync.findUnique({ where: { vendor: input.vendor } });
      const { findings, snapshot } = checkQuality(roster, (sync?.snapshot as Snapshot | null) ?? null);
      await db.hrisSync.upsert({
        where: { vendor: input.vendor },
        create: { vendor: input.vendor, snapshot },
        update: { snapshot },
      });
      const s = input.summary;
      const notable =
        anyFinding(findings) ||
        s.missed.length + s.rescinded.length + s.updated.length + s.unclear.length > 0;
      if (notable) {
        const hr = deps.catalog.organization.hr;
        await deps.mailer.send({
          key: `hris-quality:${input.vendor}:${input.runAt}`,
          departureId: null,
          purpose: 'hris_data_quality',
          to: deps.reportTo ?? hr.email,
          subject: `[Offboard] ${adapter.title} reconciliation: ${s.missed.length} missed, ${s.rescinded.length} rescinded; data quality`,
          text: reportText(adapter.title, s, findings),
        });
      }
      return { findings, reported: notable };
    },
  };
}

function reportText(title: string, s: ReconciliationSummary, f: DataQualityFindings): string {
  const list = (head: string, items: string[]) =>
    items.length ? [head, ...items.map((i) => `  - ${i}`), ''] : [];
  return [
    `The reconciliation with ${title} checked ${s.checked} changed employee record(s).`,
    '',
    ...list(
      `${title}'s notification did not arrive for these departures; the reconciliation started them:`,
      s.missed.map((m) => `${m.employeeId} (departure ${m.departureId})`),
    ),
    ...list(
      `Terminations no longer in ${title} (rescinded; the offboarding was halted for review):`,
      s.rescinded.map((m) => `${m.employeeId} (departure ${m.departureId})`),
    ),
    ...list(
      'Open offboardings updated (last day or addresses):',
      s.updated.map((m) => `${m.employeeId}`),
    ),
    ...list(
      'Records Offboard did not act on:',
      s.unclear.map((u) => `${u.employeeId}: ${u.reason}`),
    ),
    'Data quality (reported only; Offboard changes nothing in the HR system):',
    ...list(
      'Possible duplicate records:',
      f.duplicates.map((d) => d.join(', ')),
    ),
    ...list('Inactive or terminated without a termination date:', f.terminatedWithoutDate),
    ...list(
      'Work emails shared by more than one person:',
      f.sharedWorkEmails.map((w) => `${w.email}: ${w.employeeIds.join(', ')}`),
    ),
    ...list(
      'Status flips since the last run:',
      f.statusFlips.map((x) => `${x.employeeId}: ${x.from} -> ${x.to} (and back)`),
    ),
  ].join('\n');
}

export type HrisActivities = ReturnType<typeof createHrisActivities>;
