#!/usr/bin/env bash
# tests/e2e/deploy_files.sh - keeps the deployment files in docker/ in step
# with scripts/ and with the real ementord. No container engine runs on the
# build machines, so nothing else would notice when they drift apart. Needs
# no database; runs the built ementord only to ask it for --help and to make
# it parse a config file.
#
# Rules checked (each failure names the file and the offending word):
#
#  Packages
#   1. The build stage (first FROM) of docker/Dockerfile installs exactly the
#      build subset of EM_DEB_PACKAGES in scripts/lib.sh: the toolchain
#      (build-essential, cmake, pkg-config) and every lib*-dev package, except
#      the clang fuzzing/sanitizer runtimes libfuzzer-N-dev and
#      libclang-rt-N-dev (only scripts/fuzz uses them). Both directions: a
#      package missing from either side fails. The rest of EM_DEB_PACKAGES is
#      for testing, the private PostgreSQL and certificates on the host.
#   2. The runtime stage (last FROM) installs the Debian package of every
#      shared library ementord links against (readelf -d NEEDED, looked up
#      with dpkg-query -S; libc6 and the sanitizer runtimes are left out, and
#      a library that a listed package depends on counts as installed), and
#      nothing else that is not in EM_DEB_PACKAGES (curl, ca-certificates).
#
#  Flags and environment
#   3. Every --flag given to ementord in docker/ (on a line that runs
#      ementord: after the word "ementord", up to the next &&, ;, | or ],
#      comment lines included; and every --flag of a compose `command:`,
#      which the entrypoint passes on) is in `ementord --help`.
#   4. The entrypoint passes every flag that scripts/run passes (its
#      `exec "$bin" ...` line).
#   5. Every EMENTOR_NAME variable in docker/ is an option's variable
#      (EMENTOR_ + the option in upper case, dashes as underscores), or one of
#      the entrypoint's own: EMENTOR_DB_FILE, EMENTOR_DB_PASSWORD_FILE
#      (CMake's -DEMENTOR_* options are not variables and are not checked).
#
#  Example config (docker/ementord.conf.example)
#   6. Its keys (active "name = value" lines and disabled "#name = value"
#      lines, no space after the #) are all options of `ementord --help`, and
#      every option but --config is among them.
#   7. With every disabled line enabled, ementord accepts the file: it runs
#      `ementord serve --config FILE --cert "" --key ""` with no EMENTOR_*
#      variables, which parses the whole configuration and then stops, before
#      touching the database, with "--cert and --key are required" (exit 2).
#      ementord has no check-only mode; this is the path that parses and exits.
#      The same run on a file with an unknown key must fail with "unknown
#      option", so this check cannot pass by accident.
#   8. Where `ementord --help` states a default "(default N)", the example
#      shows that value.
#
#  systemd unit
#   9. If systemd-analyze exists, `systemd-analyze verify` of
#      docker/ementord.service (ExecStart pointed at the built binary) prints
#      nothing.
#
# EMENTOR_DEPLOY_DIR checks another copy of docker/ (default: docker/ of this
# tree), e.g. a deliberately broken one to see this test fail.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

BIN="${EMENTOR_BIN_DIR:-$EM_ROOT/build/bin}"
DEPLOY="${EMENTOR_DEPLOY_DIR:-$EM_ROOT/docker}"
DOCKERFILE="$DEPLOY/Dockerfile"
ENTRYPOINT="$DEPLOY/entrypoint.sh"
COMPOSE="$DEPLOY/compose.yml"
UNIT="$DEPLOY/ementord.service"
EXAMPLE="$DEPLOY/ementord.conf.example"
DEPLOY_FILES=("$DOCKERFILE" "$ENTRYPOINT" "$COMPOSE" "$UNIT" "$EXAMPLE")
IMAGE_OWN_VARS=(EMENTOR_DB_FILE EMENTOR_DB_PASSWORD_FILE)

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "ok   - $1"
}
not_ok() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	[[ -z "${2:-}" ]] || printf '       %s\n' "$2"
}
# check NAME PROBLEMS: ok when PROBLEMS is empty, else FAIL listing them.
check() {
	if [[ -z "$2" ]]; then ok "$1"; else not_ok "$1" "$(tr '\n' ' ' <<<"$2")"; fi
}

