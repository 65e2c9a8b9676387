/**
 * One JSON call of a REST connector (GitHub, Okta, Slack): the request with the connector timeouts, the
 * body read as text and parsed when it is JSON, a network failure as `TargetUnavailableError`; plus the
 * header and `Link` paging helpers their clients share. What each status means stays with each client.
 */
import { request, type Dispatcher } from 'undici';
import { CALL_TIMEOUT_MS } from '../lib/http';
import { TargetUnavailableError } from './errors';

/** Response headers as undici gives them. */
export type Headers = Record<string, string | string[] | undefined>;

/** A header's (first) value, or null. */
export const header = (h: Headers, name: string): string | null => {
  const v = h[name];
  return (Array.isArray(v) ? v[0] : v) ?? null;
};

/** The `rel="next"` URL of a `Link` header, or null. */
export function nextLink(h: Headers): string | null {
  const raw = h['link'];
  for (const part of (Array.isArray(raw) ? raw : raw ? [raw] : []).flatMap((v) => v.split(','))) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (m) return m[1]!;
  }
  return null;
}

/** A call's answer: status, headers, the body as text and (when it parses) as JSON, else null. */
export interface JsonAnswer {
  status: number;
  headers: Headers;
  json: unknown;
  text: string;
}

/** Sends one request; `label` ("GitHub GET /orgs/x") prefixes the error when the target cannot be reached. */
export async function callJson(
  url: string,
  o: {
    method: Dispatcher.HttpMethod;
    dispatcher: Dispatcher;
    headers: Record<string, string>;
    body?: string;
  },
  label: string,
): Promise<JsonAnswer> {
  let res: Dispatcher.ResponseData;
  let text: string;
  try {
    res = await request(url, {
      method: o.method,
      dispatcher: o.dispatcher,
      headers: o.headers,
      ...(o.body !== undefined ? { body: o.body } : {}),
      headersTimeout: CALL_TIMEOUT_MS,
      bodyTimeout: CALL_TIMEOUT_MS,
    });
    text = await res.body.text();
  } catch (e) {
    throw new TargetUnavailableError(`${label}: ${(e as Error).message}`);
  }
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}
