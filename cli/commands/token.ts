/**
 * `offboard token --name <name> --role <role>`: mints an operator token (`offb_` and 32 random bytes,
 * base64url: 256 bits) and prints it once, with the OPERATOR_TOKENS entry that holds only its SHA-256.
 * With NODE_ENV=production only tokens of this form authenticate (config/production.ts).
 */
import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { hashToken } from '../../server/auth';
import { MINTED_TOKEN_PATTERN } from '../../config/production';
import { CliError, EXIT } from '../lib/exit';
import { println } from '../lib/output';

/** A new operator token of the minted form. */
export function mintToken(): string {
  const token = `offb_${randomBytes(32).toString('base64url')}`;
  if (!MINTED_TOKEN_PATTERN.test(token)) throw new Error('minted token does not have the minted form');
  return token;
}

export function tokenCommand(): Command {
  return new Command('token')
    .description(
      'Mint an operator token (offb_ + 32 random bytes) and print it with its OPERATOR_TOKENS entry ' +
        '(name:role:sha256). The token is shown once; only its hash goes into the configuration.',
    )
    .requiredOption('--name <name>', 'the operator or automation the token is for (letters, digits, _ . @ -)')
    .addOption(
      new Option('--role <role>', 'its role').choices(['hr', 'it', 'itdesk', 'admin']).makeOptionMandatory(),
    )
    .action((o: { name: string; role: string }) => {
      if (!/^[A-Za-z0-9_.@-]+$/.test(o.name))
        throw new CliError(EXIT.refused, `--name "${o.name}": use letters, digits, "_", ".", "@" or "-"`);
      const token = mintToken();
      println(`token           ${token}`);
      println(`OPERATOR_TOKENS ${o.name}:${o.role}:${hashToken(token)}`);
    });
}
