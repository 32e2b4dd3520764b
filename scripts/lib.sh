# shellcheck shell=bash
#
# scripts/lib.sh - helpers shared by scripts/deps, build, run, test and fuzz.
#
# Sourced, never executed. Everything here is non-interactive and idempotent:
# packages are installed only when missing, a private PostgreSQL is created
# only when its data directory is empty and started only when not running, a
# certificate is made only when absent. Functions print progress on stderr and
# die (exit 1) with a message saying what to do when something cannot work.

# `set -e` also inside $(...), so a helper whose output is captured still
# stops at its first failure.
shopt -s inherit_errexit

EM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EM_ROOT

# Debian packages the project needs to build, test and run (only Debian's archive is used).
# iproute2 (ip netns, veth) and procps (pgrep, ps) are for the fault tests;
# jq reads JSON in the e2e scripts; shellcheck is scripts/lint. libuv and
# lws's libuv plugin are ementord's service loop (server/loop.c).
EM_DEB_PACKAGES=(
	build-essential cmake pkg-config
	clang clang-format clang-tidy libfuzzer-14-dev libclang-rt-14-dev
	libwebsockets-dev libssl-dev libpq-dev libsodium-dev libjansson-dev libcmocka-dev
	libunistring-dev
	postgresql-15 postgresql-client-15
	openssl curl ca-certificates jq python3-icalendar prometheus
	iproute2 procps
	shellcheck
	libcurl4-openssl-dev python3-aiosmtpd
	libuv1-dev libwebsockets-evlib-uv
)

# The WebAssembly client core (scripts/wasm, web/core): the Emscripten
# toolchain, and dpkg-source for Debian's libsodium and jansson sources.
# Installed by em_wasm_deps, for scripts/run, scripts/test and scripts/wasm,
# not by em_deps: the server alone does not need them.
EM_WASM_DEB_PACKAGES=(emscripten dpkg-dev)

# Browser tests (scripts/test only): Chromium for Playwright; and what
# Debian 12's Node 18 needs to run beside another node, so that
# tests/wasm/run.sh also checks the WebAssembly core under it. Its nodejs and
# libnode108 packages are not installed (they conflict with a Node from
# elsewhere) but unpacked into a cache directory; these are the shared
# libraries and the JavaScript it loads from the system.
EM_BROWSER_DEB_PACKAGES=(
	chromium
	libbrotli1 libc-ares2 libicu72 libnghttp2-14 libuv1
	node-acorn node-cjs-module-lexer node-undici
)

em_log() {
	printf '==> %s\n' "$*" >&2
}

em_warn() {
	printf 'warning: %s\n' "$*" >&2
}

em_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

em_is_root() {
	[[ "$(id -u)" -eq 0 ]]
}

# Runs a command as root: directly when we are root, else through sudo.
em_as_root() {
	if em_is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		if sudo -n true 2>/dev/null; then
			sudo -n "$@"
		else
			sudo "$@"
		fi
	else
		em_die "need root to run '$*': run as root or install sudo"
	fi
}

# Prints the packages of "$@" that are not installed.
em_missing_packages() {
	local pkg status
	for pkg in "$@"; do
		status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
		if [[ "$status" != "installed" ]]; then
			printf '%s\n' "$pkg"
		fi
	done
}

