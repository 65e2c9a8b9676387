/**
 * Suites that need a server this machine may lack (Samba, Keycloak, moto): skipped with the reason
 * printed on a developer's machine, always run under CI, where a missing server fails the suite.
 */

/** True under CI (`CI` set and not `false`). */
export const inCi = (): boolean => !!process.env.CI && process.env.CI !== 'false';

/**
 * `describe`, or `describe.skip` with `reason` printed under `tag`, when `reason()` says the server
 * cannot run here. `reason` is not asked under CI.
 */
export function describeIfAvailable(
  tag: string,
  reason: () => string | null,
): (name: string, fn: () => void) => void {
  return (name, fn) => {
    const why = inCi() ? null : reason();
    if (!why) return describe(name, fn);
    console.warn(`[${tag}] ${why}`);
    describe.skip(`${name} (${why})`, fn);
  };
}
