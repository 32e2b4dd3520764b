#!/usr/bin/env bash
# tests/e2e/reload.sh - SIGHUP with real processes: a new certificate and a
# changed configuration file are taken up without dropping an open `ementor
# chat`; new TLS connections get the new certificate (curl trusts only the
# new one now); a configuration with an error changes nothing and the server
# keeps serving; an option that needs a restart is reported as such.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

DB="$(e2e_fresh_db)"
export EMENTOR_PASSWORD="correct horse battery"
em_tls_cert "$T/tls" # a certificate of our own: this test replaces it
CERT="$T/tls/cert.pem" KEY="$T/tls/key.pem"
cp "$CERT" "$T/old-cert.pem"
export EMENTOR_CA="$T/ca.pem"
cat "$CERT" >"$EMENTOR_CA"
CONF="$T/ementord.conf"
printf 'log-level = info\nmetrics = local\n' >"$CONF"

em_server_start "$LOG" "$CERT" "$KEY" "$DB" --config "$CONF" || {
	not_ok "server starts"
	e2e_summary
}
export EMENTOR_SERVER="$EM_SERVER_URL"
health() { curl -sS --cacert "$1" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$EM_SERVER_PORT/healthz" 2>/dev/null || true; }

pair_room Reload
expect_ok "a first message" as sam send 1 "before the reload"

# an open chat across the reload, its stdin open until chat.stop
open_until "$T/chat.stop" 60 | as lea chat 1 --linger 1 >"$T/chat.out" 2>"$T/chat.err" &
chat_pid=$!
wait_for_lines "$T/chat.err" 'Chat in room' 1 30 || true

# a new certificate under the same paths, and a changed configuration
rm -f "$CERT" "$KEY"
em_tls_cert "$T/tls" >/dev/null 2>&1
expect_match "the certificate on disk really changed" '^differ$' \
	"$(cmp -s "$CERT" "$T/old-cert.pem" && echo same || echo differ)"
printf 'log-level = debug\nmetrics = off\n' >"$CONF"
kill -HUP "$EM_SERVER_PID"
wait_until 10 grep -qE 'reloaded .*log_level=debug' "$LOG" || true
expect_match "the server logs the reload" 'reloaded .*metrics=off log_level=debug restart_needed=0' "$(cat "$LOG")"
expect_match "and the new certificate" 'reload certificate=' "$(cat "$LOG")"
expect_match "new connections get the new certificate" '^200$' "$(health "$CERT")"
expect_match "which the old one no longer verifies" '^000$' "$(health "$T/old-cert.pem")"
expect_match "the changed option took effect (/metrics off)" '^404$' \
	"$(curl -sS --cacert "$CERT" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$EM_SERVER_PORT/metrics" || true)"

cat "$CERT" >"$EMENTOR_CA" # the CLI's new connections trust the new certificate
expect_ok "a message sent after the reload" as sam send 1 "after the reload"
wait_for_lines "$T/chat.out" 'sam: after the reload' 1 30 || true
touch "$T/chat.stop"
rc=0
wait "$chat_pid" || rc=$?
expect_match "the chat opened before the reload ends normally" '^0$' "$rc"
expect_match "and received the message sent after it, on its old connection" \
	'sam: after the reload' "$(cat "$T/chat.out")"

# a broken configuration changes nothing
printf 'log-level = info\nno-such-option = 1\n' >"$CONF"
kill -HUP "$EM_SERVER_PID"
wait_until 10 grep -q 'reload refused' "$LOG" || true
expect_match "a configuration with an error is refused" 'reload refused' "$(cat "$LOG")"
expect_match "the server still serves" '^200$' "$(health "$CERT")"
expect_match "and still runs" '^yes$' "$(kill -0 "$EM_SERVER_PID" 2>/dev/null && echo yes || echo no)"

# an option that only a restart can change
printf 'log-level = info\ndb-workers = 3\n' >"$CONF"
kill -HUP "$EM_SERVER_PID"
wait_until 10 grep -q 'db_workers changed' "$LOG" || true
expect_match "a restart-only option is reported as such" 'db_workers changed; it takes effect at the next restart' "$(cat "$LOG")"
expect_match "the server serves on" '^200$' "$(health "$CERT")"
e2e_summary
