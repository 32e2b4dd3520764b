# shellcheck shell=bash
# tests/e2e/lib.sh - helpers for the end-to-end scripts: a fresh database per
# script, a real ementord on a free port, the real CLI with a home per user,
# and pass/fail bookkeeping that ends with "N passed, N failed".
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

BIN="${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}"
NODE_DIR="$EM_ROOT/tests/e2e/node" # the Node peers (e2e_node)
passed=0
failed=0
FAILED_NAMES=()

if [[ -z "${EMENTOR_TEST_DB:-}" ]]; then
	echo "EMENTOR_TEST_DB is not set: skipping (scripts/test sets it)" >&2
	exit 77
fi

# Time bounds that fault tests assert are multiplied by this (scripts/test-asan-e2e
# sets 4: instrumented binaries are slower).
E2E_TIME_FACTOR="${EMENTOR_TEST_TIME_FACTOR:-1}"

T="$(em_tmpdir ementor-e2e)"
LOG="$T/ementord.log"
trap 'e2e_cleanup' EXIT

e2e_cleanup() {
	em_server_stop
	# every database e2e_fresh_db made for this script (it runs in $(...), so
	# it cannot leave its name in a variable here: the names carry $$)
	local db
	for db in $(psql --no-psqlrc -qtA "${EMENTOR_TEST_DB:-}" \
		-c "SELECT datname FROM pg_database WHERE datname LIKE 'e2e\\_$$\\_%'" 2>/dev/null); do
		psql --no-psqlrc -q "$EMENTOR_TEST_DB" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
			>/dev/null 2>&1 || true
	done
	[[ -n "${EMENTOR_TEST_KEEP:-}" ]] || rm -rf "$T"
}

# A database of our own on the test cluster (e2e_<pid of this script>_N,
# dropped by e2e_cleanup); prints its conninfo.
e2e_fresh_db() {
	local name="e2e_$$_$RANDOM"
	psql --no-psqlrc -q "$EMENTOR_TEST_DB" -c "CREATE DATABASE $name" >/dev/null
	printf '%s dbname=%s\n' "$EMENTOR_TEST_DB" "$name"
}

# e2e_pg_child BASE PORT: starts the private cluster in BASE (made by
# em_pg_start, then stopped) with its postmaster a child of this shell rather
# than of pg_ctl, so that after a kill -9 the test reaps it at once: an init
# that reaps orphans late leaves a zombie postmaster behind, whose pid in
# postmaster.pid makes a new postmaster refuse to start. Waits until it
# accepts connections; sets E2E_PG_PID. Stop it with em_pg_stop.
e2e_pg_child() {
	local base="$1" port="$2" bindir i
	bindir="$(em_pg_bindir)"
	em_pg_as_owner "$bindir/postgres" -D "$base/data" >>"$base/postgres.log" 2>&1 &
	E2E_PG_PID=$!
	for ((i = 0; i < 600; i++)); do
		"$bindir/pg_isready" --host="$base" --port="$port" --quiet && return 0
		kill -0 "$E2E_PG_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$base/postgres.log" >&2
	return 1
}

# e2e_pg_kill9 BASE: kill -9 of the postmaster started by e2e_pg_child, then
# waits (at most 30 s) until every process it had has exited: the backends
# notice that their postmaster is gone and quit by themselves.
e2e_pg_kill9() {
	local pm pid st i
	local -a kids
	pm="$(head -n1 "$1/data/postmaster.pid")"
	mapfile -t kids < <(pgrep -P "$pm" || true)
	kill -9 "$pm"
	wait "$E2E_PG_PID" 2>/dev/null || true
	for pid in "${kids[@]}"; do
		for ((i = 0; i < 300; i++)); do
			st="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
			[[ -z "$st" || "$st" == Z* ]] && break
			sleep 0.1
		done
	done
}

# e2e_bound SECONDS: SECONDS times E2E_TIME_FACTOR.
e2e_bound() {
	echo $(($1 * E2E_TIME_FACTOR))
}

# curl in every e2e script gives up after 30 s (times E2E_TIME_FACTOR): a
# server that stops answering fails the check instead of hanging the suite.
curl() {
	command curl --max-time "$(e2e_bound 30)" "$@"
}

