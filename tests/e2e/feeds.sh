#!/usr/bin/env bash
# tests/e2e/feeds.sh - calendar feeds under a flood from one anonymous client.
# Feed requests need no login, and each one waits on the database; the server
# holds at most 64 of them at once. One address may hold only a few of those
# (the rest of its requests get 429 at once), so a client with 40 HTTP/2
# connections of 20 requests each cannot leave others with 503; and an HTTP/2
# connection may carry at most 8 streams at once (its SETTINGS). The client is
# node:http2 (tests/e2e/node/h2flood.mjs). Another address (127.0.0.2) asks
# for its feed throughout the flood and is always served.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_cert
DB="$(e2e_fresh_db)"
em_server_start "$LOG" "$CERT" "$KEY" "$DB" || {
	not_ok "server starts"
	e2e_summary
}
PORT="$EM_SERVER_PORT"
FEED="https://127.0.0.1:$PORT/calendar/$(printf 'A%.0s' {1..43}).ics" # unknown token: 404

H2FLOOD="$(dirname "$0")/node/h2flood.mjs"

# --- one HTTP/2 connection, 300 requests ------------------------------------------
out="$(node "$H2FLOOD" "$PORT" "$CERT" 1 300)"
expect_match "an HTTP/2 connection may open 8 streams at once (SETTINGS_MAX_CONCURRENT_STREAMS)" \
	'"maxConcurrentStreams":8,' "$out"
expect_match "300 feed requests on one connection are all answered 404, in turn ($out)" \
	'"answers":\{"404":300\}' "$out"

# --- 40 connections x 20 requests at once from one address -----------------------
(
	node "$H2FLOOD" "$PORT" "$CERT" 40 20 >"$T/flood.json" 2>&1 || true
	touch "$T/flood.done"
) &
flood=$!
# meanwhile another address asks for its feed, one request after the other
: >"$T/other.codes"
for ((i = 0; i < 300; i++)); do
	curl -s --interface 127.0.0.2 --max-time 10 --cacert "$CERT" -o /dev/null -w '%{http_code}\n' \
		"$FEED" >>"$T/other.codes" 2>/dev/null || echo fail >>"$T/other.codes"
	[[ ! -e "$T/flood.done" ]] || break
done
wait "$flood"
out="$(cat "$T/flood.json")"
expect_match "the flood's 800 requests were all answered 404 or 429, none 503 ($out)" \
	'^\{"maxConcurrentStreams":8,"answers":\{("404":[0-9]+,?|"429":[0-9]+,?)+\}\}$' "$out"
expect_match "... all 800 of them" '^800$' \
	"$(jq -r '(.answers."404" // 0) + (.answers."429" // 0)' <<<"$out" || true)"
expect_match "the flooding address was held to its share: some 429" '^[1-9][0-9]*$' \
	"$(jq -r '.answers."429" // 0' <<<"$out" || true)"
other="$(sort "$T/other.codes" | uniq -c | tr -s ' ' | tr '\n' ',')"
expect_match "another address was served during the flood: only 404 ($other)" \
	'^$' "$(grep -v '^404$' "$T/other.codes" || true)"
expect_match "after the flood the first address is served again" '^404$' \
	"$(curl -s --cacert "$CERT" -o /dev/null -w '%{http_code}' "$FEED")"
expect_match "the server is healthy after the flood" '"status":"ok"' \
	"$(curl -sS --cacert "$CERT" "https://127.0.0.1:$PORT/healthz")"

e2e_summary
