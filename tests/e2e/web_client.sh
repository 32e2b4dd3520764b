#!/usr/bin/env bash
# tests/e2e/web_client.sh - the web app (web/app and the WebAssembly client
# core) as ementord serves it, over TLS, in Debian's Chromium.
#
# 1. Serving: / and /app/ files with the Content-Security-Policy and the
#    other headers asserted, the right types, ETag revalidation (304);
#    hostile paths (traversal, encoded dots, hidden and unknown files, a huge
#    path) answer 404; a file changed or added on disk after the start is not
#    served (everything was read at start-up); a WebSocket upgrade from
#    another origin is refused, from the app's own origin accepted;
#    `ementord --version` prints the digest the app shows.
# 2. People (tests/browser/webapp.mjs): the manager (maria) and a second
#    mentee (kim) on the CLI, a mentor (sam) and a mentee (lea) joining from
#    invite links in two Chromium contexts; all sign the group room's
#    agreement; sam and lea chat live, kim reads both on the CLI and
#    answers; unread counts, safety numbers equal to the CLI's, English and
#    Polish, axe-core on every screen. Screenshots (360 px and 1280 px) are
#    kept in BUILD_DIR/test-artifacts/web.
# 3. The server's log at debug level holds the request paths but never an
#    invite code or the password.
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
ART="${EMENTOR_ARTIFACT_DIR:-$(dirname "$BIN")/test-artifacts/web}"
WEB="$T/web"
EMENTOR_WASM_DIST="$DIST" em_web_assemble "$WEB"

e2e_serve --web-dir "$WEB" --log-level debug
BASE="https://127.0.0.1:$EM_SERVER_PORT"
PW="$EMENTOR_PASSWORD"

# head PATH [curl args...]: the response headers (lower-case names), body discarded
head_of() {
	local path="$1"
	shift
	curl -sS --max-time 10 --cacert "$CERT" --path-as-is -D - -o /dev/null "$@" "$BASE$path" |
		tr -d '\r' | sed -E 's/^([A-Za-z-]+):/\L\1:/'
}
status_of() {
	local path="$1"
	shift
	curl -sS --max-time 10 --cacert "$CERT" --path-as-is -o /dev/null -w '%{http_code}' "$@" "$BASE$path" || true
}

# --- 1. serving ---------------------------------------------------------------
CSP="default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
h="$(head_of /)"
expect_match "GET / answers 200 with index.html" '^HTTP/[0-9.]+ 200' "$h"
expect_match "as text/html" '^content-type: text/html; charset=utf-8$' "$h"
if grep -qxF "content-security-policy: $CSP" <<<"$h"; then ok "with the strict Content-Security-Policy"; else not_ok "with the strict Content-Security-Policy" "$h"; fi
expect_match "X-Content-Type-Options: nosniff" '^x-content-type-options: nosniff$' "$h"
expect_match "Referrer-Policy: no-referrer" '^referrer-policy: no-referrer$' "$h"
expect_match "Cache-Control: no-cache (revalidated every time)" '^cache-control: no-cache$' "$h"
etag="$(sed -n 's/^etag: //p' <<<"$h")"
expect_match "an ETag" '^"[0-9a-f]{32}"$' "$etag"
expect_match "unchanged: 304 for If-None-Match" '^304$' "$(status_of / -H "If-None-Match: $etag")"
expect_match "another ETag: 200" '^200$' "$(status_of / -H 'If-None-Match: "0000"')"
expect_match "the app module as text/javascript" '^content-type: text/javascript; charset=utf-8$' "$(head_of /app/app.mjs)"
expect_match "the WebAssembly core as application/wasm" '^content-type: application/wasm$' "$(head_of /app/ementor-core-wasm.wasm)"
expect_match "the style sheet as text/css, under the same policy" "^content-security-policy: default-src 'none'" "$(head_of /app/app.css)"
expect_match "index.html has no inline script or style" '^0$' \
	"$(curl -sS --cacert "$CERT" "$BASE/" | grep -ciE '<script>|<script [^>]*>[^<]|<style|style=|\son[a-z]+=' || true)"
for path in /app/../../etc/passwd /app/%2e%2e/%2e%2e/etc/passwd /app/%2e%2e%2fkey.pem /app/.hidden.mjs \
	/app/unknown.mjs /app/ /app /index.html /app/sub/app.mjs /../web/index.html /app/index.html \
	/app/app.mjs/ /app/APP.MJS; do
	expect_match "hostile or unknown path $path: 404" '^404$' "$(status_of "$path")"
