#!/usr/bin/env bash
# bench/mail.sh - the e-mail sender's throughput (issue 15): MAIL_N outbox
# rows written at once into a private PostgreSQL, one Release ementord whose
# sender thread sends them to the test's SMTP server on loopback
# (tests/e2e/smtp_sink.py: Debian's python3-aiosmtpd, each message a file),
# plain or with STARTTLS (MAIL_TLS=1). Timed from the insert's commit until
# every row is recorded sent; the CPU of ementord and of the sink over that
# time; checked that every row arrived once (distinct Message-IDs). With
# MAIL_IMPORT=N (default 1000), first `ementor import` of an N-row CSV into a
# programme (the CLI against that server): the command's wall time, then the
# time until its N invite e-mails are recorded sent.
#
#   MAIL_N=2000 MAIL_TLS=0 MAIL_IMPORT=1000 bench/mail.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

N="${MAIL_N:-2000}"
TLS="${MAIL_TLS:-0}"
BUILD="${BENCH_BUILD_DIR:-build-bench}"
PORT="${MAIL_PG_PORT:-55497}"
PY=/usr/bin/python3

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target ementord ementor -j2 >/dev/null
IMPORT="${MAIL_IMPORT:-1000}"
T="$(em_tmpdir ementor-mailbench)"
SINK_PID="" SERVER_PID=""
cleanup() {
	[[ -z "$SERVER_PID" ]] || { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
	[[ -z "$SINK_PID" ]] || { kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; }
	em_pg_stop "$T/pg" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
em_pg_start "$T/pg" "$PORT" >/dev/null
DB="host=$T/pg port=$PORT dbname=postgres user=postgres"
psql() { command psql --no-psqlrc -X -qtA -v ON_ERROR_STOP=1 "$DB" "$@"; }
if [[ -n "${MAIL_PG_SYNC:-}" ]]; then # an experiment: the cluster's synchronous_commit
	psql -c "ALTER SYSTEM SET synchronous_commit = '$MAIL_PG_SYNC'" -c "SELECT pg_reload_conf()" >/dev/null
fi
em_tls_cert "$T/tls" >/dev/null 2>&1

smtp_port="$(em_free_port)"
tls_args=()
starttls=(--smtp-starttls optional)
if [[ "$TLS" == 1 ]]; then
	tls_args=("$T/tls/cert.pem" "$T/tls/key.pem")
	starttls=(--smtp-ca "$T/tls/cert.pem")
fi
"$PY" tests/e2e/smtp_sink.py "$smtp_port" "$T/in" "$T/ready" "${tls_args[@]}" >"$T/sink.log" 2>&1 &
SINK_PID=$!
for ((i = 0; i < 100; i++)); do [[ -s "$T/ready" ]] && break; sleep 0.1; done

"$BUILD/bin/ementord" migrate --db "$DB" >/dev/null 2>&1
server_port="$(em_free_port)"
"$BUILD/bin/ementord" serve --listen 127.0.0.1 --port "$server_port" --cert "$T/tls/cert.pem" \
	--key "$T/tls/key.pem" --db "$DB" --smtp-url "smtp://127.0.0.1:$smtp_port" "${starttls[@]}" \
	--public-url https://ementor.example.org --mail-digest 0 --log-level debug >"$T/ementord.log" 2>&1 &
SERVER_PID=$!
sleep 2

sent() { psql -c "SELECT count(*) FROM mail_outbox WHERE state = 'sent'"; }
if ((IMPORT > 0)); then
	export EMENTOR_SERVER="wss://127.0.0.1:$server_port" EMENTOR_CA="$T/tls/cert.pem" \
		EMENTOR_PASSWORD="bench password" EMENTOR_HOME="$T/home"
	cli="$BUILD/bin/ementor"
	"$cli" register --accept-privacy --username boss \
		--invite "$("$BUILD/bin/ementord" invite --role manager --db "$DB")" >/dev/null
	"$cli" programme create --name Bench --starts 2027-01-01 --ends 2027-12-31 >/dev/null
	{
		echo "name,email,role,label,lang"
		for ((i = 1; i <= IMPORT; i++)); do
			echo "Person $i,person$i@example.org,$( ((i % 5)) && echo mentee || echo mentor),pair $((i / 5)),pl"
		done
	} >"$T/people.csv"
	i0="$(date +%s.%N)"
	"$cli" import --programme 1 "$T/people.csv" >"$T/import.txt"
	i1="$(date +%s.%N)"
	while (($(sent) < IMPORT)); do sleep 0.05; done
	i2="$(date +%s.%N)"
	awk -v n="$IMPORT" -v i0="$i0" -v i1="$i1" -v i2="$i2" -v last="$(tail -n1 "$T/import.txt")" 'BEGIN {
		printf "import bench: %d rows imported in %.2f s (%s); their e-mails all sent %.2f s after the start (%.0f e-mails/s)\n",
			n, i1 - i0, last, i2 - i0, n / (i2 - i0)
	}'
	psql -c "DELETE FROM mail_outbox"
	rm -f "$T"/in/*.eml
fi

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck="$(getconf CLK_TCK)"
s0="$(cpu "$SERVER_PID")" k0="$(cpu "$SINK_PID")" t0="$(date +%s.%N)"
psql -c "INSERT INTO mail_outbox (address, kind, lang, params)
         SELECT 'bench' || g || '@example.org', 'digest', CASE WHEN g % 2 = 0 THEN 'pl' ELSE 'en' END,
                jsonb_build_object('room_id', g, 'unread', 1 + g % 7)
         FROM generate_series(1, $N) g"
while [[ "$(psql -c "SELECT count(*) FROM mail_outbox WHERE state = 'sent'")" -lt "$N" ]]; do
	sleep 0.05
done
t1="$(date +%s.%N)" s1="$(cpu "$SERVER_PID")" k1="$(cpu "$SINK_PID")"
echo "relay connections: $(grep -c 'mail new relay connection' "$T/ementord.log")"
files="$(find "$T/in" -name '*.eml' | wc -l)"
distinct="$(grep -h '^Message-ID:' "$T"/in/*.eml | sort -u | wc -l)"
awk -v n="$N" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v k0="$k0" -v k1="$k1" \
	-v tck="$tck" -v files="$files" -v distinct="$distinct" -v tls="$TLS" 'BEGIN {
	d = t1 - t0
	printf "mail bench: %d e-mails%s in %.2f s = %.0f e-mails/s; ementord CPU %.2f s (%.0f us/e-mail), sink CPU %.2f s; received %d, %d distinct Message-IDs\n",
		n, tls == 1 ? " over STARTTLS" : "", d, n / d, (s1 - s0) / tck, (s1 - s0) / tck / n * 1e6, (k1 - k0) / tck, files, distinct
}'