T="$(mktemp -d /tmp/ementor-deploy.XXXXXX)"
trap 'rm -rf "$T"' EXIT

for f in "${DEPLOY_FILES[@]}" "$BIN/ementord"; do
	[[ -e "$f" ]] || {
		not_ok "$f exists"
		echo
		echo "$passed passed, $failed failed"
		exit 1
	}
done

# Non-comment lines with backslash continuations joined: one logical line each.
logical_lines() {
	sed -E '/^[[:space:]]*[#;]/d' "$1" |
		awk '{ if (sub(/\\$/, "")) { buf = buf $0 " "; next } print buf $0; buf = "" }
		     END { if (buf != "") print buf }'
}

# The logical lines of Dockerfile stage N (1 = first FROM; "last" = last FROM).
dockerfile_stage() {
	local n="$1"
	if [[ "$n" == last ]]; then
		n="$(logical_lines "$DOCKERFILE" | { grep -ciE '^[[:space:]]*FROM[[:space:]]' || true; })"
	fi
	logical_lines "$DOCKERFILE" | awk -v want="$n" 'toupper($1) == "FROM" { stage++ } stage == want'
}

# stdin: lines; stdout: the packages of every `apt-get install`, sorted.
apt_installs() {
	{ grep -oE 'apt-get([[:space:]]+-[^[:space:]]+)*[[:space:]]+install[^&;|]*' || true; } |
		sed -E 's/^apt-get([[:space:]]+-[^[:space:]]+)*[[:space:]]+install//' |
		tr -s ' \t' '\n' | { grep -vE '^(-|$)' || true; } | sort -u
}

# stdin: text; stdout: the --flags given to ementord, one a line: the words
# after "ementord" (a word of its own, not ementord-entrypoint) up to the next
# &&, ;, | or ] (the end of a JSON exec array).
ementord_flags() {
	{ grep -oE '(^|[^A-Za-z0-9_.-])ementord([[:space:]"'"'"',][^]&;|]*)?' || true; } |
		sed -E 's/^[^e]*ementord//' |
		{ grep -oE -- '(^|[[:space:]"'"'"'])--[a-z][a-z0-9-]*' || true; } |
		sed -E 's/^[^-]*//'
}

# The lines of list $1 that are not in list $2.
only_in() {
	comm -23 <(sort -u <<<"$1") <(sort -u <<<"$2") | sed '/^$/d'
}

# --- what ementord and scripts/ say ------------------------------------------

help="$("$BIN/ementord" --help)"
help_flags="$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)"
help_options="$(sed -nE 's/^  --([a-z][a-z0-9-]*).*/\1/p' <<<"$help" | sort -u)"
if [[ -z "$help_options" ]] || ! grep -qx db <<<"$help_options"; then
	not_ok "ementord --help lists its options" "no '  --db' line in: $help"
fi
lib_packages="$(printf '%s\n' "${EM_DEB_PACKAGES[@]}" | sort -u)"

# --- 1. build stage packages -------------------------------------------------

want_build="$(grep -E '^(build-essential|cmake|pkg-config|lib.*-dev)$' <<<"$lib_packages" |
	{ grep -vE '^lib(fuzzer|clang-rt)-[0-9]+-dev$' || true; })"
have_build="$(dockerfile_stage 1 | apt_installs)"
check "Dockerfile build stage installs every build package of scripts/lib.sh" \
	"$(only_in "$want_build" "$have_build" | sed 's/$/ (missing from Dockerfile)/')"
