#!/usr/bin/env bash
# tests/e2e/metrics.sh - GET /metrics of a real ementord after real traffic
# from the CLI, checked with Prometheus' own `promtool check metrics` (Debian
# package prometheus): the exposition is valid, the counters moved by exactly
# what was done (one message persisted, one resend recognised, refusals by
# error code, logins), the histograms have observations, nothing names a user,
# and --metrics off hides the endpoint.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

if ! command -v promtool >/dev/null; then
	not_ok "promtool is installed (scripts/deps installs the Debian package prometheus)"
	e2e_summary
fi

e2e_serve
scrape() { curl -sS --cacert "$CERT" -o "$T/metrics.txt" -w '%{http_code}' "https://127.0.0.1:$EM_SERVER_PORT/metrics"; }
value() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics.txt"; }

expect_match "a fresh server answers /metrics" '^200$' "$(scrape)"
expect_ok "promtool accepts the fresh exposition" promtool check metrics <"$T/metrics.txt"
expect_match "nothing persisted yet" '^0$' "$(value ementord_messages_persisted_total)"

# --- real traffic -----------------------------------------------------------------
code="$(first_invite)"
expect_ok "manager registers" as maria register --invite "$code" --username maria
expect_ok "manager creates a programme" \
	as maria programme create --name "Metrics" --starts 2027-03-01 --ends 2027-08-31
prog="$(as maria --json programme list | jq -er '.programmes[0].id')"
expect_ok "mentor registers" as sam register --invite "$(invite "$prog" mentor)" --username sam
expect_ok "mentee registers" as mia register --invite "$(invite "$prog" mentee)" --username mia
pair="$(as maria --json room create --programme "$prog" --kind pair --member sam --member mia | jq -er .room.id)"
sign_room "$pair" maria sam mia
expect_ok "the mentor sends one message" as sam send "$pair" "hello"
expect_fail "a room that does not exist is refused" 1 not_found as mia room show 999999
expect_fail "another one" 1 not_found as sam room show 999998

expect_match "after the traffic /metrics answers" '^200$' "$(scrape)"
expect_ok "promtool accepts it" promtool check metrics <"$T/metrics.txt"
expect_match "exactly one message persisted" '^1$' "$(value ementord_messages_persisted_total)"
expect_match "two not_found refusals counted" '^2$' "$(value 'ementord_errors_total{code="not_found"}')"
expect_match "every error code is listed, also at 0" '^0$' "$(value 'ementord_errors_total{code="room_full"}')"
expect_match "logins were counted" '^[1-9][0-9]*$' "$(value ementord_logins_total)"
expect_match "connections were opened and closed" '^[1-9][0-9]* [1-9][0-9]*$' \
	"$(value ementord_connections_opened_total) $(value ementord_connections_closed_total)"
expect_match "frames in and out were counted" '^[1-9][0-9]* [1-9][0-9]*$' \
	"$(value ementord_frames_received_total) $(value ementord_frames_sent_total)"
expect_match "database jobs were timed" '^[1-9][0-9]*$' \
	"$(value 'ementord_db_job_seconds_count{path="worker"}')"
expect_match "the send went through one group commit" '^[1-9][0-9]*$' \
	"$(value ementord_batch_messages_count)"
expect_match "the +Inf bucket equals the count" \
	"^$(value ementord_batch_messages_count)\$" "$(value 'ementord_batch_messages_bucket{le="+Inf"}')"
expect_match "no connection is open after the CLI exits" '^0$' "$(value ementord_connections)"
for name in maria sam mia "Metrics"; do
	expect_absent "the metrics name no user or programme ($name)" "$name" "$T/metrics.txt"
done

# --- the endpoint can be turned off --------------------------------------------------
em_server_stop
em_server_start "$LOG" "$CERT" "$KEY" "$DB" --metrics off || {
	not_ok "server restarts with --metrics off"
	e2e_summary
}
expect_match "--metrics off: /metrics is not found" '^404$' "$(scrape)"
e2e_summary
