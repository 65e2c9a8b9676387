/** HMAC helpers shared by the vendor adapters: constant-time comparison of encoded digests. */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC of `parts` (concatenated) with `key`. */
export function hmac(algorithm: 'sha256' | 'sha512', key: string, parts: (Buffer | string)[]): Buffer {
  const h = createHmac(algorithm, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Whether `given` (as received) equals `expected` encoded as `encoding`, in constant time. */
export function digestEquals(expected: Buffer, given: string, encoding: 'hex' | 'base64'): boolean {
  const text = given.trim();
  const valid = encoding === 'hex' ? /^[0-9a-fA-F]+$/.test(text) : /^[A-Za-z0-9+/]+={0,2}$/.test(text);
  if (!valid) return false;
  const got = Buffer.from(encoding === 'hex' ? text.toLowerCase() : text, encoding);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A delivery's identity: the same signed bytes give the same id (replays are refused by it). */
export function deliveryId(vendor: string, ...parts: string[]): string {
  return `${vendor}:${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 40)}`;
}

/** One header's value (the first of repeated ones). */
export function header(headers: Record<string, string | string[] | undefined>, name: string) {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
