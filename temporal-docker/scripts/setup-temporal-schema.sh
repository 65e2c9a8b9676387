#!/bin/sh
# Creates and migrates Temporal's two databases with temporal-sql-tool (replaces the deprecated
# auto-setup image). Idempotent: "create" fails harmlessly when the database exists.
set -eu
EP=postgresql
U="${POSTGRES_USER:-temporal}"
SCHEMA=/etc/temporal/schema/postgresql/v12
until nc -z -w 5 "$EP" 5432; do echo "waiting for PostgreSQL"; sleep 1; done
for DB in temporal temporal_visibility; do
  temporal-sql-tool --plugin postgres12 --ep "$EP" -u "$U" -p 5432 --db "$DB" create || true
done
temporal-sql-tool --plugin postgres12 --ep "$EP" -u "$U" -p 5432 --db temporal setup-schema -v 0.0 || true
temporal-sql-tool --plugin postgres12 --ep "$EP" -u "$U" -p 5432 --db temporal update-schema -d "$SCHEMA/temporal/versioned"
temporal-sql-tool --plugin postgres12 --ep "$EP" -u "$U" -p 5432 --db temporal_visibility setup-schema -v 0.0 || true
temporal-sql-tool --plugin postgres12 --ep "$EP" -u "$U" -p 5432 --db temporal_visibility update-schema -d "$SCHEMA/visibility/versioned"
echo "Temporal schema ready"
