/**
 * The payload codec: every payload Offboard's clients and workers send to Temporal (workflow and
 * activity inputs and results, signals, queries, memos, and, with the failure converter in
 * `failure-converter.ts`, failure messages and stack traces) is encrypted with AES-256-GCM before it
 * leaves the process, so Temporal's database and anyone reading histories without the key see no
 * personal data. Search attributes never pass through a codec: they hold no names or email addresses.
 *
 * Wire format (the same as Temporal's encryption samples): metadata `encoding: binary/encrypted` and
 * `encryption-key-id: <id>`; data = 12-byte random IV | ciphertext | 16-byte GCM tag, where the plaintext
 * is the original payload serialized as a `temporal.api.common.v1.Payload` protobuf.
 *
 * Keys come from `PAYLOAD_CODEC_KEYS` (`keyId:base64(32 bytes)`, comma-separated). The first key
 * encrypts; every key decrypts, so a key is rotated by putting a new one first and keeping the old ones
 * until no history that needs them is retained.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  METADATA_ENCODING_KEY,
  type DataConverter,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** One AES-256 key with its id (the id travels in the payload's metadata). */
export interface CodecKey {
  id: string;
  key: Buffer;
}

/** A payload the codec could not decrypt; the message names the key id. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
  constructor(
    message: string,
    readonly keyId: string | null,
  ) {
    super(message);
  }
}

/** Key ids are printable and short: they are stored in every encrypted payload. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Parses `keyId:base64(32 bytes),...`. Returns the keys, or the problems found (never echoing key
 * material). Used by the config schema.
 */
export function parseCodecKeys(spec: string): { keys: CodecKey[] } | { errors: string[] } {
  const errors: string[] = [];
  const keys: CodecKey[] = [];
  const parts = spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) errors.push('needs at least one keyId:base64key entry');
  parts.forEach((part, i) => {
    const sep = part.indexOf(':');
    const id = sep > 0 ? part.slice(0, sep) : '';
    const b64 = sep > 0 ? part.slice(sep + 1) : '';
    if (!KEY_ID_PATTERN.test(id)) {
      errors.push(`entry ${i + 1} must be keyId:base64key with a keyId of letters, digits, "_", "." or "-"`);
      return;
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, 'base64').length !== 32) {
      errors.push(`entry ${i + 1} (key id "${id}"): the key must be 32 bytes, base64-encoded`);
      return;
    }
    if (keys.some((k) => k.id === id)) {
      errors.push(`entry ${i + 1}: key id "${id}" appears twice`);
      return;
    }
    keys.push({ id, key: Buffer.from(b64, 'base64') });
  });
  return errors.length > 0 ? { errors } : { keys };
}

/** A new random key entry for PAYLOAD_CODEC_KEYS (`<id>:<base64 of 32 random bytes>`). */
export function generateCodecKey(id: string): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}

function text(b: Uint8Array | null | undefined): string | undefined {
  return b ? Buffer.from(b).toString('utf8') : undefined;
}

export interface CodecOptions {
  /**
   * Refuse to decode a payload that is not encrypted (NODE_ENV=production: workers and clients): a
   * signal, update or input someone sent to Temporal without the key (the Web UI, the `temporal` CLI, a
   * forged client) fails to decode instead of reaching the workflow. Off, such payloads pass through
   * (development, and histories from before the codec).
   */
  refuseUnencrypted?: boolean;
}

/** AES-256-GCM payload codec; the first key encrypts, every key decrypts. */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly current: CodecKey;
  private readonly refuseUnencrypted: boolean;

  constructor(keys: readonly CodecKey[], opts: CodecOptions = {}) {
    this.refuseUnencrypted = opts.refuseUnencrypted ?? false;
    if (keys.length === 0) throw new Error('AesGcmPayloadCodec needs at least one key');
    for (const k of keys)
      if (k.key.length !== 32) throw new Error(`codec key "${k.id}" must be 32 bytes (AES-256)`);
    this.current = keys[0]!;
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The id of the key new payloads are encrypted with. */
  get encryptingKeyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  private encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const body = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(this.current.id),
      },
      data: body,
    };
  }

  private decrypt(payload: Payload): Payload {
    // Payloads written without the codec (or before it was introduced) pass through unchanged, unless
    // unencrypted payloads are refused (production).
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) {
      if (this.refuseUnencrypted)
        throw new PayloadDecryptionError(
          'payload is not encrypted: refused (with NODE_ENV=production only payloads encrypted with PAYLOAD_CODEC_KEYS are accepted)',
          null,
        );
      return payload;
    }
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId)
      throw new PayloadDecryptionError('encrypted payload has no "encryption-key-id" metadata', null);
    const key = this.keys.get(keyId);
    if (!key)
      throw new PayloadDecryptionError(
        `payload is encrypted with key id "${keyId}", which is not configured (PAYLOAD_CODEC_KEYS has ${[
          ...this.keys.keys(),
        ]
          .map((k) => `"${k}"`)
          .join(', ')})`,
        keyId,
      );
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES)
      throw new PayloadDecryptionError(`encrypted payload (key id "${keyId}") is truncated`, keyId);
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new PayloadDecryptionError(
        `payload could not be decrypted with key id "${keyId}": authentication failed (altered data or a different key under the same id)`,
        keyId,
      );
    }
    const decoded = temporal.api.common.v1.Payload.decode(plain);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}

/** Where the failure converter lives: loaded by workers, clients and the workflow bundler by path. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The one data converter of every Temporal client and worker: the failure converter that moves failure
 * messages and stack traces into an encoded payload, and the AES-GCM codec when keys are configured.
 * Workflow bundles built ahead of time must be built with `failureConverterPath: FAILURE_CONVERTER_PATH`.
 */
export function createDataConverter(
  keys: readonly CodecKey[] | undefined,
  opts: CodecOptions = {},
): DataConverter {
  return {
    failureConverterPath: FAILURE_CONVERTER_PATH,
    ...(keys && keys.length > 0 ? { payloadCodecs: [new AesGcmPayloadCodec(keys, opts)] } : {}),
  };
}
