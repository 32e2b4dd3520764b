#!/usr/bin/env bash
# tests/vectors/run.sh fresh|native|wasm|node - the conformance vectors
# (tests/vectors/README.md), run by the ctests vectors_fresh, vectors_native,
# vectors_wasm and vectors_node.
#
#   fresh   vectors_gen's output is byte for byte the committed vectors.json:
#           a change of a layout or derivation must update the file on purpose
#   native  vectors_check (this build's libementor-proto)
#   wasm    check_wasm.mjs: the WebAssembly core of build-wasm/core/dist
#           (scripts/wasm); exit 77 (skipped) when there is none
#   node    check_client.mjs: the JavaScript client of tests/e2e/node (npm ci
#           there first)
# wasm and node run under the node on PATH and, when that is not Node 18,
# under Debian 12's Node 18 too (em_debian_node18 in scripts/lib.sh).
#
# Each checker must also fail: for every section it checks, a copy of the file
# with one hex digit (one byte) of one expected value changed is checked, and
# the checker must report that section as failed. A checker that passes a
# corrupted file fails this test.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"

what="${1:-}"
dir="$EM_ROOT/tests/vectors"
file="$dir/vectors.json"
bin="${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}"
gen="${EMENTOR_VECTORS_GEN:-$bin/vectors_gen}"
check="${EMENTOR_VECTORS_CHECK:-$bin/vectors_check}"
dist="${EMENTOR_WASM_DIST:-$EM_ROOT/build-wasm/core/dist}"

case "$what" in
fresh | native | wasm | node) ;;
*) em_die "usage: tests/vectors/run.sh fresh|native|wasm|node" ;;
esac

work="$(em_tmpdir ementor-vectors)"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -z "${EMENTOR_TEST_KEEP:-}" ]]; then
		rm -rf "$work"
	else
		em_log "kept $work"
	fi
}
trap cleanup EXIT

# One expected value per section, changed by one hex digit in the corrupted
# copies: "SECTION FILTER" (a jq path).
targets=(
	"identities .identities.cases[1].fingerprint"
	"password_bytes .password_bytes.cases[3].nfc"
	"account_keys .account_keys.cases[2].wrap_key"
	"key_backups .key_backups.cases[0].backup"
	"safety_numbers .safety_numbers.cases[3].number"
	"room_key_envelopes .room_key_envelopes.cases[1].sealed"
	"epoch_commits .epoch_commits.cases[0].bytes"
	"messages .messages.cases[0].ciphertext"
	"franked_messages .franked_messages.cases[0].ciphertext"
	"agreements .agreements.cases[0].hash"
	"consents .consents.cases[0].sig"
	"programme_settings .programme_settings.cases[0].sig"
	"ledger .ledger.cases[1].entry_hash"
	"base64url .base64url.cases[3].bytes"
)

# Every section of the file has a target (a new section needs one here).
check_targets() {
	local s missing=""
	while read -r s; do
		# a here-string, not a pipe: under pipefail, grep -q leaving early can
		# kill printf with SIGPIPE and call a present target missing
		grep -q "^$s " <<<"$(printf '%s\n' "${targets[@]}")" || missing+=" $s"
	done < <(jq -r 'to_entries[] | select(.value | type == "object") | .key' "$file")
	[[ -z "$missing" ]] || em_die "tests/vectors/run.sh has no corruption target for:$missing"
}

# corrupt FILTER OUT: the file with the first hex digit of FILTER's value changed.
corrupt() {
	jq --indent 2 "$1 |= (explode as \$c
		| first(range(0; \$c | length) | select((\$c[.] >= 48 and \$c[.] <= 57) or (\$c[.] >= 97 and \$c[.] <= 102))) as \$i
		| \$c[:\$i] + [if \$c[\$i] == 48 then 49 else 48 end] + \$c[\$i + 1:] | implode)" "$file" >"$2"
	[[ "$(jq -r "$1" "$file")" != "$(jq -r "$1" "$2")" ]] || em_die "corrupting $1 changed nothing"
}

# self_test NAME SKIP CMD...: CMD FILE [SECTION] passes on the file and fails
# on every corrupted copy of a section not in SKIP (space-separated).
self_test() {
	local name="$1" skip=" $2 " t section filter rc=0
	shift 2
	em_log "$name: the committed vectors"
	"$@" "$file" || {
		em_warn "$name: the committed vectors do not pass"
		return 1
	}
	for t in "${targets[@]}"; do
		section="${t%% *}"
		filter="${t#* }"
		[[ "$skip" != *" $section "* ]] || continue
		corrupt "$filter" "$work/corrupt.json"
		if "$@" "$work/corrupt.json" "$section" >"$work/corrupt.log" 2>&1; then
			em_warn "$name: passes with $filter corrupted: it cannot fail"
			cat "$work/corrupt.log" >&2
			rc=1
		elif grep -q "FAIL $section" "$work/corrupt.log"; then
			echo "$name: one byte of $filter changed: $section fails, as it must"
		else
			em_warn "$name: with $filter corrupted it fails, but not in $section"
			cat "$work/corrupt.log" >&2
			rc=1
		fi
	done
	return "$rc"
}

# The node on PATH and, when it is not 18, Debian 12's Node 18.
node_binaries() {
	command -v node >/dev/null 2>&1 || em_die "no node on PATH (scripts/deps installs one)"
	command -v node
	if [[ "$(node --version)" != v18.* ]]; then
		em_debian_node18
	fi
}

case "$what" in
fresh)
	[[ -x "$gen" ]] || em_die "$gen was not built (cmake --build build --target vectors_gen)"
	"$gen" >"$work/vectors.json" || em_die "vectors_gen failed"
	if cmp -s "$work/vectors.json" "$file"; then
		echo "vectors_gen writes exactly the committed tests/vectors/vectors.json ($(wc -c <"$file") bytes)"
		exit 0
	fi
	diff -u "$file" "$work/vectors.json" | head -n 80 >&2 || true
	em_warn "vectors_gen's output differs from the committed tests/vectors/vectors.json (diff above)."
	em_warn "If the change of layout is intended: build/bin/vectors_gen > tests/vectors/vectors.json,"
	em_warn "update docs/PROTOCOL.md, and commit both; every other implementation must follow."
	exit 1
	;;
native)
	check_targets
	[[ -x "$check" ]] || em_die "$check was not built (cmake --build build --target vectors_check)"
	self_test "vectors_check" "" "$check"
	;;
wasm)
	check_targets
	if [[ ! -f "$dist/ementor-core.mjs" || ! -f "$dist/ementor-core-wasm.wasm" ]]; then
		echo "SKIP: no WebAssembly build in $dist: run scripts/wasm" >&2
		exit 77
	fi
	rc=0
	while read -r node_bin; do
		self_test "WebAssembly core, node $("$node_bin" --version)" "ledger" \
			"$node_bin" "$dir/check_wasm.mjs" "$dist" || rc=1
	done < <(node_binaries)
	exit "$rc"
	;;
node)
	check_targets
	em_log "node: npm ci in tests/e2e/node"
	(cd "$EM_ROOT/tests/e2e/node" && npm ci --no-audit --no-fund --loglevel=error) ||
		em_die "npm ci in tests/e2e/node failed"
	rc=0
	while read -r node_bin; do
		self_test "JavaScript client, node $("$node_bin" --version)" "" \
			"$node_bin" "$dir/check_client.mjs" || rc=1
	done < <(node_binaries)
	exit "$rc"
	;;
esac
