#!/bin/sh
# Runs once, when the postgresql service starts on an empty volume (/docker-entrypoint-initdb.d):
# creates Temporal's two databases and the app's event store, each with its own role, and lets no
# other role connect to them. Changing a password later takes ALTER ROLE: this does not run again.
set -e
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD must be set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" -v app_password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal, temporal_visibility FROM PUBLIC;

CREATE ROLE loan_reminders LOGIN PASSWORD :'app_password';
CREATE DATABASE loan_reminders OWNER loan_reminders;
REVOKE ALL ON DATABASE loan_reminders FROM PUBLIC;
SQL
