#!/usr/bin/env bash
# tests/e2e/slow_consumer.sh - scenario B5 with real processes: a member stops
# reading while another floods the room (node/slow.test.mjs). The server has
# its default 1 MiB output cap per connection.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_node
e2e_serve --rotate-messages 100000
export EMENTOR_SERVER="$EM_SERVER_URL" EMENTOR_URL="$EM_SERVER_URL"
jsctl() { (cd "$NODE_DIR" && node jsctl.mjs "$@"); }

code="$(first_invite)"
as maria register --invite "$code" --username maria >/dev/null
as maria programme create --name Slow --starts 2027-01-01 --ends 2027-12-31 >/dev/null
jsctl register --invite "$(invite 1 mentor)" --username fast >/dev/null
jsctl register --invite "$(invite 1 mentee)" --username slow >/dev/null
as maria room create --programme 1 --kind pair --member fast --member slow >/dev/null
sign_room 1 maria
for who in fast slow; do expect_ok "$who signs the agreement of room 1 (JS client)" jsctl sign --username "$who" 1; done

export EMENTOR_SLOW_ROOM=1 EMENTOR_SLOW_SENDER=fast EMENTOR_SLOW_READER=slow
export EMENTOR_SLOW_PID="$EM_SERVER_PID" EMENTOR_SLOW_COUNT="${EMENTOR_SLOW_COUNT:-2000}"
if (cd "$NODE_DIR" && timeout 300 node --test --test-reporter=spec slow.test.mjs) >"$T/node.log" 2>&1; then
	ok "slow reader cut off with a bounded queue, then catches up without loss"
else
	not_ok "slow reader cut off with a bounded queue, then catches up without loss" "$(tail -n 40 "$T/node.log")"
fi
expect_match "the server logged the slow consumer" "slow consumer closed" "$(cat "$LOG")"
expect_match "the server is still healthy" '"status":"ok"' \
	"$(curl -fsS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz")"
e2e_summary
