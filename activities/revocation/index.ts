/**
 * The revocation activities: planning a departure's revocation, each step (matched, acted on, read back,
 * recorded), the sweep of a pass, tickets to owners where there is no API, failure reports, the last
 * day moved, the rescission review and the end of the revocation. Built by `createRevocationActivities`;
 * `activities/index.ts` assembles them with the other subsystems' activities.
 */
import type { DiscoverRef, OwnedStepRef, StepRef } from '../../contract';
import { createDeskRegistry } from '../desk';
import { createDeskChecks } from '../desk/checks';
import type { ActivityDeps } from '../index';
import type { RevocationGauge } from '../followup';
import { createRevocationContext } from './context';
import { createFailureReports } from './failures';
import { createPlanning } from './planning';
import { createStepRecords } from './records';
import { createRescission } from './rescission';
import { createStepRunners } from './steps';
import { createSweep } from './sweep';
import { createTickets } from './tickets';

export { ATTEMPT_SQL, CONFIRM_SQL } from './records';

/** Creates the revocation activities; `revocations` counts their work in flight (followup.ts paces by it). */
export function createRevocationActivities(deps: ActivityDeps, revocations: RevocationGauge) {
  const ctx = createRevocationContext(deps);
  // The service desks of the catalog's ticket systems (config/desk.ts), their secrets from the environment.
  const desks = createDeskRegistry(deps.catalog, deps.env ?? process.env);
  const tickets = createTickets(ctx, desks);
  const runners = createStepRunners(ctx, createStepRecords(ctx), tickets);
  const { revokeStep, discoverStep, revokeOwnedStep, scopeStep } = runners;
  const sweepPass = createSweep(runners);

  /** An activity counted as revocation work in flight. */
  const tracked =
    <A, R>(activity: (input: A) => Promise<R>) =>
    (input: A): Promise<R> =>
      revocations.track(() => activity(input));

  return {
    ...createPlanning(ctx),

    /**
     * Revokes one system's access for the departure and confirms it by reading the target back
     * (`confirmed`), or opens a ticket to the system's owner where there is no API (`ticket_opened`).
     * Records each attempt in the step table. Idempotent.
     */
    revokeAccess: tracked((ref: StepRef) => revokeStep(ref)),

    /**
     * Finds the credentials the leaver owns in a system (app registrations, service accounts) and adds
     * one step per credential to the step table; the workflow runs them. Confirmed by the search itself.
     */
    discoverOwnedCredentials: tracked((input: DiscoverRef) => discoverStep(input)),

    /**
     * Revokes one credential the leaver owns (rotating its secrets through the API) and confirms it, or
     * tickets it to the system's owner, as the catalog's `ownedCredentials` says. Idempotent.
     */
    revokeOwnedCredential: tracked((ref: OwnedStepRef) => revokeOwnedStep(ref)),

    /**
     * Notice period: scopes the leaver's account in one system (admin roles and privileged groups
     * removed, sessions renewed, the account kept working) and confirms it by reading the target back.
     * Idempotent. The same system's revocation runs when the last day ends.
     */
    scopeAccess: tracked((ref: StepRef) => scopeStep(ref)),

    /**
     * One revocation pass in one activity: tries every step once, in PRODUCT order (identity,
     * directory, VPN, MFA and the searches for owned credentials one after another, stopping at the
     * first that fails; then the applications and the credentials found, concurrently, each on its own).
     * Rate-limited systems are paced through the shared pace (pace.ts). Before each step it reads
     * whether the termination was rescinded (the API and the intake store a rescission before they
     * signal; the workflow records one it got otherwise with `noteRescission`) and halts if so. A step
     * that fails is reported, not retried: the workflow retries it as its own activity by the system's
     * policy, counting this try. Heartbeats while it runs; a sweep that dies (worker killed) is simply
     * not trusted: the workflow runs the pass step by step, every step being idempotent.
     */
    sweepRevocations: tracked(sweepPass),

    ...createRescission(ctx),
    ...createFailureReports(ctx),
    completeTicketStep: tickets.completeTicketStep,
    ...createDeskChecks({ db: deps.db, catalog: deps.catalog, desks }),
  };
}
