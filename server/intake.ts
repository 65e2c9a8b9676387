/**
 * HRIS event intake: verify the Standard Webhooks signature, validate the body, log the event with its
 * receive time, signature result and outcome, and start (or queue) one offboarding per termination.
 * Everything is stored before the answer; nothing that fails verification or validation starts work.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import {
  knownAccounts,
  offboardingWorkflowId,
  type ContactUpdate,
  type LastDayChange,
  type DepartureStatus,
  type Rescission,
} from '../contract';
import { audit, isUniqueViolation, Prisma, sql, type Db } from '../lib/db';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { OPEN_ACCOUNT_POLICY, type AccountPolicy } from './account-policy';
import { fieldErrors, hrisEventSchema, type HrisEvent } from './hris';
import { RESCINDED_DEPARTURE, type DepartureRow, type Starter } from './starter';

export type IntakeAnswer =
  | {
      status: 202;
      body: {
        departureId: string;
        workflowId: string;
        action: 'started' | 'duplicate' | 'queued' | 'updated' | 'rescinded' | 'held';
        /** For `held`: why a second operator must approve it before anything starts. */
        reason?: string;
      };
    }
  | { status: 200; body: { action: 'ignored'; reason: string } };

/** Where an accepted departure came from: the signed HRIS webhook or an operator (API / CLI). */
export interface Origin {
  /** `TriggerEvent.source`. */
  source: 'hris' | 'operator';
  /** Audit actor and the `by` of the workflow start: `hris` or `operator:<name>`. */
  actor: string;
  /** How the sender was authenticated (`TriggerEvent.signatureResult`). */
  signatureResult: 'valid' | 'operator';
}

const HRIS: Origin = { source: 'hris', actor: 'hris', signatureResult: 'valid' };

type EventBase = Omit<Prisma.TriggerEventUncheckedCreateInput, 'signatureResult' | 'outcome'>;

export interface IntakeDeps {
  db: Db;
  secret: string;
  triggerStatuses: readonly string[];
  starter: Starter;
  logger: Logger;
  /** The catalog's rules for named accounts and protected ones (none without a catalog). */
  accounts?: AccountPolicy;
}

type SignatureResult = 'valid' | 'invalid' | 'stale' | 'missing';

function classify(e: WebhookVerificationError): SignatureResult {
  if (/missing/i.test(e.message)) return 'missing';
  if (/too old|too new/i.test(e.message)) return 'stale';
  return 'invalid';
}

/** Longest `webhook-id` accepted (Standard Webhooks ids are short, e.g. `msg_<uuid>`). */
export const MAX_WEBHOOK_ID = 200;

/** The contact addresses a re-sent termination may fill in or correct on its open departure. */
const CONTACT_FIELDS = ['personalEmail', 'managerEmail', 'departmentHeadEmail'] as const;

/** Who sent a change to a running offboarding: `hris:<webhook-id>` or the operator. */
const sourceOf = (origin: Origin, key: string) => (origin.source === 'hris' ? `hris:${key}` : origin.actor);

/** Stores a message for the running offboarding, delivered by the starter (`deliverMessages`). */
async function queueMessage(
  tx: Prisma.TransactionClient,
  departureId: string,
  kind: 'lastDayChanged' | 'contactUpdated',
  payload: LastDayChange | ContactUpdate,
): Promise<void> {
  await tx.workflowMessage.create({
    data: { departureId, kind, payload: payload as unknown as Prisma.InputJsonValue },
  });
}

/** Departure statuses whose workflow may still be waiting for the last day. */
const OPEN_STATUSES: readonly string[] = [
  'accepted',
  'awaiting_approval',
  'started',
  'running',
  'scoped',
] satisfies DepartureStatus[];
/**
 * Departures that no longer stand in the way of the employee's next termination: finished, failed,
 * blocked, or rescinded (also while the rescission is still being delivered: a departure with a stored
 * `rescind` message counts as rescinded). A new termination of the same employee then starts a new
 * offboarding; the same termination again (its `confirmedAt`) stays a duplicate.
 */
const CLOSED_DEPARTURE_STATUSES: string[] = ['completed', 'blocked', 'rescinded'] satisfies DepartureStatus[];

/** The audit detail naming the idempotency key. */
function keyName(origin: Origin): string {
  return origin.source === 'hris' ? 'webhookId' : 'idempotencyKey';
}