# e2e_cert: sets CERT and KEY (for the scripts that start servers) to the
# suite's certificate, or to one made for this script; clients trust CERT.
# shellcheck disable=SC2034 # KEY is read by the scripts that source this file
e2e_cert() {
	if [[ -n "${EMENTOR_TEST_CERT:-}" && -s "$EMENTOR_TEST_CERT" ]]; then
		CERT="$EMENTOR_TEST_CERT" KEY="${EMENTOR_TEST_KEY:?EMENTOR_TEST_CERT is set but EMENTOR_TEST_KEY is not}"
	else
		em_tls_cert "$T/tls"
		CERT="$T/tls/cert.pem" KEY="$T/tls/key.pem"
	fi
	export EMENTOR_CA="$CERT"
}

# as USER ementor-args...: runs the CLI with USER's home directory. A
# `register` accepts the privacy notice (--accept-privacy): there is no
# terminal to ask on.
as() {
	local who="$1" i cmd=""
	shift
	local args=("$@")
	for ((i = 0; i < ${#args[@]}; i++)); do
		case "${args[i]}" in
		--server | --ca | --home) i=$((i + 1)) ;;
		-*) ;;
		*)
			cmd="${args[i]}"
			break
			;;
		esac
	done
	[[ "$cmd" != register ]] || args+=(--accept-privacy)
	"$BIN/ementor" --home "$T/home/$who" "${args[@]}"
}

# sign_room ROOM USER...: each USER (the manager who made the room included:
# a party too) signs the room's mentoring agreement. Messages flow only
# between those on the roster, i.e. once every party has signed.
sign_room() {
	local room="$1" who
	shift
	for who in "$@"; do
		expect_ok "$who signs the agreement of room $room" as "$who" agreement sign "$room" --yes
	done
}

# open_until FILE [SECONDS]: stays silent until FILE exists (at most SECONDS,
# default 240), then ends; piped into `ementor chat` it keeps the chat's stdin
# open for as long as the test needs it however slow the machine is.
open_until() {
	local i
	for ((i = 0; i < ${2:-240} * 5; i++)); do
		[[ -e "$1" ]] && return 0
		sleep 0.2
	done
}

