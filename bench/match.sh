#!/usr/bin/env bash
#
# bench/match.sh - match suggestions (docs/MATCHING.md) at programme sizes:
# made-up profiles from bench/profiles.py (seeded), `ementor match suggest
# --json` of a Release build, three runs per size; for each run the wall and
# user CPU time and the peak memory (/usr/bin/time), and the rooms, the
# unmatched mentees and the total score (the same in every run: the result
# is deterministic). One line per run, also in $OUT/match.txt.
#
#   bench/match.sh [SIZES]   (default: "500x120 1000x240 2000x480", mentees x mentors)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

SIZES="${1:-500x120 1000x240 2000x480}"
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)-match}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

build_dir="${BENCH_BUILD_DIR:-$EM_ROOT/build-bench}"
em_log "build: Release in ${build_dir#"$EM_ROOT"/}"
cmake -S "$EM_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DEMENTOR_WERROR=ON >/dev/null
cmake --build "$build_dir" -j2 --target ementor >/dev/null
[[ -x /usr/bin/time ]] || em_die "/usr/bin/time is missing: apt-get install time"

for size in $SIZES; do
	mentees="${size%x*}" mentors="${size#*x}"
	"$BENCH_DIR/profiles.py" "$mentees" "$mentors" 1 >"$OUT/profiles-$size.json"
	for run in 1 2 3; do
		/usr/bin/time -f '%e %U %M' -o "$OUT/time" \
			"$build_dir/bin/ementor" --json match suggest "$OUT/profiles-$size.json" >"$OUT/result-$size.json"
		read -r wall user rss <"$OUT/time"
		line="$(jq -r --arg s "$size" --arg w "$wall" --arg u "$user" --arg r "$rss" --arg run "$run" \
			'"\($s) run \($run): \($w) s wall, \($u) s user, \($r) KiB peak; \(.rooms | length) rooms, \(.places) places, \(.unmatched | length) unmatched, total score \(.total_score)"' \
			"$OUT/result-$size.json")"
		echo "$line" | tee -a "$OUT/match.txt"
	done
done
em_log "results in ${OUT#"$EM_ROOT"/}"
