/**
 * The Prisma client, Rust-free, over the `pg` driver adapter (works with PostgreSQL and PGlite's socket).
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from '@prisma/client';

export type Db = PrismaClient;
export { Prisma };

/** Opens a Prisma client for `connectionString`. The caller owns `$disconnect()`. */
export function createDb(connectionString: string, opts: { max?: number } = {}): Db {
  const adapter = new PrismaPg({ connectionString, max: opts.max ?? 10, connectionTimeoutMillis: 5_000 });
  return new PrismaClient({ adapter });
}

/** True when `e` is a unique-constraint violation (Prisma P2002). */
export function isUniqueViolation(e: unknown): boolean {
  return e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002';
}

/** Appends one row to the append-only audit trail. */
export async function audit(
  db: Pick<Db, 'auditEvent'>,
  entry: { actor: string; action: string; departureId?: string | null; details?: Prisma.InputJsonValue },
): Promise<void> {
  await db.auditEvent.create({
    data: {
      actor: entry.actor,
      action: entry.action,
      departureId: entry.departureId ?? null,
      details: entry.details ?? Prisma.JsonNull,
    },
  });
}