done
# lws itself resolves dot segments (RFC 3986) before routing, and closes the
# connection on an encoded NUL or a path longer than its header buffer:
# nothing reaches the routing, let alone a file
expect_match "/calendar/../app/app.mjs is /app/app.mjs, a served file" '^200$' "$(status_of /calendar/../app/app.mjs)"
expect_match "an encoded NUL is not served" '^(000|400|404)$' "$(status_of "/app/app.mjs%00.png")"
huge="/app/$(head -c 6000 /dev/zero | tr '\0' a).mjs"
expect_match "a 6,000-character path is not served" '^(000|400|404|414|431)$' "$(status_of "$huge")"
digest="$(curl -sS --cacert "$CERT" "$BASE/app/version.json" | jq -r .web_sha256)"
expect_match "version.json gives the web app's digest" '^[0-9a-f]{64}$' "$digest"
expect_match "ementord --version prints the same digest" "sha256 $digest" \
	"$("$BIN/ementord" --version --web-dir "$WEB")"
expect_match "and its SHA-256 is the digest" "^$digest " "$(curl -sS --cacert "$CERT" "$BASE/app/SHA256SUMS" | sha256sum)"
curl -sS --cacert "$CERT" "$BASE/app/SHA256SUMS" >"$T/SHA256SUMS"
expect_match "SHA256SUMS lists index.html and every app file" "^$(find "$WEB" -type f | wc -l) 1\$" \
	"$(wc -l <"$T/SHA256SUMS") $(grep -c '  index.html$' "$T/SHA256SUMS")"
expect_ok "sha256sum -c of SHA256SUMS passes on the served directory" \
	bash -c "cd '$WEB' && sha256sum --quiet -c '$T/SHA256SUMS'"
before="$(curl -sS --cacert "$CERT" "$BASE/app/app.css" | sha256sum)"
echo "/* changed on disk */" >>"$WEB/app/app.css"
echo "body{}" >"$WEB/app/added.css"
expect_match "a file changed on disk after the start is served as it was read" "^${before%% *}" \
	"$(curl -sS --cacert "$CERT" "$BASE/app/app.css" | sha256sum)"
expect_match "a file added after the start is not served" '^404$' "$(status_of /app/added.css)"
ws_status() {
	curl -sS --http1.1 --max-time 3 --cacert "$CERT" -o /dev/null -w '%{http_code}' \
		-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
		-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: ementor.v1' \
		-H "Origin: $1" "$BASE/" 2>/dev/null || true
}
expect_match "a WebSocket upgrade from another origin is refused" '^(403|000)$' "$(ws_status https://evil.example)"
expect_match "from the app's own origin it is accepted" '^101$' "$(ws_status "$BASE")"
# --- 2. people ------------------------------------------------------------------
as maria register --invite "$(first_invite)" --username maria >/dev/null
as maria programme create --name "Web 2027" --starts 2027-01-01 --ends 2027-12-31 >/dev/null
sam_code="$(invite 1 mentor)"
# lea's link carries maria's key fingerprint (&m=HEX, as maria's CLI prints it): the app takes it
lea_code="$(as maria --json invite create --programme 1 --role mentee | jq -er .code_with_key)"
kim_code="$(invite 1 mentee)"
expect_ok "kim (a mentee on the CLI) registers" as kim register --invite "$kim_code" --username kim
stamp="$EM_ROOT/tests/browser/node_modules/.ementor-lock-sha256"
want="$(sha256sum "$EM_ROOT/tests/browser/package-lock.json" | cut -d' ' -f1)"
# npm ci only when the lock changed, under a lock (tests/e2e/wasm_client.sh
# runs npm ci there too); no `exit` in the subshell: it would run this
# script's EXIT trap, which removes $T
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
EMENTOR_BIN_DIR="$BIN" E2E_HOME="$T/home" SAM_INVITE="$sam_code" LEA_INVITE="$lea_code" WEB_PASSWORD="$PW" E2E_DB="$DB" \
	node "$EM_ROOT/tests/browser/webapp.mjs" "$BASE" "$ART" >"$T/web.out" 2>&1 && rc=0 || rc=$?
cat "$T/web.out"
passed=$((passed + $(grep -c '^ok ' "$T/web.out" || true)))
failed=$((failed + $(grep -c '^FAIL ' "$T/web.out" || true)))
while IFS= read -r line; do FAILED_NAMES+=("${line#FAIL - }"); done < <(grep '^FAIL ' "$T/web.out" || true)
expect_match "the browser session ended cleanly (exit 0)" '^0$' "$rc"
expect_match "screenshots at 360 px and 1280 px kept in $ART" '^1[0-9]$' "$(find "$ART" -name '*.png' | wc -l)"
expect_match "the app showed the digest the server computed" "^web_sha256 $digest\$" "$(grep '^web_sha256 ' "$T/web.out")"

# --- 3. the server's log -------------------------------------------------------------
expect_match "the debug log holds the request paths" 'http request path=/app/app.mjs' "$(cat "$LOG")"
for code in "$sam_code" "${lea_code%%&*}"; do
	expect_absent "the debug log never holds an invite code a browser used" "$code" "$LOG"
done
expect_absent "the debug log never holds the password" "$PW" "$LOG"

e2e_summary
