# shellcheck shell=bash
# bench-lib.sh - the helpers that scripts/benchmark.sh and scripts/benchmark-relay.sh share. Both
# source it (`. "$here/bench-lib.sh"`); it only defines functions, and does nothing by itself.
#
# The sourcing script sets bench_name (the prefix of say's messages) before it sources this file.
# It holds:
#   say, die                  messages on stderr, "$bench_name: ..."; die exits 1
#   check_size, check_runs_settle, size_mib
#                             the settings both read: sizes (BENCH_RAM), BENCH_RUNS, BENCH_SETTLE
#   as_root, install_gnu_time GNU time (Debian package `time`) for peak RSS; sets have_time
#   make_work, cleanup, forget, shm_has_room
#                             the temporary directory $work, the children in pids (ended on
#                             exit), $shmdir in /dev/shm (removed on exit)
#   free_port, listening_port TCP ports on 127.0.0.1
#   peak_rss_mib, median_min_max, ratio, fmt
#                             figures for the report
#   pick_json_tool, ret       the final {"return": ...} record of an NDJSON file (send --json)

# shellcheck disable=SC2154  # bench_name: set by the benchmark before it sources this file
say() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
die() { say "$*"; exit 1; }

# --- settings ---------------------------------------------------------------------------------

# check_size NAME VALUE - stop unless VALUE, the value of the setting NAME, looks like 256M or 1G.
check_size() {
    case "$2" in
        [0-9]*[MG]) ;;
        *) die "$1 must look like 256M or 1G, not '$2'" ;;
    esac
}

# check_runs_settle RUNS SETTLE - stop unless RUNS (BENCH_RUNS) is a number of runs, 1 or more,
# and SETTLE (BENCH_SETTLE) a whole number of seconds.
check_runs_settle() {
    [[ "$1" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a number of runs (1 or more), not '$1'"
    [[ "$2" =~ ^[0-9]+$ ]] || die "BENCH_SETTLE must be a whole number of seconds, not '$2'"
}

# size_mib SIZE - SIZE, as check_size lets it through (256M, 2G), in MiB.
size_mib() {
    local mib=${1%?}
    [ "${1: -1}" = G ] && mib=$((mib * 1024))
    echo "$mib"
}

# --- GNU time ---------------------------------------------------------------------------------

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

# install_gnu_time WHAT FIGURE - install GNU time (package time) when /usr/bin/time is missing,
# with sudo if not root, saying it is "to measure WHAT", or that FIGURE "will be n/a" when that
# fails; then set have_time to 1 when /usr/bin/time is there, else 0.
install_gnu_time() {
    if [ ! -x /usr/bin/time ]; then
        say "installing GNU time (package time) to measure $1"
        # shellcheck disable=SC2015  # either failing means no GNU time: say so either way
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null \
            || say "could not install GNU time: $2 will be n/a"
    fi
    # shellcheck disable=SC2034  # read by the benchmarks
    if [ -x /usr/bin/time ]; then have_time=1; else have_time=0; fi
}

# --- temporary files and children -------------------------------------------------------------

# make_work NAME - make the temporary directory work (NAME.XXXXXX in $TMPDIR, else /tmp), empty
# the list pids of the children to end on exit and shmdir (a directory in /dev/shm, made by the
# benchmark when shm_has_room), and remove both directories on exit (INT and TERM: exit 130).
make_work() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    pids=()
    shmdir=""
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local p
    for p in "${pids[@]}"; do      # our own children, and theirs (GNU time's child)
        pkill -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    rm -rf "$work" ${shmdir:+"$shmdir"}
}

# forget PID - drop a child that has been waited for from pids: with repeated runs the list
# would otherwise grow with ids the system may since have given to other processes.
forget() {
    local p keep=()
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    pids=("${keep[@]}")
}

# shm_has_room MIB - whether /dev/shm is there, writable, and has room for two guests of MIB MiB
# and 256 MiB more.
shm_has_room() {
    [ -d /dev/shm ] && [ -w /dev/shm ] \
        && [ "$(df -Pm /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((2 * $1 + 256)) ]
}

# --- ports ------------------------------------------------------------------------------------

# free_port - a TCP port on 127.0.0.1 that is free right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# listening_port FILE PID - the port of the first "listening on tcp:127.0.0.1:PORT" in FILE, the
# stderr of PID (vm-migrate receive or relay, which prints the port it listens on); waits for it
# up to 30 s while PID runs, and prints nothing when there is none.
listening_port() {
    local port="" i
    for ((i = 0; i < 300; i++)); do
        port=$(grep -o 'listening on tcp:127\.0\.0\.1:[0-9]*' "$1" 2>/dev/null | head -1 | sed 's/.*://' || true)
        [ -n "$port" ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    echo "$port"
}

# --- figures ----------------------------------------------------------------------------------

# pick_json_tool - set json_tool to jq, or python3 without it, for ret; stop when neither is there.
pick_json_tool() {
    if command -v jq >/dev/null 2>&1; then json_tool=jq
    elif command -v python3 >/dev/null 2>&1; then json_tool=python3
    else die "needs jq or python3 to read the --json output"
    fi
}

# ret FILE KEY  - KEY of the final {"return": ...} line in an NDJSON FILE (dotted for nesting:
# ram.mbps), or "n/a". Lines that are not JSON are skipped.
ret() {
    local file="$1" key="$2" v
    if [ "$json_tool" = jq ]; then
        local path=".return" part
        IFS=. read -ra parts <<<"$key"
        # shellcheck disable=SC1087  # a jq path, not a bash array
        for part in "${parts[@]}"; do path="$path[\"$part\"]"; done
        v=$(jq -rR "fromjson? | select(type == \"object\" and has(\"return\")) | $path // empty" "$file" | tail -1)
    else
        v=$(python3 - "$file" "$key" <<'PY'
import json, sys
val = None
for line in open(sys.argv[1], errors="replace"):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if isinstance(msg, dict) and "return" in msg:
        val = msg["return"]
        for k in sys.argv[2].split("."):
            val = val.get(k) if isinstance(val, dict) else None
if val is not None:
    print(val)
PY
)
    fi
    printf '%s\n' "${v:-n/a}"
}


# peak_rss_mib FILE - "Maximum resident set size" of a GNU time -v report, in MiB, or n/a.
peak_rss_mib() {
    local kb
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$1" 2>/dev/null | tail -1)
    if [ -n "$kb" ]; then echo $(((kb + 512) / 1024)); else echo n/a; fi
}

# median_min_max - "median min max" of the numbers on stdin, one a line (n/a lines left out), or
# "n/a n/a n/a" when there are none.
median_min_max() {
    awk '$1 != "n/a"' | sort -g | awk '
        { v[n++] = $1 }
        END {
            if (n == 0) { print "n/a n/a n/a"; exit }
            m = n % 2 ? v[(n - 1) / 2] : sprintf("%.15g", (v[n / 2 - 1] + v[n / 2]) / 2)
            print m, v[0], v[n - 1]
        }'
}

# ratio A B - A / B with two decimals, or n/a (either is n/a, or B is not above 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "n/a" && b != "n/a" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# fmt FORMAT VALUE - printf FORMAT VALUE, or n/a as it is.
# shellcheck disable=SC2059  # the format is the argument
fmt() { if [ "$2" = n/a ]; then echo n/a; else printf "$1" "$2"; fi; }