check "Dockerfile build stage installs nothing outside that build subset" \
	"$(only_in "$have_build" "$want_build" | sed 's/$/ (not a build package of scripts\/lib.sh)/')"

# --- 2. runtime stage packages -----------------------------------------------

have_runtime="$(dockerfile_stage last | apt_installs)"
if command -v readelf >/dev/null && command -v dpkg-query >/dev/null; then
	needed_pkgs=""
	unknown=""
	while read -r soname; do
		case "$soname" in
		libc.so.* | ld-linux* | libasan.so.* | libubsan.so.* | liblsan.so.* | libtsan.so.*) continue ;;
		esac
		pkg="$(dpkg-query -S "*/$soname" 2>/dev/null | sed -E 's/[:,].*//' | sort -u | head -n1 || true)"
		if [[ -z "$pkg" ]]; then
			unknown+="$soname "
		else
			needed_pkgs+="$pkg"$'\n'
		fi
	done < <(readelf -d "$BIN/ementord" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p')
	needed_pkgs="$(sed '/^$/d' <<<"$needed_pkgs" | sort -u)"
	# What the listed packages bring with them (their Depends, one level).
	closure="$have_runtime"
	while read -r pkg; do
		[[ -n "$pkg" ]] || continue
		deps="$(dpkg-query -W -f='${Depends}\n' "$pkg" 2>/dev/null || true)"
		closure+=$'\n'"$(tr ',|' '\n' <<<"$deps" | sed -E 's/^[[:space:]]*//; s/[[:space:](:].*//' | sed '/^$/d')"
	done <<<"$have_runtime"
	check "every shared library of ementord is in the runtime stage" \
		"$unknown$(only_in "$needed_pkgs" "$closure" | sed 's/$/ (missing from the runtime stage)/')"
	check "the runtime stage installs only those libraries and packages of scripts/lib.sh" \
		"$(only_in "$have_runtime" "$(printf '%s\n%s\n' "$needed_pkgs" "$lib_packages")" |
			sed 's/$/ (neither a library of ementord nor in scripts\/lib.sh)/')"
else
	not_ok "readelf and dpkg-query are installed (binutils, dpkg)"
fi

# --- 3. flags given to ementord ----------------------------------------------

bad=""
for f in "$DOCKERFILE" "$ENTRYPOINT" "$UNIT" "$EXAMPLE" "$COMPOSE"; do
	used="$({
		logical_lines "$f"
		grep -E '^[[:space:]]*[#;]' "$f" || true
	} | ementord_flags)"
	if [[ "$f" == "$COMPOSE" ]]; then
		used+=$'\n'"$({ grep -E '^[[:space:]]*command:' "$f" || true; } |
			{ grep -oE -- '--[a-z][a-z0-9-]*' || true; })"
	fi
	bad+="$(only_in "$used" "$help_flags" | sed "s|\$| (${f#"$DEPLOY"/})|")"$'\n'
done
check "every --flag given to ementord in docker/ is in ementord --help" "$(sed '/^$/d' <<<"$bad")"

# --- 4. the entrypoint passes what scripts/run passes -----------------------

# shellcheck disable=SC2016 # a literal $bin
run_flags="$({ grep -E '^[[:space:]]*exec "\$bin"' "$EM_ROOT/scripts/run" || true; } |
	{ grep -oE -- '--[a-z][a-z0-9-]*' || true; })"
entry_flags="$(logical_lines "$ENTRYPOINT" | { grep -E '^[[:space:]]*exec .*ementord' || true; } | ementord_flags)"
if [[ -z "$run_flags" ]]; then
	not_ok "scripts/run runs ementord with flags" "no 'exec \"\$bin\" --flag ...' line in scripts/run"
elif [[ -z "$entry_flags" ]]; then
	not_ok "the entrypoint execs ementord with flags" "no 'exec .../ementord ...' line in entrypoint.sh"
else
	check "the entrypoint passes every flag scripts/run passes ($(paste -sd' ' <<<"$run_flags"))" \
		"$(only_in "$run_flags" "$entry_flags" | sed 's/$/ (missing from entrypoint.sh)/')"
fi

# --- 5. EMENTOR_* variables ---------------------------------------------------

known_vars="$(sed -E 's/-/_/g; s/.*/EMENTOR_\U&/' <<<"$help_options"; printf '%s\n' "${IMAGE_OWN_VARS[@]}")"
used_vars="$(cat "${DEPLOY_FILES[@]}" | { grep -oE '(^|[^A-Za-z0-9_])EMENTOR_[A-Z0-9_]+' || true; } |
	sed -E 's/^[^E]//' | sort -u)"
