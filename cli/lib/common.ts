/** Options shared by the commands. */
import { InvalidArgumentError, type Command } from 'commander';

/** `--url` and `--token` (the operator API). */
export function apiOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'API base URL (env OFFBOARD_URL, default http://127.0.0.1:3000)')
    .option('--token <token>', 'operator bearer token (env OFFBOARD_TOKEN)');
}

export function jsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print JSON for scripts instead of a table');
}

/** A commander argument parser for an integer within bounds. */
export function intIn(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A duration such as 500ms, 10s or 2m, in milliseconds. */
export function durationArg(value: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be a duration such as 500ms, 10s or 2m');
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms'];
}
