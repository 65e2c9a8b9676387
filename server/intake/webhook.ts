/**
 * Reading one HRIS delivery: the Standard Webhooks signature (constant-time comparison, 5-minute
 * tolerance, key rotation via several v1 entries), the webhook-id, the content type and the body. Every
 * refusal is recorded before it is thrown: a signed one as a trigger event, an unsigned one (anyone can
 * send it) counted per hour with the first few kept as samples (server/intake/rejected.ts).
 */
import { createHash } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { AppError } from '../../lib/errors';
import { fieldErrors, hrisEventSchema, type HrisEvent } from '../hris';
import { recordRejected, signatureReason } from './rejected';
import { logEvent, MAX_WEBHOOK_ID, type EventBase, type IntakeContext } from './types';

/** A signed HTTP delivery as the route hands it over. */
export interface Delivery {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  contentType: string | undefined;
  receivedAt: Date;
}

/** A delivery that passed every check: its event, its idempotency key (the webhook-id) and log base. */
export interface VerifiedDelivery {
  event: HrisEvent;
  key: string;
  base: EventBase;
}

type SignatureResult = 'valid' | 'invalid' | 'stale' | 'missing';

function classify(e: WebhookVerificationError): SignatureResult {
  if (/missing/i.test(e.message)) return 'missing';
  if (/too old|too new/i.test(e.message)) return 'stale';
  return 'invalid';
}

/** The message a refused signature gets, naming what to fix. */
function signatureMessage(result: SignatureResult, timestamp: string | undefined): string {
  if (result === 'stale') return 'webhook-timestamp is outside the 5-minute tolerance';
  if (result === 'missing') return 'webhook-id, webhook-timestamp and webhook-signature headers are required';
  if (timestamp !== undefined && !/^\s*\d+\s*$/.test(timestamp))
    return 'webhook-timestamp must be a Unix time in seconds';
  return 'webhook-signature does not match';
}

/** Verifies a delivery. Throws AppError (401/400/415) for what must be refused; logs it first. */
export async function verifyDelivery(
  ctx: IntakeContext,
  webhook: Webhook,
  req: Delivery,
): Promise<VerifiedDelivery> {
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
  /** Logs a signed delivery refused as invalid, then throws `error`. */
  const refuse = async (reason: string, error: AppError): Promise<never> => {
    await logEvent(ctx, { ...base, signatureResult: 'valid', outcome: 'invalid', reason });
    throw error;
  };

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
      // Anyone can send these: counted, the first of the hour kept as samples (server/intake/rejected.ts).
      await recordRejected(ctx.db, ctx.rejectedSamples, {
        source: 'hris',
        reason: signatureReason(result),
        receivedAt: req.receivedAt,
        sample: { ...base, signatureResult: result, reason: e.message },
      });
      ctx.logger.warn({ webhookId, signature: result }, 'HRIS event refused: bad signature');
      throw new AppError('signature_invalid', signatureMessage(result, h('webhook-timestamp')));
    }
    // Signed but not JSON.
    return refuse(
      'body is not valid JSON',
      new AppError('bad_request', 'body is not valid JSON', {
        fields: [{ field: '(body)', message: 'not valid JSON' }],
      }),
    );
  }

  // The webhook-id is the idempotency key and is stored whole: a longer one would have to be cut, and
  // two ids sharing their first characters would then pass for a redelivery of one another.
  if (rawId!.length > MAX_WEBHOOK_ID) {
    const message = `must be at most ${MAX_WEBHOOK_ID} characters`;
    return refuse(
      `webhook-id: ${message}`,
      new AppError('validation_failed', 'the webhook-id header is invalid', {
        fields: [{ field: 'webhook-id', message }],
      }),
    );
  }

  if (!req.contentType || !/^application\/([a-z.+-]*\+)?json\b/i.test(req.contentType)) {
    return refuse(
      'unsupported content type',
      new AppError('unsupported_media_type', 'content-type must be application/json'),
    );
  }

  const r = hrisEventSchema.safeParse(parsed);
  const fields = r.success ? ctx.policy.check(r.data.employee.accounts) : fieldErrors(r.error);
  if (!r.success || fields.length > 0) {
    return refuse(
      fields
        .map((f) => `${f.field}: ${f.message}`)
        .join('; ')
        .slice(0, 1000),
      new AppError('validation_failed', 'the event body is invalid', { fields }),
    );
  }
  return { event: r.data, key: webhookId!, base }; // verify() refused deliveries without an id.
}
