#!/usr/bin/env bash
# tests/wasm/run.sh node|chromium - the WebAssembly core (build-wasm/core/dist,
# made by scripts/wasm) against the native build (ctests wasm_node and
# wasm_chromium).
#
# Both start from the same file: the native wasm_vectors program's results on
# fixed inputs (tests/wasm/vectors.c). Then
#   node      node --test node.test.mjs, with the node on PATH and, when that
#             is not 18, with Debian 12's Node 18 (its packages unpacked into
#             the cache: em_debian_node18 in scripts/lib.sh)
#   chromium  npm ci in tests/browser (playwright-core), then tests/browser/
#             wasm.mjs: the same cases in headless Debian Chromium
#
# Exits 77 (skipped) when there is no WebAssembly build; scripts/test builds
# one first and counts a skip as a failure.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"

where="${1:-}"
dist="${EMENTOR_WASM_DIST:-$EM_ROOT/build-wasm/core/dist}"
vectors_bin="${EMENTOR_WASM_VECTORS:-$EM_ROOT/build/bin/wasm_vectors}"

case "$where" in
node | chromium) ;;
*) em_die "usage: tests/wasm/run.sh node|chromium" ;;
esac
if [[ ! -f "$dist/ementor-core.mjs" || ! -f "$dist/ementor-core-wasm.wasm" ]]; then
	echo "SKIP: no WebAssembly build in $dist: run scripts/wasm" >&2
	exit 77
fi
[[ -x "$vectors_bin" ]] || em_die "$vectors_bin was not built (cmake --build build --target wasm_vectors)"

work="$(em_tmpdir ementor-wasm)"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -z "${EMENTOR_TEST_KEEP:-}" ]]; then
		rm -rf "$work"
	else
		em_log "kept $work"
	fi
}
trap cleanup EXIT

"$vectors_bin" >"$work/vectors.json" || em_die "wasm_vectors failed"
export EMENTOR_WASM_DIST="$dist" EMENTOR_WASM_VECTORS_JSON="$work/vectors.json"

run_node_tests() {
	local node_bin="$1" rc=0
	em_log "wasm: node --test node.test.mjs with $("$node_bin" --version) ($node_bin)"
	(cd "$EM_ROOT/tests/wasm" && "$node_bin" --test node.test.mjs) || rc=$?
	return "$rc"
}

case "$where" in
node)
	rc=0
	run_node_tests "$(command -v node)" || rc=1
	if [[ "$(node --version)" != v18.* ]]; then
		run_node_tests "$(em_debian_node18)" || rc=1
	fi
	exit "$rc"
	;;
chromium)
	[[ -x "${EMENTOR_CHROMIUM:-/usr/bin/chromium}" ]] ||
		em_die "no ${EMENTOR_CHROMIUM:-/usr/bin/chromium}: scripts/test installs Debian's chromium (em_browser_deps)"
	em_log "wasm: npm ci in tests/browser"
	(cd "$EM_ROOT/tests/browser" &&
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
		em_die "npm ci in tests/browser failed"
	node "$EM_ROOT/tests/browser/wasm.mjs" "$dist" "$work/vectors.json"
	;;
esac
