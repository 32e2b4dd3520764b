#!/usr/bin/env bash
# bench/wasm.sh - what the WebAssembly client core costs (bench/RESULTS.md):
#
#   build     scripts/wasm on an empty cache (Debian sources fetched,
#             libsodium and jansson compiled, the module configured and
#             linked), then again with nothing to do; each in a scratch
#             EMENTOR_CACHE and EMENTOR_WASM_BUILD_DIR, so the developer's
#             cache and build-wasm/ stay as they are
#   size      the .wasm, the Emscripten glue and ementor-core.mjs, raw and
#             gzip -9
#   argon2id  em_kdf_derive with the client's parameters (opslimit 2,
#             64 MiB): the first call in a fresh module and the median of the
#             next five, in three fresh Node processes (the node on PATH and
#             Debian's Node 18) and in headless Chromium (tests/browser/wasm.mjs)
#
# Needs build/bin/wasm_vectors (scripts/build Debug) for the Chromium page.
# Prints a report and keeps it in bench/results/wasm-DATE.txt.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$EM_ROOT"

em_wasm_deps
em_browser_deps
work="$(em_tmpdir ementor-bench-wasm)"
trap 'rm -rf "$work"' EXIT
mkdir -p bench/results
report="bench/results/wasm-$(date -u +%Y%m%dT%H%M%SZ).txt"

say() {
	printf '%s\n' "$*" | tee -a "$report"
}

# timed LABEL COMMAND...: runs it quietly, says how long it took
timed() {
	local label="$1" t0
	shift
	t0="$(date +%s.%N)"
	"$@" >"$work/last.log" 2>&1 || {
		cat "$work/last.log" >&2
		em_die "$label failed"
	}
	say "$(printf '  %-44s %6.1f s' "$label" "$(echo "$(date +%s.%N) - $t0" | bc)")"
}

say "ementor WebAssembly core, $(date -u +%FT%TZ)"
say "machine: $(nproc) cores, $(sed -nE 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "emcc $(NODE_PATH=/usr/share/nodejs emcc --version 2>/dev/null | sed -nE '1s/.*\) ([0-9.]+).*/\1/p'), node $(node --version), $(/usr/bin/chromium --version 2>/dev/null || echo 'no chromium')"
say "libsodium $(dpkg-query -W -f='${source:Version}' libsodium-dev), jansson $(dpkg-query -W -f='${source:Version}' libjansson-dev)"
say ""
say "build (2 jobs):"
export EMENTOR_CACHE="$work/cache" EMENTOR_WASM_BUILD_DIR="$work/build"
timed "libsodium + jansson, cold (fetch + compile)" scripts/wasm deps
timed "libsodium + jansson, warm (cache)" scripts/wasm deps
timed "module, cold (cmake configure, compile, link)" scripts/wasm
timed "module, warm (nothing changed)" scripts/wasm
dist="$work/build/core/dist"

say ""
say "size (bytes, raw / gzip -9):"
for f in ementor-core-wasm.wasm ementor-core-wasm.mjs ementor-core.mjs; do
	say "$(printf '  %-26s %8d / %7d' "$f" "$(stat -c %s "$dist/$f")" "$(gzip -9c "$dist/$f" | wc -c)")"
done

say ""
say "argon2id, opslimit 2, memlimit 64 MiB (first call in a fresh module, then the median, min and max of 5 more;"
say "wall time in ms, and in Node the process's CPU time too):"
argon2_node() {
	local node_bin="$1" i
	for i in 1 2 3; do
		(cd "$EM_ROOT/tests/wasm" && "$node_bin" --input-type=module -e "
			import { performance } from 'node:perf_hooks';
			import { timeArgon2 } from './check.mjs';
			const { createCore } = await import('$dist/ementor-core.mjs');
			const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
			const r = timeArgon2(await createCore(), 6, () => performance.now(), cpu);
			console.log(JSON.stringify(r));")
	done
}
node18="$(em_debian_node18)"
for n in node "$node18"; do
	while read -r line; do
		say "  node $("$n" --version): $line"
	done < <(argon2_node "$n")
done
if [[ -x build/bin/wasm_vectors ]]; then
	build/bin/wasm_vectors >"$work/vectors.json"
	(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) >/dev/null
	for i in 1 2 3; do
		line="$(node tests/browser/wasm.mjs "$dist" "$work/vectors.json" | sed -n 's/^argon2 //p')"
		say "  chromium: $line"
	done
else
	say "  chromium: not measured (build/bin/wasm_vectors missing: scripts/build Debug)"
fi
say ""
say "report: $report"
