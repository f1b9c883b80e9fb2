#!/bin/sh
# Creates one database and one login role per service (and one for the gateway's own small
# table), each role owning only its database
# (ARCHITECTURE principle 1: no service reads another's tables).
#
# Run once by the official postgres image from /docker-entrypoint-initdb.d/ on an empty data
# directory. Passwords come from the container's environment (<SERVICE>_DB_PASSWORD), set by
# docker-compose.yml from the developer's environment or its dev-only defaults.
# It can also be run by hand against a server (for example a managed one) with psql
# connection variables set: PGHOST, PGUSER, PGPASSWORD ... and the five passwords.
set -eu

for service in identity booking billing requests notify gateway; do
    var="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    password="$(printenv "$var" || true)"
    if [ -z "$password" ]; then
        echo "init-databases: $var is not set" >&2
        exit 1
    fi
    # psql variables (:"name" / :'value') quote identifiers and literals safely.
    psql --quiet -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
         -v svc="$service" -v pw="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'svc', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'svc') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'svc', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'svc', :'svc')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'svc') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'svc') \gexec
SQL
    # PostgreSQL 15+: only the owner may create in schema public; make that explicit.
    psql --quiet -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$service" \
         -v svc="$service" <<'SQL'
SELECT format('ALTER SCHEMA public OWNER TO %I', :'svc') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
    echo "init-databases: database and role '$service' ready"
done