check "every EMENTOR_* variable in docker/ belongs to an option or the entrypoint" \
	"$(only_in "$used_vars" "$known_vars")"

# --- 6-8. the example config ------------------------------------------------

key_re='^#?[[:space:]]*([a-z][a-z0-9-]*)[[:space:]]*(=.*)?$'
example_keys="$(grep -E '^(#[a-z]|[[:space:]]*[a-z])' "$EXAMPLE" | sed -nE "s/$key_re/\\1/p" | sort -u)"
check "every key in the example config is an option of ementord --help" \
	"$(only_in "$example_keys" "$help_options")"
check "every option of ementord --help (but --config) is in the example config" \
	"$(only_in "$(grep -vx config <<<"$help_options")" "$example_keys" | sed 's/$/ (missing)/')"

# Parse the file with every option enabled; a clean run stops at the
# certificate check, before any database work.
sed -E 's/^#([a-z])/\1/' "$EXAMPLE" >"$T/all.conf"
parse_config() {
	local rc=0 out name
	local -a clean_env=()
	while read -r name; do
		clean_env+=(-u "$name")
	done < <(compgen -e | grep '^EMENTOR_' || true)
	out="$(env "${clean_env[@]}" "$BIN/ementord" serve --config "$1" --cert "" --key "" 2>&1)" || rc=$?
	printf '%s\n%s\n' "$rc" "$out"
}
result="$(parse_config "$T/all.conf")"
if [[ "$(head -n1 <<<"$result")" == 2 ]] && grep -q -- '--cert and --key are required' <<<"$result"; then
	ok "ementord accepts the example config with every option enabled"
else
	not_ok "ementord accepts the example config with every option enabled" "$(tail -n +2 <<<"$result")"
fi
printf 'port = 8443\nno-such-option = 1\n' >"$T/unknown.conf"
result="$(parse_config "$T/unknown.conf")"
if [[ "$(head -n1 <<<"$result")" == 2 ]] && grep -q 'unknown option "no-such-option"' <<<"$result"; then
	ok "the same check refuses an unknown key"
else
	not_ok "the same check refuses an unknown key" "$(tail -n +2 <<<"$result")"
fi

bad=""
while read -r name value; do
	shown="$(sed -nE "s/^#?[[:space:]]*${name}[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*\$/\\1/p" "$EXAMPLE" | head -n1)"
	[[ "$shown" == "$value" ]] || bad+="$name shows '$shown', --help says $value"$'\n'
done < <(sed -nE 's/^  --([a-z][a-z0-9-]*)( V)? .*\(default ([^):]+)\).*/\1 \3/p' <<<"$help")
check "the example config shows the defaults ementord --help states" "$bad"

# --- 9. the systemd unit ----------------------------------------------------

if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/local/bin/ementord|$BIN/ementord|g" "$UNIT" >"$T/ementord.service"
	out="$(systemd-analyze verify "$T/ementord.service" 2>&1)" || out+=" (exit $?)"
	check "systemd-analyze verify finds nothing to say about ementord.service" "$out"
else
	echo "skip - systemd-analyze is not installed: the unit is not verified"
fi

echo
echo "$passed passed, $failed failed"
((failed == 0))
