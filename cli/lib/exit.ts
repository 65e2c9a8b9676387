/**
 * Exit codes of `offboard` (docs/cli.md and every command's `--help`). One meaning per code, the same
 * for every command, so scripts can tell "found something" from "could not ask".
 */
export const EXIT = {
  /** Done; nothing to report. */
  ok: 0,
  /** A finding: an active account (audit), an uncovered application (shadow-it), red steps or a failed workflow (status). */
  finding: 1,
  /** Incomplete: some CSV rows were invalid or failed to start; some systems could not be checked. */
  incomplete: 2,
  /** Refused: invalid input, not found, not allowed, or nothing to retry. */
  refused: 3,
  /** Usage: unknown command or option, missing argument, unreadable file. */
  usage: 64,
  /** Unavailable: the API or Temporal could not be reached (or answered 5xx). */
  unavailable: 69,
  /** A bug. */
  internal: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit codes as help text. */
export const EXIT_CODES_HELP = `Exit codes:
  0   done, nothing to report
  1   finding: an account still active (audit), applications the catalog does not cover (shadow-it),
      red steps or a failed workflow (status)
  2   incomplete: some CSV rows invalid or not started (start --csv), some systems not checked (audit)
  3   refused: invalid input, not found, not allowed, or nothing to retry
  64  usage: unknown command or option, missing argument, unreadable file
  69  unavailable: the API or Temporal could not be reached
  70  internal error (a bug: please report it with the message)`;

/** An error that ends the command with one line on stderr and a meaningful exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}
