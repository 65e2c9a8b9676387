/** Signs an HRIS event the Standard Webhooks way (for the demo sender, the CLI and tests). */
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export interface SignedDelivery {
  headers: Record<string, string>;
  body: string;
}

/** Returns the body and the `webhook-id`/`webhook-timestamp`/`webhook-signature` headers. */
export function signDelivery(
  secret: string,
  payload: unknown,
  opts: { id?: string; timestamp?: Date; extraSecrets?: string[] } = {},
): SignedDelivery {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const id = opts.id ?? `msg_${randomUUID()}`;
  const ts = opts.timestamp ?? new Date();
  const sigs = [secret, ...(opts.extraSecrets ?? [])].map((s) => new Webhook(s).sign(id, ts, body));
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)),
      'webhook-signature': sigs.join(' '),
    },
  };
}
