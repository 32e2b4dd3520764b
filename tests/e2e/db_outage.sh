#!/usr/bin/env bash
# tests/e2e/db_outage.sh - PostgreSQL goes away under a running ementord: the
# server keeps running, /healthz says so, requests get the retryable
# db_unavailable error, and everything works again once the database is back,
# without restarting the server. Uses a private PostgreSQL it can stop.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_cert
PGBASE="$T/pg"
pgport="$(em_free_port)"
DB="$(em_pg_start "$PGBASE" "$pgport" 2>/dev/null)"
trap 'em_pg_stop "$PGBASE" 2>/dev/null; e2e_cleanup' EXIT
export EMENTOR_PASSWORD="correct horse battery"

em_server_start "$LOG" "$CERT" "$KEY" "$DB" || {
	not_ok "server starts"
	e2e_summary
}
export EMENTOR_SERVER="$EM_SERVER_URL"
code="$(first_invite)"
expect_ok "manager registers" as maria register --invite "$code" --username maria

em_pg_stop "$PGBASE" 2>/dev/null
health=""
for _ in $(seq 1 40); do
	health="$(curl -sS --cacert "$CERT" -w ' %{http_code}' "https://127.0.0.1:$EM_SERVER_PORT/healthz" | tr -d '\n' || true)"
	grep -q '503' <<<"$health" && break
	sleep 0.5
done
expect_match "healthz reports the database down with 503" '"database":"down".* 503$' "$health"
expect_fail "a request gets a clear retryable error" 1 "database|unavailable" as maria programme list
expect_match "the server process is still alive" "alive" "$(kill -0 "$EM_SERVER_PID" && echo alive)"

DB="$(em_pg_start "$PGBASE" "$pgport" 2>/dev/null)"
health=""
for _ in $(seq 1 40); do
	health="$(curl -sS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz" || true)"
	[[ "$(jq -r .database <<<"$health" 2>/dev/null)" == up ]] && break
	sleep 0.5
done
expect_match "healthz recovers by itself" '"status":"ok","database":"up"' "$health"
if wait_until 5 as maria programme list >/dev/null 2>&1; then
	ok "requests work again without a server restart"
else
	not_ok "requests work again without a server restart"
fi

e2e_summary
