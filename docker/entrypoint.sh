#!/bin/sh
# docker/entrypoint.sh - the image's entrypoint: runs ementord with the flags
# scripts/run passes (--db, --cert, --key), taking their values from the
# environment and from mounted secret files, then any arguments given to the
# container.
#
#   docker run IMAGE [serve|migrate|invite] [ementord options...]
#
# The subcommand (default serve) must come first on ementord's command line,
# so it is moved in front of the fixed flags. Values:
#   --db    EMENTOR_DB, or the contents of EMENTOR_DB_FILE (default
#           dbname=ementor, ementord's own default)
#   --cert  EMENTOR_CERT (default /run/secrets/tls_cert)
#   --key   EMENTOR_KEY (default /run/secrets/tls_key)
# EMENTOR_DB_PASSWORD_FILE, when set, is read into PGPASSWORD, which libpq
# uses when the conninfo has no password; the password is then never on a
# command line. Because these are flags, they win over a --config file.
set -eu

cmd=serve
case "${1:-}" in
serve | migrate | invite)
	cmd="$1"
	shift
	;;
esac

if [ -n "${EMENTOR_DB_FILE:-}" ]; then
	EMENTOR_DB="$(cat "$EMENTOR_DB_FILE")"
fi
if [ -n "${EMENTOR_DB_PASSWORD_FILE:-}" ]; then
	PGPASSWORD="$(cat "$EMENTOR_DB_PASSWORD_FILE")"
	export PGPASSWORD
fi

exec /usr/local/bin/ementord "$cmd" \
	--db "${EMENTOR_DB:-dbname=ementor}" \
	--cert "${EMENTOR_CERT:-/run/secrets/tls_cert}" \
	--key "${EMENTOR_KEY:-/run/secrets/tls_key}" \
	"$@"