# em_install_missing WHAT PACKAGE...: installs the packages that are missing.
# `apt-get update` runs only when something has to be installed.
em_install_missing() {
	local what="$1" missing_pkgs
	shift
	mapfile -t missing_pkgs < <(em_missing_packages "$@")
	if ((${#missing_pkgs[@]} == 0)); then
		em_log "$what: all $# packages present"
		return 0
	fi
	em_log "$what: installing ${missing_pkgs[*]}"
	em_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	em_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing_pkgs[@]}" ||
		em_die "apt-get could not install ${missing_pkgs[*]}"
}

# Installs the project's Debian packages that are missing.
em_deps() {
	local -a wanted_pkgs
	wanted_pkgs=("${EM_DEB_PACKAGES[@]}")
	# Node 20 may come from elsewhere (the Debian npm package conflicts with
	# it): install Debian's nodejs and npm only when there is no node at all.
	if ! command -v node >/dev/null 2>&1; then
		wanted_pkgs+=(nodejs npm)
	fi
	em_install_missing deps "${wanted_pkgs[@]}"
	if ! command -v npm >/dev/null 2>&1; then
		em_die "node is installed but npm is not: install npm for that node"
	fi
}

# The Emscripten toolchain for scripts/wasm.
em_wasm_deps() {
	em_install_missing wasm-deps "${EM_WASM_DEB_PACKAGES[@]}"
}

# Chromium and what Debian's Node 18 needs, for the browser tests.
em_browser_deps() {
	em_install_missing browser-deps "${EM_BROWSER_DEB_PACKAGES[@]}"
}

# em_web_assemble DEST: the web app ementord serves (--web-dir) in DEST:
# DEST/index.html and DEST/app/ with web/app's modules, style sheet and icon
# and the WebAssembly client core from build-wasm/core/dist (scripts/wasm
# builds it; $EMENTOR_WASM_DIST instead). DEST/app is emptied first, so a
# file removed from web/app is not served any more.
em_web_assemble() {
	local dest="$1" dist="${EMENTOR_WASM_DIST:-$EM_ROOT/build-wasm/core/dist}" f
	for f in ementor-client.mjs ementor-core.mjs ementor-core-wasm.mjs ementor-core-wasm.wasm; do
		[[ -f "$dist/$f" ]] || em_die "no $dist/$f: run scripts/wasm first"
	done
	rm -rf "$dest/app"
	mkdir -p "$dest/app"
	cp "$EM_ROOT/web/app/index.html" "$dest/index.html"
	cp "$EM_ROOT"/web/app/*.mjs "$EM_ROOT"/web/app/*.css "$EM_ROOT"/web/app/*.svg "$dest/app/"
	cp "$dist"/ementor-client.mjs "$dist"/ementor-core.mjs "$dist"/ementor-core-wasm.mjs \
		"$dist"/ementor-core-wasm.wasm "$dest/app/"
}

# The environment emcc needs here: Debian's emscripten runs its JavaScript
# tools with a node that does not search /usr/share/nodejs (where acorn is).
em_wasm_env() {
	export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
	command -v emcc >/dev/null 2>&1 || em_die "emcc not found: run scripts/wasm (it installs emscripten)"
}

# The project's cache of things built or fetched once per machine (the
# WebAssembly build's libraries, Debian's Node 18): $EMENTOR_CACHE, by
# default ~/.cache/ementor.
em_cache_dir() {
	printf '%s\n' "${EMENTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ementor}"
}

# Prints the path of a script that runs Debian 12's Node 18 (for the
# WebAssembly tests and bench/wasm.sh): the nodejs and libnode108 packages
# (apt's candidate version), downloaded and unpacked into the cache, not
# installed (they would replace a node from elsewhere). The libraries and
# JavaScript it takes from the system are in EM_BROWSER_DEB_PACKAGES.
em_debian_node18() {
	local version dir deb multiarch
	multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)" ||
		em_die "dpkg-architecture not found: run scripts/deps"
	version="$(apt-cache policy libnode108 2>/dev/null | sed -nE 's/^ *Candidate: (.+)$/\1/p')"
	[[ -n "$version" && "$version" != "(none)" ]] ||
		em_die "apt knows no libnode108 (Debian 12's Node 18): run apt-get update"
	dir="$(em_cache_dir)/debian-node/$version"
	if [[ ! -x "$dir/node" ]]; then
		mkdir -p "$(em_cache_dir)/debian-node"
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		local -a opts=(-q)
		if em_is_root; then
			opts+=(-o APT::Sandbox::User=root)
		fi
		(cd "$dir.tmp" && apt-get "${opts[@]}" download "nodejs=$version" "libnode108=$version") >&2 ||
			em_die "apt-get download nodejs=$version libnode108=$version failed"
		for deb in "$dir.tmp"/*.deb; do
			dpkg-deb -x "$deb" "$dir.tmp/root" || em_die "dpkg-deb could not unpack $deb"
		done
		cat >"$dir.tmp/node" <<-EOF
			#!/bin/sh
			# Debian's node $version, unpacked by scripts/lib.sh (em_debian_node18)
			LD_LIBRARY_PATH="$dir/root/usr/lib/$multiarch\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/root/usr/bin/node" "\$@"
		EOF
		chmod +x "$dir.tmp/node"
		rm -f "$dir.tmp"/*.deb
		mv "$dir.tmp" "$dir"
	fi
	"$dir/node" --version >/dev/null 2>&1 ||
		em_die "Debian's node $version does not start ($dir/node): are ${EM_BROWSER_DEB_PACKAGES[*]} installed? (scripts/test installs them)"
	printf '%s\n' "$dir/node"
}

# Build directory for a build type: build/ for Debug and Release, build-asan/
# for Asan.
em_build_dir() {
	case "$1" in
	Asan) printf '%s/build-asan\n' "$EM_ROOT" ;;
	*) printf '%s/build\n' "$EM_ROOT" ;;
	esac
}

# em_build TYPE [extra cmake arguments...]: configure (warnings are errors)
# and build with two jobs.
em_build() {
	local type="$1" dir
	shift
	case "$type" in
	Debug | Release | Asan) ;;
	*) em_die "unknown build type '$type' (Debug, Release or Asan)" ;;
	esac
	dir="$(em_build_dir "$type")"
	em_log "build: $type in ${dir#"$EM_ROOT"/}"
	cmake -S "$EM_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DEMENTOR_WERROR=ON "$@" >/dev/null ||
		return 1
	cmake --build "$dir" -j2
}

# ---------------------------------------------------------------------------
# Private PostgreSQL
#
# Layout of a private instance in BASE:
#   BASE/data/          PGDATA (owned by the user postgres runs as)
#   BASE/.s.PGSQL.PORT  the unix socket (no TCP: listen_addresses = '')
#   BASE/postgres.log   server log
# initdb and postgres refuse to run as root, so when we are root the files
# belong to the `postgres` system user (made by the postgresql package) and
# every server-side command runs through `runuser -u postgres --`.
# ---------------------------------------------------------------------------

em_pg_bindir() {
	local d
	for d in /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)"; do
		if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
		return 0
	fi
	em_die "PostgreSQL server binaries not found: run scripts/deps (postgresql-15)"
}

# Runs a command as the user who owns the private cluster, from / so that
# the command never depends on the caller's directory being readable.
em_pg_as_owner() {
	if em_is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# True when the cluster owner can reach DIR (every parent traversable).
em_pg_can_reach() {
	em_pg_as_owner test -x "$1" -a -w "$1"
}

# Prints the conninfo of the private cluster in BASE on PORT.
em_pg_conninfo() {
	printf 'host=%s port=%s dbname=ementor user=postgres\n' "$1" "$2"
}

# em_pg_start BASE PORT: creates (first time) and starts (when not running)
# a private cluster, waits until it accepts connections, creates database
# `ementor` when absent, and prints its conninfo on stdout.
em_pg_start() {
	local base="$1" port="$2" bindir data sock_len i running_port
	bindir="$(em_pg_bindir)"
	data="$base/data"

	sock_len=$((${#base} + ${#port} + 12))
	if ((sock_len > 100)); then
		em_die "unix socket path $base/.s.PGSQL.$port is too long (over 100 bytes): use a shorter directory"
	fi
	mkdir -p "$base"
	if em_is_root; then
		id postgres >/dev/null 2>&1 || em_die "no 'postgres' user: run scripts/deps (postgresql-15)"
		chown postgres: "$base"
		chmod 700 "$base"
	fi
	em_pg_can_reach "$base" || em_die "the postgres user cannot reach $base (a parent directory is not traversable)"

	if [[ ! -f "$data/PG_VERSION" ]]; then
		em_log "postgres: initdb in $data"
		em_pg_as_owner "$bindir/initdb" --pgdata="$data" --username=postgres --auth=trust \
			--encoding=UTF8 --no-locale --no-instructions >"$base/initdb.log" 2>&1 ||
			{
				cat "$base/initdb.log" >&2
				em_die "initdb failed"
			}
		# Settings of ours live in their own file, included once; they are
		# rewritten at every start (so a moved directory still works).
		printf "\ninclude_if_exists = 'ementor.conf'\n" | em_pg_as_owner tee -a "$data/postgresql.conf" >/dev/null
	fi

	if em_pg_as_owner "$bindir/pg_ctl" status --pgdata="$data" >/dev/null 2>&1; then
		em_log "postgres: already running in $data"
		# line 4 of postmaster.pid is the port it really listens on
		running_port="$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)"
		if [[ -n "$running_port" && "$running_port" != "$port" ]]; then
			em_warn "the running cluster uses port $running_port, not $port (restart it to change)"
			port="$running_port"
		fi
	else
		em_pg_as_owner tee "$data/ementor.conf" >/dev/null <<-EOF
			# Written by scripts/lib.sh (em_pg_start) at every start.
			listen_addresses = ''
			unix_socket_directories = '$base'
			unix_socket_permissions = 0777
			port = $port
			fsync = on
			synchronous_commit = on
			full_page_writes = on
			shared_buffers = 32MB
			max_connections = 100
			logging_collector = off
			log_min_messages = warning
		EOF
		em_log "postgres: starting in $data (socket $base, port $port)"
		em_pg_as_owner "$bindir/pg_ctl" start --pgdata="$data" --log="$base/postgres.log" \
			--wait --timeout=60 --silent >/dev/null ||
			{
				tail -n 30 "$base/postgres.log" >&2 || true
				em_die "PostgreSQL did not start (log: $base/postgres.log)"
			}
	fi
	for ((i = 0; i < 120; i++)); do
		if "$bindir/pg_isready" --host="$base" --port="$port" --quiet; then
			break
		fi
		sleep 0.5
	done
	"$bindir/pg_isready" --host="$base" --port="$port" --quiet ||
		em_die "PostgreSQL in $base does not accept connections"

	if [[ "$("$bindir/psql" --no-psqlrc -h "$base" -p "$port" -U postgres -d postgres -tAq \
		-c "SELECT 1 FROM pg_database WHERE datname = 'ementor'")" != "1" ]]; then
		"$bindir/psql" --no-psqlrc -h "$base" -p "$port" -U postgres -d postgres -q \
			-c "CREATE DATABASE ementor" >/dev/null || em_die "could not create database ementor"
	fi
	em_pg_conninfo "$base" "$port"
}

# em_pg_stop BASE: fast shutdown of the private cluster in BASE (no-op when
# it is not running).
em_pg_stop() {
	local base="$1" bindir
	[[ -f "$base/data/PG_VERSION" ]] || return 0
	bindir="$(em_pg_bindir)"
	if em_pg_as_owner "$bindir/pg_ctl" status --pgdata="$base/data" >/dev/null 2>&1; then
		em_log "postgres: stopping $base"
		em_pg_as_owner "$bindir/pg_ctl" stop --pgdata="$base/data" --mode=fast --wait \
			--silent >/dev/null || em_warn "could not stop PostgreSQL in $base"
	fi
}

# em_tmpdir PREFIX: a fresh directory under /tmp that the postgres user can
# traverse (mktemp makes it 0700; 0755 lets runuser'd commands reach inside).
em_tmpdir() {
	local d
	d="$(mktemp -d "/tmp/$1.XXXXXX")"
	chmod 755 "$d"
	printf '%s\n' "$d"
}

# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------

# em_tls_cert DIR: a self-signed ECDSA P-256 certificate for localhost and
# 127.0.0.1 in DIR/cert.pem and DIR/key.pem, made only when absent.
em_tls_cert() {
	local dir="$1"
	if [[ -s "$dir/cert.pem" && -s "$dir/key.pem" ]]; then
		return 0
	fi
	mkdir -p "$dir"
	em_log "tls: creating a self-signed certificate in $dir"
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$dir/key.pem" -out "$dir/cert.pem" -days 825 -subj "/CN=localhost" \
			-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			-addext "extendedKeyUsage=serverAuth" 2>/dev/null
	) || em_die "openssl could not create a certificate in $dir"
	chmod 644 "$dir/cert.pem"
}

# ---------------------------------------------------------------------------
# A real ementord for black-box tests
# ---------------------------------------------------------------------------

# Prints a TCP port on 127.0.0.1 that nothing listens on right now.
em_free_port() {
	local port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	em_die "no free TCP port found"
}

# em_server_start LOGFILE CERT KEY CONNINFO [extra ementord args...]
# Starts ementord (from $EMENTOR_BIN_DIR, default build/bin) in the background
# on a free port of 127.0.0.1,
# waits until https://127.0.0.1:PORT/healthz answers, and sets EM_SERVER_PID,
# EM_SERVER_PORT and EM_SERVER_URL (wss://127.0.0.1:PORT). Tries a few ports
# in case another process takes the chosen one in between.
em_server_start() {
	local log="$1" cert="$2" key="$3" db="$4" bin attempt i port pid
	shift 4
	bin="${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}/ementord"
	[[ -x "$bin" ]] || {
		em_warn "$bin does not exist (is the server written yet?)"
		return 1
	}
	for ((attempt = 0; attempt < 3; attempt++)); do
		port="$(em_free_port)"
		"$bin" serve --listen 127.0.0.1 --port "$port" --cert "$cert" --key "$key" \
			--db "$db" "$@" >>"$log" 2>&1 &
		pid=$!
		for ((i = 0; i < 150; i++)); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			if curl -fsS --max-time 2 --cacert "$cert" "https://127.0.0.1:$port/healthz" \
				>/dev/null 2>&1; then
				EM_SERVER_PID="$pid"
				EM_SERVER_PORT="$port"
				EM_SERVER_URL="wss://127.0.0.1:$port"
				export EM_SERVER_PID EM_SERVER_PORT EM_SERVER_URL
				em_log "ementord: pid $pid on $EM_SERVER_URL"
				return 0
			fi
			sleep 0.2
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			em_warn "ementord did not answer /healthz within 30 s"
			break
		fi
		wait "$pid" 2>/dev/null || true
		em_warn "ementord exited during start-up (attempt $((attempt + 1)))"
	done
	tail -n 40 "$log" >&2 || true
	return 1
}

# Stops the server started by em_server_start: SIGTERM, then SIGKILL after 10 s.
em_server_stop() {
	local pid="${EM_SERVER_PID:-}" i
	[[ -n "$pid" ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			em_warn "ementord (pid $pid) ignored SIGTERM for 10 s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	EM_SERVER_PID=""
}
