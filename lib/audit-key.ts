/**
 * The keys of the audit exports (lib/audit-export.ts): `keyId:base64` of the 32-byte Ed25519 private key
 * (its seed) for the worker (AUDIT_EXPORT_SIGNING_KEY), `keyId:base64` of the 32-byte public key for
 * verifiers (`offboard verify-audit --public-key`, AUDIT_EXPORT_PUBLIC_KEYS); `offboard audit-key` mints
 * a pair. The key id is written into every export, so old exports still verify after a rotation. No
 * error message here repeats a key.
 */
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

/** The worker's signing key (AUDIT_EXPORT_SIGNING_KEY). Printing it shows no key material. */
export interface AuditSigningKey {
  keyId: string;
  privateKey: KeyObject;
  /** `keyId:base64` of the public key, as verifiers are given it. */
  publicKey: string;
}

/** A verifier's public key (`--public-key`, AUDIT_EXPORT_PUBLIC_KEYS). */
export interface AuditPublicKey {
  keyId: string;
  key: KeyObject;
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
export const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// DER headers of an Ed25519 private key (PKCS #8) and public key (SPKI) around their 32 raw bytes.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** `keyId` and the 32 bytes of `keyId:base64`, or what is wrong with it (never the value itself). */
function keyParts(text: string, what: string): { keyId: string; bytes: Buffer } | { error: string } {
  const t = text.trim();
  const colon = t.indexOf(':');
  const shape = `must be keyId:base64 of a 32-byte Ed25519 ${what} (\`offboard audit-key\` mints a pair)`;
  if (colon < 0) return { error: shape };
  const keyId = t.slice(0, colon);
  const b64 = t.slice(colon + 1);
  if (!KEY_ID.test(keyId))
    return { error: `${shape}: the key id before ":" must be 1-64 letters, digits, "_", "." or "-"` };
  if (!BASE64.test(b64)) return { error: `${shape}: the part after ":" is not base64` };
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length !== 32)
    return { error: `${shape}: the part after ":" holds ${bytes.length} bytes, not 32` };
  return { keyId, bytes };
}

const rawPublicKey = (k: KeyObject) =>
  k.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519.length);

/** Parses AUDIT_EXPORT_SIGNING_KEY. */
export function parseSigningKey(text: string): AuditSigningKey | { error: string } {
  const p = keyParts(text, 'private key');
  if ('error' in p) return p;
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, p.bytes]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = `${p.keyId}:${rawPublicKey(createPublicKey(privateKey)).toString('base64')}`;
  return { keyId: p.keyId, privateKey, publicKey };
}

/** The raw private key (seed) of a signing key, base64: to compare with generated ones. */
export function signingKeySeed(k: AuditSigningKey): string {
  return k.privateKey
    .export({ format: 'der', type: 'pkcs8' })
    .subarray(PKCS8_ED25519.length)
    .toString('base64');
}

/** Parses comma-separated `keyId:base64` public keys; every entry's problem is named. */
export function parsePublicKeys(text: string): { keys: AuditPublicKey[] } | { errors: string[] } {
  const keys: AuditPublicKey[] = [];
  const errors: string[] = [];
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) return { errors: ['no public key given (keyId:base64 of 32 bytes)'] };
  for (const [i, entry] of entries.entries()) {
    const p = keyParts(entry, 'public key');
    if ('error' in p) errors.push(`public key ${i + 1}: ${p.error}`);
    else if (keys.some((k) => k.keyId === p.keyId))
      errors.push(`public key ${i + 1}: key id "${p.keyId}" is given twice`);
    else
      keys.push({
        keyId: p.keyId,
        key: createPublicKey({ key: Buffer.concat([SPKI_ED25519, p.bytes]), format: 'der', type: 'spki' }),
      });
  }
  return errors.length ? { errors } : { keys };
}

/** A new key pair: the AUDIT_EXPORT_SIGNING_KEY value and the public key for verifiers. */
export function mintSigningKey(keyId: string): { signingKey: string; publicKey: string } {
  if (!KEY_ID.test(keyId)) throw new Error('a key id is 1-64 letters, digits, "_", "." or "-"');
  const signingKey = `${keyId}:${randomBytes(32).toString('base64')}`;
  const parsed = parseSigningKey(signingKey);
  if ('error' in parsed) throw new Error(parsed.error);
  return { signingKey, publicKey: parsed.publicKey };
}
