#!/usr/bin/env bash
# tests/e2e/web_manager.sh - the programme manager's screens of the web app
# (web/app/manage.mjs) as ementord serves them, in Debian's Chromium
# (tests/browser/webmanager.mjs): the manager (maria) joins in the browser
# with the server's first one-time manager invite, creates a programme and
# invites and copies their links; a mentor (sam) and a mentee (lea) register
# on the CLI from those links; maria makes their room in the browser (and a
# second one to add, remove and rename members), signs its agreement there;
# sam and lea sign and write on the CLI; the dashboard shows figures equal to
# `ementor --json audit` and none of their words; the CSV is the CLI's
# `audit --csv`; thresholds, the agreement template and the programme's
# name, end and archiving are done in the browser and read back on the CLI;
# axe-core on every manager screen. Screenshots (360 px and 1280 px) are
# kept in BUILD_DIR/test-artifacts/webmanager.
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
ART="$(dirname "$BIN")/test-artifacts/webmanager"
WEB="$T/web"
EMENTOR_WASM_DIST="$DIST" em_web_assemble "$WEB"

e2e_serve --web-dir "$WEB"
BASE="https://127.0.0.1:$EM_SERVER_PORT"
code="$(first_invite)"
expect_match "the server printed its first one-time manager invite" '^[A-Za-z0-9_-]+$' "$code"

stamp="$EM_ROOT/tests/browser/node_modules/.ementor-lock-sha256"
want="$(sha256sum "$EM_ROOT/tests/browser/package-lock.json" | cut -d' ' -f1)"
# npm ci only when the lock changed, under the lock web_client.sh and
# wasm_client.sh take too; no `exit` in the subshell (it would run this
# script's EXIT trap, which removes $T)
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
mkdir -p "$ART" "$T/home"
rm -f "$ART"/*.png
EMENTOR_BIN_DIR="$BIN" E2E_HOME="$T/home" MANAGER_INVITE="$code" WEB_PASSWORD="$EMENTOR_PASSWORD" \
	DOWNLOADS="$T/downloads" node "$EM_ROOT/tests/browser/webmanager.mjs" "$BASE" "$ART" >"$T/web.out" 2>&1 && rc=0 || rc=$?
cat "$T/web.out"
passed=$((passed + $(grep -c '^ok ' "$T/web.out" || true)))
failed=$((failed + $(grep -c '^FAIL ' "$T/web.out" || true)))
while IFS= read -r line; do
	FAILED_NAMES+=("${line#FAIL - }")
done < <(grep '^FAIL ' "$T/web.out" || true)
expect_match "the browser session ended cleanly (exit 0)" '^0$' "$rc"
expect_match "screenshots at 360 px and 1280 px kept in $ART" '^[1-9][0-9]$' "$(find "$ART" -name '*.png' | wc -l)"
while IFS= read -r text; do
	expect_absent "the server's log never holds the message text \"$text\"" "$text" "$LOG"
done < <(sed -n 's/^secret //p' "$T/web.out")
e2e_summary
