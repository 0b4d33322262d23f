# Sourced by the postgres image on its first start (an empty data volume) only: lets the
# `replica` profile's postgres-replica stream from this primary as POSTGRES_USER with its
# password. For a volume created before this file existed, append the same line to
# $PGDATA/pg_hba.conf by hand and run SELECT pg_reload_conf() (docs/OPERATIONS.md).
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
