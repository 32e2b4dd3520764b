#!/usr/bin/env bash
# tests/wasm/unit.sh - the unit tests of tests/unit/ that need no network or
# host (the client core against its scripted server, the account commands,
# the trust rules, proto and its crypto), compiled to WebAssembly by
# scripts/wasm (build-wasm/core/tests/*.js, web/core/CMakeLists.txt) and run
# under the node on PATH and, when that is not 18, Debian 12's Node 18: the
# same C tests as the native ctests, on the code the browser runs.
#
# Exits 77 (skipped) when there is no WebAssembly build; scripts/test builds
# one first and counts a skip as a failure.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"

dir="${EMENTOR_WASM_BUILD_DIR:-$EM_ROOT/build-wasm}/core/tests"
tests=(test_proto test_crypto test_client_trust test_core test_core_account)
for t in "${tests[@]}"; do
	if [[ ! -f "$dir/$t.js" ]]; then
		echo "SKIP: no $dir/$t.js: run scripts/wasm" >&2
		exit 77
	fi
done

# run NODE: every test under that node; 0 when all passed
run() {
	local node_bin="$1" t rc=0
	em_log "wasm unit tests with node $("$node_bin" --version) ($node_bin)"
	for t in "${tests[@]}"; do
		if "$node_bin" "$dir/$t.js"; then
			em_log "$t: passed in WebAssembly"
		else
			em_warn "$t: FAILED in WebAssembly"
			rc=1
		fi
	done
	return "$rc"
}

rc=0
run "$(command -v node)" || rc=1
if [[ "$(node --version)" != v18.* ]]; then
	run "$(em_debian_node18)" || rc=1
fi
exit "$rc"