# wait_until SECONDS command...: runs the command (its output and errors
# going where the caller's go) every 0.2 s until it succeeds, at most SECONDS
# times E2E_TIME_FACTOR; returns 1 when it never did. For waiting on
# something observable (a log line, a metric, a file) instead of sleeping.
wait_until() {
	local end
	end=$((SECONDS + $(e2e_bound "$1")))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

# wait_for_lines FILE PATTERN COUNT [SECONDS]: waits (at most SECONDS, default
# 30) until FILE holds COUNT distinct matches of the extended regex PATTERN.
wait_for_lines() {
	local i
	for ((i = 0; i < ${4:-30} * 5; i++)); do
		(($(grep -oE "$2" "$1" 2>/dev/null | sort -u | wc -l) >= $3)) && return 0
		sleep 0.2
	done
	return 1
}

# e2e_node: the Node peers of tests/e2e/node ready to run, or the test is
# skipped (77) where node or npm is missing. `npm ci` runs only when
# package-lock.json changed since the last install, and under a lock: the
# tests run in parallel, and an `npm ci` empties node_modules before it fills
# it again.
e2e_node() {
	local stamp="$NODE_DIR/node_modules/.ementor-lock-sha256" want
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "node and npm are needed for the Node peers: skipping" >&2
		exit 77
	fi
	want="$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)"
	if ! (
		flock 9
		[[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]] || exit 0
		(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 &&
			echo "$want" >"$stamp"
	) 9>"$NODE_DIR/.npm-ci.lock"; then
		not_ok "npm ci in tests/e2e/node" "$(tail -n 20 "$T/npm.log")"
		e2e_summary
	fi
}

# e2e_serve [SERVER ARGS...]: a certificate, a fresh database ($DB) and an
# ementord on it with these extra arguments, its URL exported as
# EMENTOR_SERVER (and the test users' EMENTOR_PASSWORD). When the server does
# not come up, the test ends here with "server starts" failed.
# shellcheck disable=SC2120 # the server arguments are optional
e2e_serve() {
	e2e_cert
	DB="$(e2e_fresh_db)"
	export EMENTOR_PASSWORD="correct horse battery"
	em_server_start "$LOG" "$CERT" "$KEY" "$DB" "$@" || {
		not_ok "server starts"
		e2e_summary
	}
	export EMENTOR_SERVER="$EM_SERVER_URL"
}

ok() {
	passed=$((passed + 1))
	echo "ok   - $1"
}

not_ok() {
	failed=$((failed + 1))
	FAILED_NAMES+=("$1${2:+: ${2:0:400}}")
	echo "FAIL - $1"
	[[ -z "${2:-}" ]] || printf '       %s\n' "$2"
}

# expect_ok NAME command...: the command exits 0.
expect_ok() {
	local name="$1" out
	shift
	if out="$("$@" 2>&1)"; then ok "$name"; else not_ok "$name" "exit $?: $out"; fi
	LAST="$out"
}

# expect_fail NAME EXIT PATTERN command...: exits EXIT and prints PATTERN.
expect_fail() {
	local name="$1" want="$2" pattern="$3" out rc=0
	shift 3
	out="$("$@" 2>&1)" || rc=$?
	if [[ $rc -eq $want ]] && grep -qiE -- "$pattern" <<<"$out"; then
		ok "$name"
	else
		not_ok "$name" "wanted exit $want and /$pattern/, got exit $rc: $out"
	fi
	# shellcheck disable=SC2034 # LAST is read by the scripts that source this file
	LAST="$out"
}

# to_file FILE command...: runs the command with its standard output in FILE
# (a JSON document for jq; what it says on stderr still reaches the caller,
# e.g. expect_ok's report).
to_file() {
	local file="$1"
	shift
	"$@" >"$file"
}

# expect_match NAME PATTERN TEXT
expect_match() {
	if grep -qE -- "$2" <<<"$3"; then ok "$1"; else not_ok "$1" "no /$2/ in: $3"; fi
}

# The summary names every failed check again: a long test's output is cut in
# the middle by CI logs, and the failure must not be the part that is cut.
e2e_summary() {
	local name
	echo
	for name in "${FAILED_NAMES[@]}"; do echo "failed: $name"; done
	echo "$passed passed, $failed failed"
	((failed == 0))
}

# expect_absent NAME STRING FILE: FILE does not contain STRING.
expect_absent() {
	if grep -qF -- "$2" "$3"; then not_ok "$1" "found in $3"; else ok "$1"; fi
}

# The one-time manager invite ementord printed at its last start: each start
# before the first account expires the one printed before (em_server_start
# may have started it more than once when a start failed).
first_invite() {
	grep -oE -- '--invite [A-Za-z0-9_-]+' "$LOG" | tail -n1 | awk '{print $2}'
}

# check_history PREFIX N: mentee lea reads room 1's whole history (into
# $T/history.json); each of the N messages "PREFIX-i" is there exactly once,
# and every send $T/sends.log records as acknowledged (lines "i rc ... seq S",
# rc 0) holds its own text at that seq.
check_history() {
	local prefix="$1" n="$2" texts missing="" i rc rest seq
	expect_ok "the mentee reads the whole history" to_file "$T/history.json" as lea --json read 1
	texts="$(jq -r --arg re "^$prefix-[0-9]+\$" '.[].text | select(test($re))' "$T/history.json" ||
		true)"
	expect_match "every message is there" "^$n\$" "$(sort -u <<<"$texts" | grep -c . || true)"
	expect_match "no message appears twice" "^$n\$" "$(grep -c . <<<"$texts" || true)"
	while read -r i rc rest; do
		[[ $rc == 0 ]] || continue
		seq="$(grep -oE 'seq [0-9]+' <<<"$rest" | grep -oE '[0-9]+')"
		if ! jq -e --argjson seq "$seq" --arg text "$prefix-$i" \
			'any(.[]; .seq == $seq and .text == $text)' "$T/history.json" >/dev/null; then
			missing="$missing $i@$seq"
		fi
	done <"$T/sends.log"
	expect_match "every seq the CLI saw acknowledged holds its message" '^$' "$missing"
}

# invite PROGRAMME ROLE: a new invite code to PROGRAMME for ROLE, made by
# manager maria (fails when she cannot make one).
invite() { as maria --json invite create --programme "$1" --role "$2" | jq -er .code; }

# pair_room NAME: on a fresh server ($EMENTOR_SERVER), manager maria registers
# with the first-run invite and makes programme 1 NAME (2027); mentor sam and
# mentee lea register; room 1 is their pair room, its agreement signed by all
# three (one check each).
pair_room() {
	local code who
	as maria register --invite "$(first_invite)" --username maria >/dev/null
	as maria programme create --name "$1" --starts 2027-01-01 --ends 2027-12-31 >/dev/null
	for who in sam:mentor lea:mentee; do
		code="$(invite 1 "${who#*:}")"
		as "${who%%:*}" register --invite "$code" --username "${who%%:*}" >/dev/null
	done
	as maria room create --programme 1 --kind pair --member sam --member lea >/dev/null
	sign_room 1 maria sam lea
}
