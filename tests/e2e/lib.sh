# shellcheck shell=bash
# tests/e2e/lib.sh - helpers for the end-to-end scripts: a fresh database per
# script, a real ementord on a free port, the real CLI with a home per user,
# and pass/fail bookkeeping that ends with "N passed, N failed".
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

BIN="${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}"
passed=0
failed=0

if [[ -z "${EMENTOR_TEST_DB:-}" ]]; then
	echo "EMENTOR_TEST_DB is not set: skipping (scripts/test sets it)" >&2
	exit 77
fi

T="$(em_tmpdir ementor-e2e)"
LOG="$T/ementord.log"
trap 'e2e_cleanup' EXIT

e2e_cleanup() {
	em_server_stop
	if [[ -n "${E2E_DB:-}" ]]; then
		psql --no-psqlrc -q "$EMENTOR_TEST_DB" -c "DROP DATABASE IF EXISTS $E2E_DB" >/dev/null 2>&1 || true
	fi
	[[ -n "${EMENTOR_TEST_KEEP:-}" ]] || rm -rf "$T"
}

# A database of our own on the test cluster; prints its conninfo.
e2e_fresh_db() {
	E2E_DB="e2e_$$_$RANDOM"
	psql --no-psqlrc -q "$EMENTOR_TEST_DB" -c "CREATE DATABASE $E2E_DB" >/dev/null
	printf '%s dbname=%s\n' "$EMENTOR_TEST_DB" "$E2E_DB"
}

e2e_cert() {
	if [[ -n "${EMENTOR_TEST_CERT:-}" && -s "$EMENTOR_TEST_CERT" ]]; then
		CERT="$EMENTOR_TEST_CERT" KEY="$EMENTOR_TEST_KEY"
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

ok() {
	passed=$((passed + 1))
	echo "ok   - $1"
}

not_ok() {
	failed=$((failed + 1))
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
	LAST="$out"
}

# expect_match NAME PATTERN TEXT
expect_match() {
	if grep -qE -- "$2" <<<"$3"; then ok "$1"; else not_ok "$1" "no /$2/ in: $3"; fi
}

e2e_summary() {
	echo
	echo "$passed passed, $failed failed"
	((failed == 0))
}

# expect_absent NAME STRING FILE: FILE does not contain STRING.
expect_absent() {
	if grep -qF -- "$2" "$3"; then not_ok "$1" "found in $3"; else ok "$1"; fi
}

# The one-time manager invite ementord printed at its first start.
first_invite() {
	grep -oE -- '--invite [A-Za-z0-9_-]+' "$LOG" | head -n1 | awk '{print $2}'
}

# pair_room NAME: on a fresh server ($EMENTOR_SERVER), manager maria registers
# with the first-run invite and makes programme 1 NAME (2027); mentor sam and
# mentee lea register; room 1 is their pair room, its agreement signed by all
# three (one check each).
pair_room() {
	local code who
	as maria register --invite "$(first_invite)" --username maria >/dev/null
	as maria programme create --name "$1" --starts 2027-01-01 --ends 2027-12-31 >/dev/null
	for who in sam:mentor lea:mentee; do
		code="$(as maria --json invite create --programme 1 --role "${who#*:}" |
			sed -nE 's/.*"code": "([^"]+)".*/\1/p')"
		as "${who%%:*}" register --invite "$code" --username "${who%%:*}" >/dev/null
	done
	as maria room create --programme 1 --kind pair --member sam --member lea >/dev/null
	sign_room 1 maria sam lea
}
