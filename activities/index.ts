/**
 * Activities of the offboarding workflow, one factory per subsystem (revocation, assets, documents, the
 * follow-up round, verification), assembled here from their dependencies. Workflows import this module
 * only as a type: `proxyActivities<Activities>()`.
 */
import type { Catalog } from '../config/catalog';
import type { Db } from '../lib/db';
import type { Mailer } from '../lib/mailer';
import { createAssetSystem, type AssetSystem } from './asset-systems';
import { createAssetActivities } from './assets';
import type { ConnectorRegistry } from './connectors';
import { createDocumentActivities } from './documents';
import { createFollowupActivities, createRevocationGauge } from './followup';
import { createHrisActivities } from './hris-reconcile';
import type { HrisVendor } from '../contract';
import type { HrisAdapter } from '../hris/types';
import { createLogger } from '../lib/logger';
import { createRevocationActivities } from './revocation';
import { createShippingProvider, type ShippingProvider } from './shipping';
import { createVerificationActivities } from './verification';

export { ATTEMPT_SQL, CONFIRM_SQL } from './revocation';
export type { AuditExportActivities, AuditExportResult } from './audit-export';
export type { DiscoverRef, OwnedStepRef, StepFailure, StepRef, TicketDone } from '../contract';

export interface ActivityDeps {
  db: Db;
  catalog: Catalog;
  connectors: ConnectorRegistry;
  mailer: Mailer;
  /** Base URL of the API, for links in emails. */
  publicUrl: string;
  /** The asset system (default: from the catalog, the built-in register or Snipe-IT). */
  assetSystem?: AssetSystem;
  /** Prepaid return labels (default: from the catalog, a label request task for the IT desk). */
  shipping?: ShippingProvider;
  /** Where secrets named by the catalog are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Only to reproduce a plan an older worker recorded (tests of the paths those offboardings still take
   * until they finish; docs/versioning.md): without the sweep (every step its own activity), the sweep an
   * ordinary activity, steps as local activities (with the sweep off), no first follow-up round. A
   * worker never sets it: new offboardings are planned one way (a local sweep, then the first round).
   */
  legacyPlan?: LegacyPlan;
  /** Parts per second of the first rounds in this process (WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND). */
  followupPartsPerSecond?: number;
  /**
   * Their pace while this process runs revocations (WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING);
   * undefined: always `followupPartsPerSecond`.
   */
  followupPartsPerSecondWhileRevoking?: number;
  /** The HR system adapters (HRIS_VENDORS) for reconciliation and write-back; none: those refuse. */
  hris?: {
    adapters: ReadonlyMap<HrisVendor, HrisAdapter>;
    remoteLocations: readonly string[];
    triggerStatuses: readonly string[];
    reportTo?: string;
  };
}

/** Plan shapes older workers recorded (`ActivityDeps.legacyPlan`). */
export interface LegacyPlan {
  sweep?: false;
  localSweep?: false;
  localSteps?: true;
  firstRound?: false;
}

/** Creates the activity functions bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  const { db, catalog, connectors, mailer } = deps;
  const assets = createAssetActivities({
    db,
    catalog,
    mailer,
    publicUrl: deps.publicUrl,
    assetSystem: deps.assetSystem ?? createAssetSystem(catalog, deps.env ?? process.env, db),
    shipping: deps.shipping ?? createShippingProvider(catalog, { mailer, publicUrl: deps.publicUrl }),
  });

  const documents = createDocumentActivities({ db, catalog, mailer, publicUrl: deps.publicUrl });

  // Revocations first: the first rounds' parts slow down while revocation work runs here.
  const revocations = createRevocationGauge();
  const followup = createFollowupActivities({
    db,
    assets,
    documents,
    partsPerSecond: deps.followupPartsPerSecond,
    partsPerSecondWhileRevoking: deps.followupPartsPerSecondWhileRevoking,
    revocations,
  });

  const verification = createVerificationActivities({
    db,
    catalog,
    connectors,
    mailer,
    publicUrl: deps.publicUrl,
  });

  const hris = createHrisActivities({
    db,
    mailer,
    catalog,
    logger: createLogger({ level: 'warn', name: 'offboard-hris' }),
    adapters: deps.hris?.adapters ?? new Map(),
    remoteLocations: deps.hris?.remoteLocations ?? [],
    triggerStatuses: deps.hris?.triggerStatuses ?? ['terminated', 'resigned_confirmed'],
    reportTo: deps.hris?.reportTo,
  });

  return {
    ...assets,
    ...documents,
    ...followup,
    ...verification,
    ...hris,
    ...createRevocationActivities(deps, revocations),
  };
}

/** The activity interface workflows proxy. */
export type Activities = ReturnType<typeof createActivities>;
