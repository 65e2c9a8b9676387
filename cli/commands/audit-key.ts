/**
 * `offboard audit-key`: mints the Ed25519 key pair of the audit exports (lib/audit-key.ts) and prints
 * the worker's AUDIT_EXPORT_SIGNING_KEY once with the public key verifiers are given; or, with
 * `--public`, prints the public key of the AUDIT_EXPORT_SIGNING_KEY already configured. Talks to nothing.
 */
import { Command } from 'commander';
import { mintSigningKey, parseSigningKey } from '../../lib/audit-key';
import { CliError, EXIT } from '../lib/exit';
import { println } from '../lib/output';

export function auditKeyCommand(): Command {
  return new Command('audit-key')
    .description(
      'Mint the key pair that signs the exports of the audit chain head (docs/operations.md, "Audit ' +
        'evidence outside the database"): AUDIT_EXPORT_SIGNING_KEY for the worker (shown once; keep it ' +
        'secret) and the public key for `offboard verify-audit --public-key`. With --public, print the ' +
        'public key of the AUDIT_EXPORT_SIGNING_KEY in the environment instead.',
    )
    .option('--key-id <id>', 'the id written into every export it signs (letters, digits, _ . -)', 'audit-1')
    .option('--public', 'print the public key of the configured AUDIT_EXPORT_SIGNING_KEY (env)')
    .action((o: { keyId: string; public?: boolean }) => {
      if (o.public) {
        const configured = process.env.AUDIT_EXPORT_SIGNING_KEY;
        if (!configured) throw new CliError(EXIT.usage, '--public: AUDIT_EXPORT_SIGNING_KEY is not set');
        const key = parseSigningKey(configured);
        if ('error' in key) throw new CliError(EXIT.usage, `AUDIT_EXPORT_SIGNING_KEY: ${key.error}`);
        println(`AUDIT_EXPORT_PUBLIC_KEYS ${key.publicKey}`);
        return;
      }
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(o.keyId))
        throw new CliError(EXIT.usage, `--key-id "${o.keyId}": use 1-64 letters, digits, "_", "." or "-"`);
      const pair = mintSigningKey(o.keyId);
      println(`AUDIT_EXPORT_SIGNING_KEY ${pair.signingKey}`);
      println(`AUDIT_EXPORT_PUBLIC_KEYS ${pair.publicKey}`);
    });
}
