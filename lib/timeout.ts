/** Time limits on promises, shared by the activities, the CLI and the process entry points. */
import { setTimeout as delay } from 'node:timers/promises';

/** `p`, or a rejection with `timeoutError()` once `ms` have passed (the timer is cleared either way). */
export function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  timeoutError: () => Error = () => new Error(`no answer within ${ms} ms`),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** True when `p` settles (either way) within `ms`; the wait never keeps the process alive. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    delay(ms, false, { ref: false }),
  ]);
}
