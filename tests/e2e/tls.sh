#!/usr/bin/env bash
# tests/e2e/tls.sh - what a real ementord negotiates, asked with OpenSSL's own
# client (`openssl s_client`): TLS 1.2 only with ECDHE key exchange and an AEAD
# cipher (AES-GCM, ChaCha20-Poly1305), so every session has forward secrecy
# and no CBC; TLS 1.3 as OpenSSL offers it; nothing below TLS 1.2. Run with
# the ECDSA certificate scripts/run makes and with an RSA certificate, the
# kind under which the suites without forward secrecy (RSA key exchange)
# would otherwise be chosen.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

e2e_cert
DB="$(e2e_fresh_db)"

mkdir -p "$T/rsa"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rsa/key.pem" -out "$T/rsa/cert.pem" \
	-days 30 -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null

# handshake PORT CA s_client-args...: prints "PROTOCOL CIPHER" of a verified
# handshake, or "refused".
handshake() {
	local port="$1" ca="$2" out proto suite
	shift 2
	# @SECLEVEL=0: the client offers whatever it is told to; refusing is the server's job
	out="$(timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-CAfile "$ca" -verify_return_error -brief "$@" </dev/null 2>&1)" || {
		echo refused
		return 0
	}
	proto="$(sed -nE 's/^Protocol version: *(.*)$/\1/p' <<<"$out")"
	suite="$(sed -nE 's/^Ciphersuite: *(.*)$/\1/p' <<<"$out")"
	if [[ -n "$proto" && -n "$suite" ]]; then echo "$proto $suite"; else echo refused; fi
}

# check KIND CERT KEY ACCEPTED-SUITE...: starts a server with CERT and checks
# every refused suite (and the ones of KIND that must work).
check() {
	local kind="$1" cert="$2" key="$3" port suite got
	shift 3
	em_server_start "$T/$kind.log" "$cert" "$key" "$DB" || {
		not_ok "server starts with the $kind certificate"
		return 0
	}
	port="$EM_SERVER_PORT"
	for suite in "$@"; do
		got="$(handshake "$port" "$cert" -tls1_2 -cipher "$suite:@SECLEVEL=0")"
		expect_match "$kind: TLS 1.2 with $suite is accepted" "^TLSv1.2 $suite\$" "$got"
	done
	# without forward secrecy (RSA key exchange), without ECDHE (finite-field DHE), CBC
	for suite in AES128-SHA AES256-SHA AES128-SHA256 AES128-GCM-SHA256 AES256-GCM-SHA384 \
		DHE-RSA-AES128-GCM-SHA256 DHE-RSA-CHACHA20-POLY1305 DHE-RSA-AES128-SHA \
		ECDHE-RSA-AES128-SHA ECDHE-RSA-AES256-SHA384 ECDHE-ECDSA-AES128-SHA \
		ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES256-SHA; do
		got="$(handshake "$port" "$cert" -tls1_2 -cipher "$suite:@SECLEVEL=0")"
		expect_match "$kind: TLS 1.2 with $suite is refused" '^refused$' "$got"
	done
	got="$(handshake "$port" "$cert" -tls1_2 -cipher 'ALL:@SECLEVEL=0')"
	expect_match "$kind: a TLS 1.2 client offering everything gets ECDHE with AES-GCM or ChaCha20" \
		'^TLSv1.2 ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' "$got"
	for suite in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
		got="$(handshake "$port" "$cert" -tls1_3 -ciphersuites "$suite")"
		expect_match "$kind: TLS 1.3 with $suite is accepted" "^TLSv1.3 $suite\$" "$got"
	done
	got="$(handshake "$port" "$cert" -tls1_1 -cipher 'ALL:@SECLEVEL=0')"
	expect_match "$kind: TLS 1.1 is refused" '^refused$' "$got"
	em_server_stop
	EM_SERVER_PID=""
}

check ecdsa "$CERT" "$KEY" ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 \
	ECDHE-ECDSA-CHACHA20-POLY1305
check rsa "$T/rsa/cert.pem" "$T/rsa/key.pem" ECDHE-RSA-AES128-GCM-SHA256 \
	ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305

# the WebSocket side still works end to end (curl: TLS as libcurl negotiates it)
em_server_start "$LOG" "$CERT" "$KEY" "$DB" || not_ok "server starts again"
expect_match "curl reaches /healthz over the restricted TLS" '"status":"ok"' \
	"$(curl -sS --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz")"
expect_match "a TLS 1.2-only client (curl --tls-max 1.2) reaches /healthz" '"status":"ok"' \
	"$(curl -sS --tlsv1.2 --tls-max 1.2 --cacert "$CERT" "https://127.0.0.1:$EM_SERVER_PORT/healthz")"

e2e_summary