/** Creates the intake service used by `POST /webhooks/hris`. */
export function createIntake(deps: IntakeDeps) {
  const { db, logger } = deps;
  const webhook = new Webhook(deps.secret);
  const policy = deps.accounts ?? OPEN_ACCOUNT_POLICY;

  /**
   * Why this departure waits for a second operator: an operator's involuntary departure naming a
   * protected account (an HRIS termination is the source of truth and is not held; matching still never
   * touches a protected account).
   */
  function holdReason(event: HrisEvent, origin: Origin): string | null {
    if (origin.source !== 'operator' || event.termination?.type !== 'involuntary') return null;
    return policy.protectedHit(event);
  }

  async function logEvent(data: Prisma.TriggerEventUncheckedCreateInput) {
    return db.triggerEvent.create({ data });
  }

  /** Handles one delivery. Throws AppError (401/400/415) for what must be refused; logs it first. */
  async function receive(req: {
    headers: Record<string, string | string[] | undefined>;
    body: Buffer;
    contentType: string | undefined;
    receivedAt: Date;
  }): Promise<IntakeAnswer> {
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(' ') : v;
    };
    const rawId = h('webhook-id');
    const webhookId = rawId?.slice(0, MAX_WEBHOOK_ID) ?? null;
    const base = {
      receivedAt: req.receivedAt,
      webhookId,
      bodySha256: createHash('sha256').update(req.body).digest('hex'),
      bodyBytes: req.body.length,
    };

    // 1. Signature (constant-time comparison, 5-minute tolerance, key rotation via several v1 entries).
    let parsed: unknown;
    try {
      parsed = webhook.verify(req.body, {
        'webhook-id': h('webhook-id') ?? '',
        'webhook-timestamp': h('webhook-timestamp') ?? '',
        'webhook-signature': h('webhook-signature') ?? '',
      });
    } catch (e) {
      if (e instanceof WebhookVerificationError) {
        const result = classify(e);
        await logEvent({ ...base, signatureResult: result, outcome: 'rejected', reason: e.message });
        logger.warn({ webhookId, signature: result }, 'HRIS event refused: bad signature');
        const ts = h('webhook-timestamp');
        throw new AppError(
          'signature_invalid',
          result === 'stale'
            ? 'webhook-timestamp is outside the 5-minute tolerance'
            : result === 'missing'
              ? 'webhook-id, webhook-timestamp and webhook-signature headers are required'
              : ts !== undefined && !/^\s*\d+\s*$/.test(ts)
                ? 'webhook-timestamp must be a Unix time in seconds'
                : 'webhook-signature does not match',
        );
      }
      // Signed but not JSON.
      await logEvent({
        ...base,
        signatureResult: 'valid',
        outcome: 'invalid',
        reason: 'body is not valid JSON',
      });
      throw new AppError('bad_request', 'body is not valid JSON', {
        fields: [{ field: '(body)', message: 'not valid JSON' }],
      });
    }

    // The webhook-id is the idempotency key and is stored whole: a longer one would have to be cut, and
    // two ids sharing their first characters would then pass for a redelivery of one another.
    if (rawId!.length > MAX_WEBHOOK_ID) {
      const message = `must be at most ${MAX_WEBHOOK_ID} characters`;
      await logEvent({
        ...base,
        signatureResult: 'valid',
        outcome: 'invalid',
        reason: `webhook-id: ${message}`,
      });
      throw new AppError('validation_failed', 'the webhook-id header is invalid', {
        fields: [{ field: 'webhook-id', message }],
      });
    }

    if (!req.contentType || !/^application\/([a-z.+-]*\+)?json\b/i.test(req.contentType)) {
      await logEvent({
        ...base,
        signatureResult: 'valid',
        outcome: 'invalid',
        reason: 'unsupported content type',
      });
      throw new AppError('unsupported_media_type', 'content-type must be application/json');
    }

    // 2. Body.
    const r = hrisEventSchema.safeParse(parsed);
    if (!r.success) {
      const fields = fieldErrors(r.error);
      await logEvent({
        ...base,
        signatureResult: 'valid',
        outcome: 'invalid',
        reason: fields
          .map((f) => `${f.field}: ${f.message}`)
          .join('; ')
          .slice(0, 1000),
      });
      throw new AppError('validation_failed', 'the event body is invalid', { fields });
    }
    const event = r.data;
    const accountErrors = policy.check(event.employee.accounts);
    if (accountErrors.length > 0) {
      await logEvent({
        ...base,
        signatureResult: 'valid',
        outcome: 'invalid',
        reason: accountErrors.map((f) => `${f.field}: ${f.message}`).join('; '),
      });
      throw new AppError('validation_failed', 'the event body is invalid', { fields: accountErrors });
    }
    const key = webhookId!; // verify() refused deliveries without it.

    // 3. The common case first: a new departure, stored in one statement (see `acceptNew`).
    if (event.status !== 'termination_rescinded' && deps.triggerStatuses.includes(event.status)) {
      const answer = await acceptNew(event, key, base, HRIS);
      if (answer) return answer;
    }

    // 4. Idempotency: a redelivered webhook-id gets the first answer again.
    const prior = await db.triggerEvent.findUnique({ where: { idempotencyKey: key } });
    if (prior) return redelivery(prior, base, event);

    if (event.status === 'termination_rescinded') return rescind(event, key, base);

    if (!deps.triggerStatuses.includes(event.status)) {
      const reason =
        event.status === 'pending_resignation'
          ? 'pending_resignation is not a confirmed departure'
          : `status "${event.status}" does not start an offboarding`;
      try {
        await logEvent({
          ...base,
          idempotencyKey: key,
          signatureResult: 'valid',
          hrisStatus: event.status,
          employeeId: event.employee.id,
          outcome: 'ignored',
          reason,
          payload: event as unknown as Prisma.InputJsonValue,
        });
      } catch (e) {
        if (isUniqueViolation(e)) return redeliveryByKey(key, base, event);
        throw e;
      }
      logger.info({ webhookId, status: event.status, employeeId: event.employee.id }, 'HRIS event ignored');
      return { status: 200, body: { action: 'ignored', reason } };
    }

    return acceptDeparture(event, key, base, HRIS);
  }

  /**
   * A departure submitted by an operator (`POST /departures`): the same validation, storage, idempotency
   * and start as a webhook event. `key` is the operator's idempotency key; `event` is already validated
   * and has a trigger status.
   */
  async function submit(req: {
    event: HrisEvent;
    key: string;
    operator: string;
    body: Buffer;
    receivedAt: Date;
  }): Promise<IntakeAnswer> {
    const base: EventBase = {
      source: 'operator',
      receivedAt: req.receivedAt,
      webhookId: null,
      bodySha256: createHash('sha256').update(req.body).digest('hex'),
      bodyBytes: req.body.length,
    };
    const origin: Origin = {
      source: 'operator',
      actor: `operator:${req.operator}`,
      signatureResult: 'operator',
    };
    const accountErrors = policy.check(req.event.employee.accounts);
    if (accountErrors.length > 0)
      throw new AppError('validation_failed', 'the departure is invalid', { fields: accountErrors });
    const answer = await acceptNew(req.event, req.key, base, origin);
    if (answer) return answer;
    const prior = await db.triggerEvent.findUnique({ where: { idempotencyKey: req.key } });
    if (prior) return redelivery(prior, base, req.event, origin);
    return acceptDeparture(req.event, req.key, base, origin);
  }

  /**
   * The fast path for the common case, a departure seen for the first time under a key seen for the
   * first time: the departure, its trigger event and its `departure_accepted` audit row in one
   * statement (one round trip, no Prisma client; at 500 events/s the client's CPU was intake's limit).
   * Returns null, having written nothing, for everything else (the key was seen before, the employee
   * has this termination or an open offboarding already, a concurrent delivery won): the caller then
   * takes the general path, which answers those cases.
   */
  async function acceptNew(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
  ): Promise<IntakeAnswer | null> {
    // A departure that waits for approval takes the general path (it is stored held, not started).
    if (holdReason(event, origin)) return null;
    return withStartSlot(async (inline) => {
      const departure = await insertNew(event, key, base, origin, inline);
      if (!departure) return null;
      return afterStore(event, key, base, origin, inline, departure, { isNew: true, lastDayUpdated: false });
    });
  }

  /**
   * Runs `fn` holding an inline start slot when one is free (`inline` true: the workflow is started
   * before answering), else without one (the departure is answered "queued").
   */
  async function withStartSlot<T>(fn: (inline: boolean) => Promise<T>): Promise<T> {
    const inline = deps.starter.claimInlineStart();
    try {
      return await fn(inline);
    } finally {
      if (inline) deps.starter.releaseInlineStart();
    }
  }

  /** The statement of `acceptNew`; the new departure, or null when the general path must decide. */
  async function insertNew(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
    inline: boolean,
  ): Promise<DepartureRow | null> {
    const t = event.termination!;
    const now = new Date().toISOString();
    const departure: DepartureRow = {
      id: `dep_${randomUUID()}`,
      employeeId: event.employee.id,
      workflowId: offboardingWorkflowId(event.employee.id),
      terminationType: t.type,
      confirmedAt: new Date(t.confirmedAt),
      lastDay: t.lastDay ?? null,
      department: event.employee.department,
      workLocation: event.employee.workLocation,
    };
    const details = { [keyName(origin)]: key, status: event.status, terminationType: t.type };
    try {
      // Rows are chained dep -> event -> audit, so they are written in that order: the audit row, whose
      // trigger takes the chain's lock until commit, comes last (see `audit` in lib/db.ts).
      const r = await sql(
        db,
        `WITH dep AS (
           INSERT INTO "Departure" (id, "employeeId", "terminationKey", "workflowId", "employeeName",
             "workEmail", "personalEmail", department, "managerEmail", "departmentHeadEmail",
             "workLocation", "terminationType", "confirmedAt", "lastDay", "occurredAt", "startAttempts",
             "createdAt", "updatedAt", accounts, "submittedBy")
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::timestamp, $14, $15::timestamp,
                  $16, $17::timestamp, $17::timestamp, $31::jsonb, $32
            WHERE NOT EXISTS (
              SELECT 1 FROM "Departure"
               WHERE "employeeId" = $2
                 AND ("terminationKey" = $3
                      OR (status <> ALL($30::text[]) AND "rescindedAt" IS NULL
                          AND NOT EXISTS (SELECT 1 FROM "WorkflowMessage" m
                                           WHERE m."departureId" = "Departure".id AND m.kind = 'rescind'))))
           RETURNING id),
         ev AS (
           INSERT INTO "TriggerEvent" (id, source, "webhookId", "idempotencyKey", "receivedAt",
             "signatureResult", "hrisStatus", "employeeId", outcome, "bodySha256", "bodyBytes", payload,
             "departureId", "createdAt", "updatedAt")
           SELECT $18, $19, $20, $21, $22::timestamp, $23, $24, $2, 'queued', $25, $26, $27::jsonb, dep.id,
                  $17::timestamp, $17::timestamp
             FROM dep
           RETURNING "departureId")
         INSERT INTO "AuditEvent" (at, "createdAt", actor, action, "departureId", details)
         SELECT $17::timestamp, $17::timestamp, $28, 'departure_accepted', ev."departureId", $29::jsonb
           FROM ev`,
        [
          departure.id,
          event.employee.id,
          departure.confirmedAt.toISOString(),
          departure.workflowId,
          event.employee.name,
          event.employee.workEmail,
          event.employee.personalEmail ?? null,
          event.employee.department,
          event.employee.managerEmail ?? null,
          event.employee.departmentHeadEmail ?? null,
          event.employee.workLocation,
          t.type,
          departure.confirmedAt.toISOString(),
          departure.lastDay,
          new Date(event.occurredAt).toISOString(),
          // Counted now when the start follows this statement (the dispatcher counts its own).
          inline ? 1 : 0,
          now,
          randomUUID(),
          base.source ?? 'hris',
          base.webhookId ?? null,
          key,
          (base.receivedAt as Date).toISOString(),
          origin.signatureResult,
          event.status,
          base.bodySha256,
          base.bodyBytes,
          JSON.stringify(event),
          origin.actor,
          JSON.stringify(details),
          CLOSED_DEPARTURE_STATUSES,
          event.employee.accounts ? JSON.stringify(event.employee.accounts) : null,
          origin.source === 'operator' ? origin.actor : null,
        ],
      );
      return r.rowCount === 1 ? departure : null;
    } catch (e) {
      // The key was used before, or a concurrent delivery of this termination won: the general path.
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  /**
   * A confirmed departure: store event + departure in one transaction, then start the workflow. Shared by
   * the webhook and the operator route.
   */
  async function acceptDeparture(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
  ): Promise<IntakeAnswer> {
    return withStartSlot((inline) => storeAndStart(event, key, base, origin, inline));
  }

  /** `acceptDeparture` with its start slot: `inline` starts the workflow before answering. */
  async function storeAndStart(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
    inline: boolean,
  ): Promise<IntakeAnswer> {
    const t = event.termination!;
    const terminationKey = new Date(t.confirmedAt).toISOString();
    let departure: DepartureRow;
    let isNew = false;
    let lastDayUpdated = false;
    let contactUpdated = false;
    let accountsUpdated = false;
    let held = holdReason(event, origin);
    try {
      const out = await db.$transaction(async (tx) => {
        // The departure of this very termination if there is one (even rescinded or finished: a late
        // copy of a rescinded termination must not touch the employee's next offboarding), else the
        // employee's open one. At most one of each.
        const candidates = await tx.departure.findMany({
          where: {
            employeeId: event.employee.id,
            OR: [
              { terminationKey },
              { status: { notIn: CLOSED_DEPARTURE_STATUSES }, NOT: RESCINDED_DEPARTURE },
            ],
          },
          orderBy: { createdAt: 'desc' },
          take: 2,
        });
        let dep = candidates.find((c) => c.terminationKey === terminationKey) ?? candidates[0] ?? null;
        let created = false;
        let lastDayMoved: string | null = null;
        let lastDayChanged = false;
        let lastDayAudit: Parameters<typeof audit>[1] | null = null;
        if (
          dep &&
          t.lastDay &&
          t.lastDay !== dep.lastDay &&
          OPEN_STATUSES.includes(dep.status) &&
          !(await tx.workflowMessage.findFirst({ where: { departureId: dep.id, kind: 'rescind' } }))
        ) {
          // The HRIS moved the last day of a running offboarding: record it and tell the workflow.
          lastDayMoved = dep.lastDay;
          lastDayChanged = true;
          dep = await tx.departure.update({ where: { id: dep.id }, data: { lastDay: t.lastDay } });
          const change: LastDayChange = { lastDay: t.lastDay, source: sourceOf(origin, key) };
          await queueMessage(tx, dep.id, 'lastDayChanged', change);
          // Written after the trigger event below: the audit append takes the chain's lock, which is
          // held to commit, so it comes last (never lock, then wait on the event's unique key).
          lastDayAudit = {
            actor: origin.actor,
            action: 'last_day_changed',
            departureId: dep.id,
            details: { [keyName(origin)]: key, from: lastDayMoved, to: t.lastDay },
          };
        }
        // The HRIS filled in or corrected a contact address of this same, still open termination (e.g. the
        // personal email it lacked): kept on the departure, so every email from now on uses it.
        let contactAudit: Parameters<typeof audit>[1] | null = null;
        let contactChanged: string[] = [];
        if (
          dep &&
          dep.terminationKey === terminationKey &&
          dep.rescindedAt === null &&
          !CLOSED_DEPARTURE_STATUSES.includes(dep.status)
        ) {
          const changes: Record<string, { from: string | null; to: string }> = {};
          for (const f of CONTACT_FIELDS) {
            const to = event.employee[f];
            if (to && to !== dep[f]) changes[f] = { from: dep[f], to };
          }
          contactChanged = Object.keys(changes);
          if (contactChanged.length > 0) {
            dep = await tx.departure.update({
              where: { id: dep.id },
              data: Object.fromEntries(Object.entries(changes).map(([f, c]) => [f, c.to])),
            });
            contactAudit = {
              actor: origin.actor,
              action: 'contact_updated',
              departureId: dep.id,
              details: { [keyName(origin)]: key, changes },
            };
            // The running offboarding sends again what failed for want of the address (names only:
            // the addresses stay in the database, out of the workflow history).
            const update: ContactUpdate = { fields: contactChanged, source: sourceOf(origin, key) };
            await queueMessage(tx, dep.id, 'contactUpdated', update);
          }
        }
        // Account ids named (or corrected) for this same, still open termination: kept on the departure;
        // a step tried again (a re-drive) reads them.
        let accountsAudit: Parameters<typeof audit>[1] | null = null;
        if (
          dep &&
          event.employee.accounts &&
          dep.terminationKey === terminationKey &&
          dep.rescindedAt === null &&
          !CLOSED_DEPARTURE_STATUSES.includes(dep.status)
        ) {
          const before = knownAccounts(dep.accounts);
          const changes = Object.fromEntries(
            Object.entries(event.employee.accounts)
              .filter(([sys, id]) => before[sys] !== id)
              .map(([sys, id]) => [sys, { from: before[sys] ?? null, to: id }]),
          );
          if (Object.keys(changes).length > 0) {
            dep = await tx.departure.update({
              where: { id: dep.id },
              data: { accounts: { ...before, ...event.employee.accounts } },
            });
            accountsAudit = {
              actor: origin.actor,
              action: 'accounts_updated',
              departureId: dep.id,
              details: { [keyName(origin)]: key, changes },
            };
          }
        }
        if (!dep) {
          dep = await tx.departure.create({
            data: {
              id: `dep_${randomUUID()}`,
              employeeId: event.employee.id,
              terminationKey,
              workflowId: offboardingWorkflowId(event.employee.id),
              employeeName: event.employee.name,
              workEmail: event.employee.workEmail,
              personalEmail: event.employee.personalEmail ?? null,
              department: event.employee.department,
              managerEmail: event.employee.managerEmail ?? null,
              departmentHeadEmail: event.employee.departmentHeadEmail ?? null,
              workLocation: event.employee.workLocation,
              terminationType: t.type,
              confirmedAt: new Date(t.confirmedAt),
              lastDay: t.lastDay ?? null,
              occurredAt: new Date(event.occurredAt),
              // Counted now when the start follows this transaction (the dispatcher counts its own).
              startAttempts: held ? 0 : inline ? 1 : 0,
              accounts: event.employee.accounts ?? Prisma.DbNull,
              submittedBy: origin.source === 'operator' ? origin.actor : null,
              ...(held ? { status: 'awaiting_approval', approvalReason: held } : {}),
            },
          });
          created = true;
        }
        const updated = lastDayChanged || contactAudit !== null || accountsAudit !== null;
        await tx.triggerEvent.create({
          data: {
            ...base,
            idempotencyKey: key,
            signatureResult: origin.signatureResult,
            hrisStatus: event.status,
            employeeId: event.employee.id,
            outcome: created ? (held ? 'held' : 'queued') : updated ? 'updated' : 'duplicate',
            reason: created
              ? held
              : updated
                ? [
                    ...(lastDayChanged
                      ? [`last day moved from ${lastDayMoved ?? '(none)'} to ${t.lastDay ?? ''}`]
                      : []),
                    ...(contactAudit ? [`contact updated: ${contactChanged.join(', ')}`] : []),
                    ...(accountsAudit ? ['known account ids updated'] : []),
                  ].join('; ')
                : `offboarding ${dep.id} already exists for this employee`,
            payload: event as unknown as Prisma.InputJsonValue,
            departureId: dep.id,
          },
        });
        if (lastDayAudit) await audit(tx, lastDayAudit);
        if (contactAudit) await audit(tx, contactAudit);
        if (accountsAudit) await audit(tx, accountsAudit);
        if (created)
          await audit(tx, {
            actor: origin.actor,
            action: held ? 'departure_held' : 'departure_accepted',
            departureId: dep.id,
            details: {
              [keyName(origin)]: key,
              status: event.status,
              terminationType: t.type,
              ...(held ? { awaitingApproval: held } : {}),
            },
          });
        return {
          dep,
          created,
          updated: lastDayChanged,
          contactUpdated: contactAudit !== null,
          accountsUpdated: accountsAudit !== null,
        };
      });
      departure = out.dep;
      isNew = out.created;
      lastDayUpdated = out.updated;
      contactUpdated = out.contactUpdated;
      accountsUpdated = out.accountsUpdated;
      held = out.dep.status === 'awaiting_approval' ? (out.dep.approvalReason ?? held) : null;
    } catch (e) {
      // A concurrent delivery of the same id or termination won the race: answer as a duplicate.
      if (isUniqueViolation(e)) return redeliveryByKey(key, base, event, origin);
      throw e;
    }
    if (isNew && held) {
      logger.info({ departureId: departure.id }, 'departure held for a second operator');
      return {
        status: 202,
        body: { departureId: departure.id, workflowId: departure.workflowId, action: 'held', reason: held },
      };
    }
    return afterStore(event, key, base, origin, inline, departure, {
      isNew,
      lastDayUpdated,
      contactUpdated,
      accountsUpdated,
    });
  }

  /** What follows storing an accepted event: tell a moved last day, answer a duplicate, or start. */
  async function afterStore(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
    inline: boolean,
    departure: DepartureRow,
    {
      isNew,
      lastDayUpdated,
      contactUpdated = false,
      accountsUpdated = false,
    }: { isNew: boolean; lastDayUpdated: boolean; contactUpdated?: boolean; accountsUpdated?: boolean },
  ): Promise<IntakeAnswer> {
    const webhookId = base.webhookId;
    const t = event.termination!;
    if (contactUpdated) logger.info({ webhookId, departureId: departure.id }, 'contact details updated');
    if (lastDayUpdated)
      logger.info({ webhookId, departureId: departure.id, lastDay: t.lastDay }, 'last day moved');
    if (lastDayUpdated || contactUpdated) {
      await deps.starter
        .deliverMessages(departure.id)
        .catch((e: unknown) =>
          logger.warn({ err: e, departureId: departure.id }, 'the change stays queued for the dispatcher'),
        );
    }
    if (lastDayUpdated || contactUpdated || accountsUpdated) {
      return {
        status: 202,
        body: { departureId: departure.id, workflowId: departure.workflowId, action: 'updated' },
      };
    }

    if (!isNew) {
      logger.info(
        { webhookId, departureId: departure.id },
        'HRIS event is a duplicate of an existing offboarding',
      );
      return {
        status: 202,
        body: { departureId: departure.id, workflowId: departure.workflowId, action: 'duplicate' },
      };
    }

    if (!inline) {
      // A burst: stored and answered at once; the dispatcher starts it in the background.
      deps.starter.queued();
      return {
        status: 202,
        body: { departureId: departure.id, workflowId: departure.workflowId, action: 'queued' },
      };
    }
    const started = await deps.starter.startDeparture(
      departure,
      origin.source === 'hris' ? 'hris-webhook' : origin.actor,
      { fresh: true },
    );
    if (started.started) {
      await sql(
        db,
        `UPDATE "TriggerEvent" SET outcome = 'started', "updatedAt" = $2::timestamp WHERE "idempotencyKey" = $1`,
        [key, new Date().toISOString()],
      );
    }
    return {
      status: 202,
      body: {
        departureId: departure.id,
        workflowId: departure.workflowId,
        action: started.started ? 'started' : 'queued',
      },
    };
  }

  /**
   * A rescinded termination: the latest offboarding of the employee gets a `rescind` message (stored
   * with the event, then delivered): pending steps halt and a review opens. Nothing is re-enabled.
   */
  async function rescind(
    event: HrisEvent,
    key: string,
    base: Omit<Prisma.TriggerEventUncheckedCreateInput, 'signatureResult' | 'outcome'>,
  ): Promise<IntakeAnswer> {
    const common = {
      ...base,
      idempotencyKey: key,
      signatureResult: 'valid',
      hrisStatus: event.status,
      employeeId: event.employee.id,
      payload: event as unknown as Prisma.InputJsonValue,
    };
    let out: { dep: { id: string; workflowId: string } | null; fresh: boolean };
    try {
      out = await db.$transaction(async (tx) => {
        const dep = await tx.departure.findFirst({
          where: { employeeId: event.employee.id, status: { not: 'blocked' } },
          orderBy: { createdAt: 'desc' },
        });
        if (!dep) {
          await tx.triggerEvent.create({
            data: { ...common, outcome: 'ignored', reason: 'no offboarding of this employee to rescind' },
          });
          return { dep: null, fresh: false };
        }
        const prior = await tx.workflowMessage.findFirst({ where: { departureId: dep.id, kind: 'rescind' } });
        if (!prior) {
          const r: Rescission = {
            at: (base.receivedAt as Date).toISOString(),
            by: `hris:${key}`,
            reason: 'termination_rescinded received from the HRIS',
          };
          await tx.workflowMessage.create({
            data: { departureId: dep.id, kind: 'rescind', payload: r as unknown as Prisma.InputJsonValue },
          });
        }
        await tx.triggerEvent.create({
          data: {
            ...common,
            outcome: prior ? 'duplicate' : 'rescinded',
            reason: prior ? `offboarding ${dep.id} was already rescinded` : null,
            departureId: dep.id,
          },
        });
        // Last: the audit append holds the chain's lock until commit.
        if (!prior)
          await audit(tx, {
            actor: 'hris',
            action: 'rescission_received',
            departureId: dep.id,
            details: { webhookId: key },
          });
        return { dep, fresh: !prior };
      });
    } catch (e) {
      if (isUniqueViolation(e)) return redeliveryByKey(key, base, event);
      throw e;
    }
    if (!out.dep)
      return {
        status: 200,
        body: { action: 'ignored', reason: 'no offboarding of this employee to rescind' },
      };
    const dep = out.dep;
    if (out.fresh) {
      logger.info({ webhookId: key, departureId: dep.id }, 'termination rescinded');
      await deps.starter
        .deliverMessages(dep.id)
        .catch((e: unknown) =>
          logger.warn({ err: e, departureId: dep.id }, 'rescission stays queued for the dispatcher'),
        );
    }
    return {
      status: 202,
      body: {
        departureId: dep.id,
        workflowId: dep.workflowId,
        action: out.fresh ? 'rescinded' : 'duplicate',
      },
    };
  }

  async function redeliveryByKey(
    key: string,
    base: EventBase,
    event: HrisEvent,
    origin: Origin = HRIS,
  ): Promise<IntakeAnswer> {
    const prior = await db.triggerEvent.findUnique({ where: { idempotencyKey: key } });
    if (prior) return redelivery(prior, base, event, origin);
    // Same termination under a different webhook-id, inserted concurrently.
    const dep = await db.departure.findFirst({
      where: { employeeId: event.employee.id },
      orderBy: { createdAt: 'desc' },
    });
    await logEvent({
      ...base,
      signatureResult: origin.signatureResult,
      hrisStatus: event.status,
      employeeId: event.employee.id,
      outcome: 'duplicate',
      departureId: dep?.id ?? null,
      reason: 'concurrent duplicate',
    });
    if (!dep) throw new AppError('conflict', 'concurrent delivery; retry');
    return { status: 202, body: { departureId: dep.id, workflowId: dep.workflowId, action: 'duplicate' } };
  }

  async function redelivery(
    prior: {
      outcome: string;
      reason: string | null;
      departureId: string | null;
      employeeId: string | null;
      hrisStatus: string | null;
    },
    base: EventBase,
    event: HrisEvent,
    origin: Origin = HRIS,
  ): Promise<IntakeAnswer> {
    // The same key for another employee or another status is not a redelivery but a second event under a
    // used key: refused, so that it is not lost behind a "duplicate" (a rescission, another employee's
    // termination). Other differences (a regenerated occurredAt, a corrected name) stay redeliveries.
    const other =
      (prior.employeeId !== null && prior.employeeId !== event.employee.id) ||
      (prior.hrisStatus !== null && prior.hrisStatus !== event.status);
    if (other) {
      const what = origin.source === 'hris' ? `webhook-id ${base.webhookId ?? ''}` : 'this idempotency key';
      const message =
        `${what} was already used for another event (employee ${prior.employeeId ?? '?'}, status ` +
        `${prior.hrisStatus ?? '?'}); give each event its own ${origin.source === 'hris' ? 'webhook-id' : 'key'}`;
      await logEvent({
        ...base,
        signatureResult: origin.signatureResult,
        hrisStatus: event.status,
        employeeId: event.employee.id,
        outcome: 'rejected',
        reason: message,
      });
      throw new AppError('conflict', message);
    }
    await logEvent({
      ...base,
      signatureResult: origin.signatureResult,
      hrisStatus: event.status,
      employeeId: event.employee.id,
      outcome: prior.outcome === 'ignored' ? 'ignored' : 'duplicate',
      reason:
        origin.source === 'hris'
          ? `redelivery of webhook-id ${base.webhookId ?? ''}`
          : 'repeated operator submission (same idempotency key)',
      departureId: prior.departureId,
    });
    if (prior.outcome === 'ignored' || !prior.departureId) {
      return { status: 200, body: { action: 'ignored', reason: prior.reason ?? 'ignored' } };
    }
    const dep = await db.departure.findUniqueOrThrow({ where: { id: prior.departureId } });
    return { status: 202, body: { departureId: dep.id, workflowId: dep.workflowId, action: 'duplicate' } };
  }

  /** Logs a delivery whose body could not even be read (e.g. larger than the limit). */
  async function logUnreadable(req: {
    headers: Record<string, string | string[] | undefined>;
    bytes: number;
    reason: string;
    receivedAt: Date;
  }): Promise<void> {
    const id = req.headers['webhook-id'];
    await logEvent({
      receivedAt: req.receivedAt,
      webhookId: (Array.isArray(id) ? id[0] : id)?.slice(0, 200) ?? null,
      signatureResult: 'missing',
      outcome: 'rejected',
      reason: req.reason,
      bodySha256: '',
      bodyBytes: req.bytes,
    });
  }

  return { receive, submit, logUnreadable, triggerStatuses: deps.triggerStatuses };
}

export type Intake = ReturnType<typeof createIntake>;
