#!/bin/sh
# One-shot (temporal-schema service, temporalio/admin-tools): brings Temporal's two databases to
# the schema of this admin-tools version. Safe to run again, and run again on every `up`, so a newer
# TEMPORAL_VERSION / TEMPORAL_ADMIN_TOOLS_VERSION pair upgrades the schema before the server starts.
# The databases and their role come from deploy/postgres/init-databases.sh.
set -eu
: "${POSTGRES_SEEDS:?}" "${DB_PORT:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql_tool() {
  # temporal-sql-tool reads the password from SQL_PASSWORD.
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

tries=0
until sql_tool --db temporal setup-schema -v 0.0; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not accept the temporal role" >&2
    exit 1
  fi
  sleep 2
done
sql_tool --db temporal update-schema -d "$SCHEMA_DIR/temporal/versioned"

sql_tool --db temporal_visibility setup-schema -v 0.0
sql_tool --db temporal_visibility update-schema -d "$SCHEMA_DIR/visibility/versioned"
echo "Temporal schema is up to date"
