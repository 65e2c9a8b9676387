-- The shared pace of rate-limited systems (activities/pace.ts): one row per system, the instant its next
-- call may start. timestamptz: the pacer computes with the database's clock, in absolute time.

-- CreateTable
CREATE TABLE "SystemPace" (
    "systemId" TEXT NOT NULL,
    "nextAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SystemPace_pkey" PRIMARY KEY ("systemId")
);
