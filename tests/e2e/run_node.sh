#!/usr/bin/env bash
# tests/e2e/run_node.sh - runs the Node peer tests (tests/e2e/node) against a
# real ementord.
#
# Needs EMENTOR_TEST_DB (a PostgreSQL conninfo: scripts/test starts a
# throwaway one and sets it) and build/bin/ementord. Installs the Node
# packages from package-lock.json (npm ci), starts ementord on a free port of
# 127.0.0.1 with a fresh self-signed certificate, a 3-second auth deadline and
# one allowed Origin, makes three manager invites, runs `node --test
# peer.test.mjs agreement.test.mjs matrix.test.mjs`, and stops the server on
# exit, whatever happened. The server log is printed when a
# test fails. With EMENTOR_NODE_TAP=FILE the results are also written there
# in TAP (scripts/test reads the counts from it).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"

db="${EMENTOR_TEST_DB:?EMENTOR_TEST_DB is not set: run scripts/test, or set it to a PostgreSQL conninfo}"
node_dir="$EM_ROOT/tests/e2e/node"
auth_timeout=3
allowed_origin="https://app.ementor.test"

work="$(em_tmpdir ementor-node)"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	em_server_stop
	if [[ -z "${EMENTOR_TEST_KEEP:-}" ]]; then
		rm -rf "$work"
	else
		em_log "kept $work"
	fi
}
trap cleanup EXIT

em_log "node: npm ci in tests/e2e/node"
(cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)

em_tls_cert "$work/tls"
log="$work/ementord.log"
em_server_start "$log" "$work/tls/cert.pem" "$work/tls/key.pem" "$db" \
	--auth-timeout "$auth_timeout" --allow-origin "$allowed_origin" ||
	em_die "could not start ementord (log above)"

invite="$("${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}/ementord" invite --role manager --db "$db")" ||
	em_die "ementord invite --role manager failed"
[[ -n "$invite" ]] || em_die "ementord invite printed no code"
# agreement.test.mjs runs beside peer.test.mjs (which uses up the first invite)
invite_agreement="$("${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}/ementord" invite --role manager --db "$db")" ||
	em_die "ementord invite --role manager failed"
[[ -n "$invite_agreement" ]] || em_die "ementord invite printed no code"
# matrix.test.mjs (the authorisation matrix of section 8) sets up its own programmes
invite_matrix="$("${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}/ementord" invite --role manager --db "$db")" ||
	em_die "ementord invite --role manager failed"
[[ -n "$invite_matrix" ]] || em_die "ementord invite printed no code"

export EMENTOR_URL="$EM_SERVER_URL"
export EMENTOR_CA="$work/tls/cert.pem"
export EMENTOR_TEST_AUTH_TIMEOUT="$auth_timeout"
export EMENTOR_TEST_ALLOWED_ORIGIN="$allowed_origin"
export EMENTOR_TEST_INVITE="$invite"
export EMENTOR_TEST_INVITE_AGREEMENT="$invite_agreement"
export EMENTOR_TEST_INVITE_MATRIX="$invite_matrix"

reporters=(--test-reporter=spec --test-reporter-destination=stdout)
if [[ -n "${EMENTOR_NODE_TAP:-}" ]]; then
	reporters+=(--test-reporter=tap --test-reporter-destination="$EMENTOR_NODE_TAP")
fi
rc=0
# The peer tests, the agreement tests (section 7) and the authorisation matrix
# (section 8): other *.test.mjs files here (interop.test.mjs, slow.test.mjs)
# need the set-up of their own driver script.
(cd "$node_dir" && node --test "${reporters[@]}" peer.test.mjs agreement.test.mjs matrix.test.mjs) || rc=$?
if ((rc != 0)); then
	em_warn "node tests failed; last lines of the ementord log:"
	tail -n 60 "$log" >&2 || true
fi
exit "$rc"
