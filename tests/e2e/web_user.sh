#!/usr/bin/env bash
# tests/e2e/web_user.sh - a mentee's meetings, notices and account in the web
# app (web/app: meetings.mjs, notices.mjs, account.mjs), in Debian's Chromium
# against a real ementord over TLS, with the manager (maria) and the mentor
# (sam) on the C CLI (tests/browser/webuser.mjs drives the page):
# lea joins from her invite link and signs the room's agreement; she
# proposes the initial meeting in the browser (a local time of
# Europe/Warsaw, arriving as UTC), sam accepts it on the CLI and her page
# shows it confirmed; sam proposes the final on the CLI, she reschedules it
# with a reason and sam's `ementor notices` shows the reason; she declines
# sam's mid-term time and says she cannot come to the initial meeting (the
# CLI sees both); she plans an
# online session whose topic sam's CLI opens and verifies; her notices
# list the confirmation and the proposal; she copies her calendar feed's URL
# and curl fetches an iCalendar with the meeting; she exports her data (the
# file's JSON checked, sam's CLI message decrypted in it); she grants
# share_progress, then withdraws her
# agreement consent and sam's CLI shows her off the roster; she erases her
# account and can log in neither in the browser nor on the CLI. axe-core on
# every screen; screenshots at 360 and 1280 px in
# BUILD_DIR/test-artifacts/web-user.
# Skipped (77) without node and npm or without a WebAssembly build.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

DIST="${EMENTOR_WASM_DIST:-$EM_ROOT/build-wasm/core/dist}"
if [[ ! -f "$DIST/ementor-client.mjs" || ! -f "$DIST/ementor-core-wasm.wasm" ]]; then
	echo "SKIP: no WebAssembly client core in $DIST: run scripts/wasm" >&2
	exit 77
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "SKIP: node and npm are needed for the browser test" >&2
	exit 77
fi
ART="${EMENTOR_ARTIFACT_DIR:-$(dirname "$BIN")/test-artifacts/web-user}"
WEB="$T/web"
EMENTOR_WASM_DIST="$DIST" em_web_assemble "$WEB"

e2e_serve --web-dir "$WEB" --log-level debug
BASE="https://127.0.0.1:$EM_SERVER_PORT"
day0="$(date -u +%Y-%m-%d)"

# --- the manager and the mentor on the CLI ---------------------------------------
as maria register --invite "$(first_invite)" --username maria >/dev/null
expect_ok "maria (CLI) makes a 90-day programme starting today" \
	as maria programme create --name "Web meetings" --starts "$day0" --ends "$(date -u -d "$day0 + 90 days" +%Y-%m-%d)"
expect_ok "sam (a mentor on the CLI) registers" as sam register --invite "$(invite 1 mentor)" --username sam
lea_code="$(invite 1 mentee)"

stamp="$EM_ROOT/tests/browser/node_modules/.ementor-lock-sha256"
want="$(sha256sum "$EM_ROOT/tests/browser/package-lock.json" | cut -d' ' -f1)"
# npm ci only when the lock changed, under the lock web_client.sh and
# wasm_client.sh take too; no `exit` in the subshell (the EXIT trap removes $T)
if ! (
	flock 9
	if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
		(cd "$EM_ROOT/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
			--loglevel=error) >"$T/npm.log" 2>&1 && echo "$want" >"$stamp"
	fi
) 9>"$EM_ROOT/tests/browser/.npm-ci.lock"; then
	not_ok "npm ci in tests/browser" "$(tail -n 20 "$T/npm.log")"
	e2e_summary
fi
mkdir -p "$ART"
rm -f "$ART"/*.png
EMENTOR_BIN_DIR="$BIN" E2E_HOME="$T/home" LEA_INVITE="$lea_code" WEB_PASSWORD="$EMENTOR_PASSWORD" DAY0="$day0" \
	node "$EM_ROOT/tests/browser/webuser.mjs" "$BASE" "$ART" >"$T/web.out" 2>&1 && rc=0 || rc=$?
cat "$T/web.out"
passed=$((passed + $(grep -c '^ok ' "$T/web.out" || true)))
failed=$((failed + $(grep -c '^FAIL ' "$T/web.out" || true)))
while read -r name; do FAILED_NAMES+=("browser: $name"); done < <(sed -n 's/^FAIL - //p' "$T/web.out")
expect_match "the browser session ended cleanly (exit 0)" '^0$' "$rc"
expect_match "screenshots at 360 px and 1280 px kept in $ART" '^(1[0-9]|[2-9][0-9])$' "$(find "$ART" -name '*.png' | wc -l)"

# --- after the erasure, on the CLI ----------------------------------------------------
if out="$(as lea-cli login --username lea 2>&1)"; then
	not_ok "lea cannot log in on the CLI either" "$out"
else
	ok "lea cannot log in on the CLI either ($(head -n1 <<<"$out"))"
fi
expect_absent "the server's log never holds her invite code" "$lea_code" "$LOG"
expect_absent "nor the password" "$EMENTOR_PASSWORD" "$LOG"

e2e_summary
