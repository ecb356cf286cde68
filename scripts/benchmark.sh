#!/usr/bin/env bash
# benchmark.sh - speed and memory figures for vm-migrate, printed next to their targets.
# This is not a test: missing a target does not fail it. It exits non-zero only when a run
# could not be carried out (build failed, a migration failed, a tool is missing).
#
# Usage: scripts/benchmark.sh            (takes a few minutes)
#
#   (a) a paused 1 GiB guest, half random half zero pages, over tcp loopback, unlimited bandwidth:
#         vm-migrate receive tcp:127.0.0.1:0 --run-for 0          (under /usr/bin/time -v)
#         vm-migrate send tcp:127.0.0.1:PORT --ram 1G --fill half_random --paused \
#                    --max-bandwidth unlimited --json
#   (b) the same guest running, dirtying 64 MiB/s, default bandwidth (128M/s) and downtime limit:
#         vm-migrate send ... --workload random:64M/s --warmup 1s --json
#   (c), (c') when qemu-system-x86_64 is installed: QEMU -> QEMU on this machine, machine none,
#       source paused (-S), max-bandwidth raised (7.2's default is 128 MiB/s) to compare with (a).
#       The source's RAM is a 1 GiB memory-backend-file (share=on) holding exactly (a)'s guest
#       content, made by vm-migrate itself with (a)'s guest options (so the same --seed default):
#         vm-migrate send file:DIR/guest.mig --ram 1G --fill half_random --paused ...
#         vm-migrate inspect DIR/guest.mig --extract DIR        (writes DIR/ram.ram: block "ram")
#       with its zero pages made holes again (fallocate --dig-holes), as (a)'s zero pages are
#       untouched anonymous memory. The destination's RAM is
#         (c)  memory-backend-ram: anonymous, as vm-migrate receive's;
#         (c') memory-backend-file,share=on beside the source's file (the issue's set-up).
#       Both files live in /dev/shm when it has room (memory speed, as (a)'s RAM; on disk (c')
#       would measure the disk). After each run the destination's RAM (pmemsave for (c), its
#       file for (c')) is compared with the source's file.
#   (a), (c) and (c') run BENCH_RUNS times each (default 3), interleaved - a c c' a c c' ... -
#   so that drift on the machine hits all three alike; the table shows their medians, with the
#   total time's min-max beside it, and the peak RSS as the largest of the runs. (b) and (d)
#   run once.
#   Each of (a), (c) and (c') also runs "settled": after a pause of BENCH_SETTLE seconds (default
#   5; 0 skips these runs). On a VM whose balloon reports free memory back to the host (Firecracker
#   here: /sys/module/page_reporting), memory a run has just freed is still backed by the host
#   and is quick to fault in again, while memory free for a few seconds has been handed back and
#   is slow the first time it is touched: a huge page fault then took 1.2 s per GiB against 0.14 s.
#   Back to back, every run starts on memory the run before has just freed; settled, every run
#   starts as a destination that was idle before the migration came in. The two give very
#   different figures for QEMU (2.6 s against 0.6 s for 1 GiB), so both are shown.
#   (d) capabilities: a BENCH_CAP_RAM guest (default 512M), --fill half_random, over tcp loopback
#       into `vm-migrate receive tcp:127.0.0.1:PORT --run-for 0`, with two workloads -
#         sweep:256M/s   increments the first byte of each page in turn (XBZRLE's best case;
#                        BENCH_CAP_SWEEP sets the rate)
#         random:64M/s   rewrites whole pages with random bytes (XBZRLE cannot help)
#       - each with no capability, with --capability xbzrle=on --xbzrle-cache-size 128M (or the
#       guest's RAM when smaller) and with
#       --compress (zstd, --compress-level 1); all at --max-bandwidth 128M/s, --warmup 1s,
#       --timeout 60s. A run that does not converge within the timeout is reported as
#       "did not converge" with the figures it had then (that is a result, not a failure).
#   (e) TLS, when BENCH_TLS is not 0: the guest of (a) over tcp loopback three ways, interleaved
#       BENCH_RUNS times - plain (as (a)); both ends with --tls-creds DIR (mutual TLS); and, when
#       QEMU is there, QEMU -> QEMU as (c) with -object tls-creds-x509 on both ends (client, and
#       server with verify-peer=on) and migrate-set-parameters tls-creds on both. DIR is made
#       with openssl as the README's TLS recipe does (RSA 2048, PKCS#1 keys). The report gives
#       the TLS runs' throughput as a share of the plain run's, and vm-migrate's TLS time against
#       QEMU's.
#
# Figures come from the final {"return": query-migrate} line of `send --json` (vm-migrate) and
# from QMP query-migrate on the source (QEMU); the receiver's peak RSS is GNU time's "Maximum
# resident set size". Targets: (a)'s median total time at most half of (c)'s, and at most half
# of (c')'s; receiver RSS at most guest RAM + 128 MiB; downtime within the limit (300 ms).
#
# Environment: BENCH_RAM (guest size, default 1G; forms like 256M or 2G), BENCH_RUNS (runs of
# (a), (c) and (c'), default 3), BENCH_SETTLE (pause before a settled run, seconds, default 5;
# 0: no settled runs), BENCH_BASE=0 skips (a) and (b), BENCH_QEMU=0 skips (c) and
# (c'), BENCH_CAPS=0 skips (d), BENCH_CAP_RAM (guest size of (d), default 512M),
# BENCH_TLS=0 skips (e),
# BENCH_CAP_SWEEP (rate of (d)'s sweep workload, default 256M/s), BENCH_CAP_TIMEOUT (send
# --timeout of (d), default 60s), BENCH_CAP_XBZRLE_CACHE (default the guest size),
# VM_MIGRATE_JAR (use this jar instead of building cli/target/vm-migrate.jar).
# Installs GNU time (Debian package `time`) when /usr/bin/time is missing, with sudo if not root.
# Needs jq or python3 (to read JSON) and, for (c) and (c'), python3 (to speak QMP).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
vm="$here/vm-migrate"
ram="${BENCH_RAM:-1G}"
runs="${BENCH_RUNS:-3}"
settle_s="${BENCH_SETTLE:-5}"
run_base="${BENCH_BASE:-1}"
run_caps="${BENCH_CAPS:-1}"
run_tls="${BENCH_TLS:-1}"
cap_ram="${BENCH_CAP_RAM:-512M}"
cap_sweep="${BENCH_CAP_SWEEP:-256M/s}"
cap_timeout="${BENCH_CAP_TIMEOUT:-60s}"
cap_bandwidth=128M/s
downtime_limit_ms=300
qemu="${QEMU:-qemu-system-x86_64}"
# The guest of (a) and (b), and the content of QEMU's source RAM: one list, so that all three
# are filled by the same options (and the same default --seed).
guest=(--ram "$ram" --fill half_random)

bench_name=benchmark
# shellcheck source-path=SCRIPTDIR
. "$here/bench-lib.sh"

# --- set-up -----------------------------------------------------------------------------------

check_size BENCH_RAM "$ram"
check_size BENCH_CAP_RAM "$cap_ram"
check_runs_settle "$runs" "$settle_s"
[ -n "${BENCH_QEMU_DST:-}" ] && say "BENCH_QEMU_DST is no longer read: (c) and (c') run both destinations"
ram_mib=$(size_mib "$ram")
rss_target_mib=$((ram_mib + 128))
cap_ram_mib=$(size_mib "$cap_ram")
# XBZRLE cache for (d): 128M, or the guest's RAM when smaller (send refuses a bigger cache).
# The cache covers the whole guest by default: XBZRLE only helps pages it holds a copy of.
cap_xbzrle_cache="${BENCH_CAP_XBZRLE_CACHE:-${cap_ram_mib}M}"
if [ -z "${VM_MIGRATE_JAR:-}" ] && [ ! -f "$root/cli/target/vm-migrate.jar" ]; then
    say "building vm-migrate (./mvnw -q package -DskipTests)"
    (cd "$root" && ./mvnw -q package -DskipTests)
fi

install_gnu_time "peak RSS" "receiver RSS"

pick_json_tool

make_work vm-migrate-bench

# --- vm-migrate runs --------------------------------------------------------------------------

# vm_pair NAME SEND-ARGS... - receiver on tcp:127.0.0.1:0 (the port it prints), sender with
# SEND-ARGS; leaves NAME.send (sender NDJSON), NAME.recv (receiver NDJSON), NAME.time, and the
# exit codes in rc_send and rc_recv. A receiver still running 15 s after a failed send (at once
# after a usage error, exit 2: send never connected) is killed.
rc_send=0
rc_recv=0
recv_extra=()    # receiver options of the next vm_pair ((e): --tls-creds DIR)
vm_pair() {
    local name="$1"; shift
    local recv_out="$work/$name.recv" send_out="$work/$name.send" timef="$work/$name.time"
    local wrap=() port="" rpid i
    rc_send=0; rc_recv=0
    [ "$have_time" = 1 ] && wrap=(/usr/bin/time -v -o "$timef")
    "${wrap[@]}" "$vm" receive tcp:127.0.0.1:0 --run-for 0 --json --progress none ${recv_extra[@]+"${recv_extra[@]}"} \
        2>"$recv_out" &
    rpid=$!; pids+=("$rpid")
    port=$(listening_port "$recv_out" "$rpid")
    if [ -z "$port" ]; then
        cat "$recv_out" >&2
        die "$name: the receiver did not report a port"
    fi
    say "$name: vm-migrate send tcp:127.0.0.1:$port $*"
    "$vm" send "tcp:127.0.0.1:$port" "$@" --json --progress none 2>"$send_out" || rc_send=$?
    if [ "$rc_send" -ne 0 ]; then         # the receiver should fail on the cut stream; make sure
        for ((i = 0; i < 150 && rc_send != 2; i++)); do     # 2: bad usage, never connected
            kill -0 "$rpid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$rpid" 2>/dev/null; then
            [ "$rc_send" != 2 ] && say "$name: the receiver is still running 15 s after send failed: killing it"
            pkill -P "$rpid" 2>/dev/null || true
            kill "$rpid" 2>/dev/null || true
        fi
    fi
    wait "$rpid" || rc_recv=$?
    forget "$rpid"
}

# vm_run NAME SEND-ARGS... - vm_pair, and stop the benchmark unless both sides exited 0.
vm_run() {
    local name="$1"; shift
    local recv_out="$work/$name.recv" send_out="$work/$name.send"
    vm_pair "$name" "$@"
    if [ "$rc_send" -ne 0 ] || [ "$rc_recv" -ne 0 ]; then
        say "$name: send exited $rc_send, receive exited $rc_recv"
        grep -v '"MIGRATION_PASS"' "$send_out" "$recv_out" >&2 || true
        die "$name: migration did not complete"
    fi
    say "$name: completed: total $(ret "$send_out" total-time) ms, downtime $(ret "$send_out" downtime) ms"
}

# --- QEMU -> QEMU -----------------------------------------------------------------------------

qemu_on=0
qemu_version=""
if [ "${BENCH_QEMU:-1}" != 0 ] && command -v "$qemu" >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    qemu_on=1
    qemu_version=$("$qemu" --version | head -1 | sed 's/^QEMU emulator version //')
elif [ "${BENCH_QEMU:-1}" != 0 ]; then
    say "c: $qemu (or python3) not installed: skipping QEMU -> QEMU (apt-get install qemu-system-x86)"
fi

# The source's RAM file, and (c')'s destination file or (c)'s pmemsave dump beside it, live in
# /dev/shm when there is room for two guests (memory speed, as vm-migrate's anonymous RAM);
# making the source's file briefly needs about one and a half (the stream, then its RAM).
ramdir="$work/ram"
src_ram="$ramdir/ram.ram"        # inspect --extract writes DIR/<block>.ram; send's block is "ram"
dst_ram="$ramdir/dst.ram"
# shellcheck disable=SC2054  # the commas belong to QEMU's option values
qemu_common=(-machine none,memory-backend=mem -nodefaults -display none -accel tcg)

# qemu_source_ram - write $src_ram: (a)'s guest, sent to a file by vm-migrate, its RAM extracted.
qemu_source_ram() {
    local mig size
    if shm_has_room "$ram_mib"; then
        shmdir=$(mktemp -d /dev/shm/vm-migrate-bench.XXXXXX)
        ramdir="$shmdir"
        src_ram="$ramdir/ram.ram"
        dst_ram="$ramdir/dst.ram"
    else
        mkdir -p "$ramdir"
    fi
    mig="$ramdir/guest.mig"
    say "c: QEMU's source RAM: vm-migrate send file:$mig ${guest[*]} --paused, then inspect --extract"
    "$vm" send "file:$mig" "${guest[@]}" --paused --max-bandwidth unlimited --json --progress none \
        2>"$work/guest.send" || { cat "$work/guest.send" >&2; die "c: vm-migrate send to $mig failed"; }
    "$vm" inspect "$mig" --extract "$ramdir" >"$work/guest.inspect" 2>&1 \
        || { cat "$work/guest.inspect" >&2; die "c: vm-migrate inspect --extract $ramdir failed"; }
    rm -f "$mig"
    [ -f "$src_ram" ] || die "c: inspect --extract wrote no $src_ram (found: $(ls "$ramdir"))"
    size=$(stat -c %s "$src_ram")
    [ "$size" -eq $((ram_mib << 20)) ] || die "c: $src_ram holds $size bytes, not ${ram_mib} MiB"
}

# The QMP side of a QEMU run: raise the source's max-bandwidth, migrate, wait for both ends,
# print the source's query-migrate as {"return": ...}; then, when given a DUMP path, pmemsave
# the destination's RAM (at guest-physical 0 on machine none) there; quit both.
# Arguments: SRC-SOCKET DST-SOCKET PORT DUMP-or-empty MIB.
qemu_qmp=$(cat <<'PY'
import json, sys
sys.path.insert(0, sys.argv.pop(1))              # the scripts directory: qmp_client
import qmp_client

src_sock, dst_sock, port, dump, mib = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
tls = sys.argv[6] if len(sys.argv) > 6 else ""  # (e): the id of both ends' tls-creds-x509 object
dst = qmp_client.connect(dst_sock, "destination")
src = qmp_client.connect(src_sock, "source")
if tls:                                          # before the source connects: QEMU looks at accept
    dst.cmd("migrate-set-parameters", **{"tls-creds": tls})
    src.cmd("migrate-set-parameters", **{"tls-creds": tls})
src.cmd("migrate-set-parameters", **{"max-bandwidth": 100 << 30})   # 7.2's default is 128 MiB/s
src.cmd("migrate", uri="tcp:127.0.0.1:" + port)
st = src.wait_migration()
dst.wait_migration(timeout=5, need=False)       # the destination finishes loading
print(json.dumps({"return": st}))
sys.stdout.flush()
if dump:                                         # after the figures: the destination's RAM
    dst.cmd("pmemsave", wait=600, val=0, size=mib << 20, filename=dump)
src.quit()
dst.quit()
PY
)

# qemu_run NAME ram|file [TLS-DIR] - one QEMU -> QEMU migration (over TLS with TLS-DIR) of $src_ram into a destination with
# memory-backend-ram or memory-backend-file (share=on, $dst_ram); leaves NAME.send (the
# source's query-migrate), NAME.time (the destination's GNU time report) and NAME.same (yes
# when the destination's RAM equals the source's file, else NO).
qemu_run() {
    local name="$1" kind="$2" tls_dir="${3:-}" port backend dump="" check qwrap=() src_pid dst_pid same
    local dst_tls=() src_tls=() tls_id=""
    if [ -n "$tls_dir" ]; then
        tls_id=tls0
        dst_tls=(-object "tls-creds-x509,id=tls0,dir=$tls_dir,endpoint=server,verify-peer=on")
        src_tls=(-object "tls-creds-x509,id=tls0,dir=$tls_dir,endpoint=client")
    fi
    port=$(free_port)
    [ "$have_time" = 1 ] && qwrap=(/usr/bin/time -v -o "$work/$name.time")
    # Every run starts from the same source: the zero pages holes (a read through QEMU's shared
    # mapping may have filled them in the run before), as (a)'s untouched zero pages.
    fallocate --dig-holes "$src_ram" 2>/dev/null || true
    if [ "$kind" = file ]; then
        rm -f "$dst_ram"                         # a fresh (empty) file each run
        backend="memory-backend-file,id=mem,size=${ram_mib}M,mem-path=$dst_ram,share=on"
        check="$dst_ram"                         # share=on: the file is the destination's RAM
    else
        backend="memory-backend-ram,id=mem,size=${ram_mib}M"
        dump="$ramdir/dst.dump"
        check="$dump"
    fi
    say "$name: QEMU -> QEMU, destination ${backend%%,*}: migrate tcp:127.0.0.1:$port"
    "${qwrap[@]}" "$qemu" "${qemu_common[@]}" -object "$backend" ${dst_tls[@]+"${dst_tls[@]}"} \
        -incoming "tcp:127.0.0.1:$port" -qmp "unix:$work/$name.dst.sock,server=on,wait=off" 2>"$work/$name.dst.err" &
    dst_pid=$!; pids+=("$dst_pid")
    "$qemu" "${qemu_common[@]}" -S ${src_tls[@]+"${src_tls[@]}"} \
        -object "memory-backend-file,id=mem,size=${ram_mib}M,mem-path=$src_ram,share=on" \
        -qmp "unix:$work/$name.src.sock,server=on,wait=off" 2>"$work/$name.src.err" &
    src_pid=$!; pids+=("$src_pid")
    python3 -B -c "$qemu_qmp" "$here" "$work/$name.src.sock" "$work/$name.dst.sock" "$port" "$dump" "$ram_mib" "$tls_id" >"$work/$name.send" \
        || { cat "$work/$name.src.err" "$work/$name.dst.err" >&2; die "$name: QEMU migration failed"; }
    wait "$src_pid" || true; forget "$src_pid"
    wait "$dst_pid" || true; forget "$dst_pid"
    if cmp -s "$src_ram" "$check"; then same=yes; else same=NO; fi
    rm -f "$dst_ram" ${dump:+"$dump"}
    echo "$same" >"$work/$name.same"
    say "$name: completed: total $(ret "$work/$name.send" total-time) ms, downtime $(ret "$work/$name.send" downtime) ms, destination RAM equal: $same"
}

# --- (a), (c), (c') interleaved; (b) ------------------------------------------------------------

# settle - wait BENCH_SETTLE seconds before a settled run, so that the memory the runs before
# it freed is handed back to the host first: see the header.
settle() {
    sleep "$settle_s"
}

# make_tls_creds DIR - a QEMU tls-creds-x509 directory for (e), made as the README's recipe does.
make_tls_creds() {
    local dir="$1" end ext
    command -v openssl >/dev/null 2>&1 || die "e: openssl not installed (apt-get install openssl), or BENCH_TLS=0"
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca-cert.pem -days 2 -subj "/CN=bench CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        for end in server client; do
            openssl genrsa -traditional -out "$end-key.pem" 2048 2>/dev/null
            ext="extendedKeyUsage=clientAuth"
            [ "$end" = server ] && ext=$'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1'
            openssl req -new -key "$end-key.pem" -subj "/CN=bench $end" \
                | openssl x509 -req -CA ca-cert.pem -CAkey ca-key.pem -days 2 -out "$end-cert.pem" \
                    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n%s\n' "$ext") 2>/dev/null
        done
    ) || die "e: openssl could not make the TLS credentials in $dir"
}

tls_dir="$work/pki"
[ "$run_tls" != 0 ] && make_tls_creds "$tls_dir"
[ "$qemu_on" = 1 ] && qemu_source_ram
for ((i = 1; i <= runs; i++)); do
    if [ "$run_tls" != 0 ]; then
        vm_run "tp.$i" "${guest[@]}" --paused --max-bandwidth unlimited
        recv_extra=(--tls-creds "$tls_dir")
        vm_run "tt.$i" "${guest[@]}" --paused --max-bandwidth unlimited --tls-creds "$tls_dir"
        recv_extra=()
        [ "$qemu_on" = 1 ] && qemu_run "qt.$i" ram "$tls_dir"
    fi
    if [ "$run_base" != 0 ]; then
        vm_run "a.$i" "${guest[@]}" --paused --max-bandwidth unlimited
    fi
    if [ "$qemu_on" = 1 ]; then
        qemu_run "c.$i" ram
        qemu_run "cf.$i" file
    fi
    [ "$settle_s" = 0 ] && continue
    if [ "$run_base" != 0 ]; then
        settle
        vm_run "as.$i" "${guest[@]}" --paused --max-bandwidth unlimited
    fi
    if [ "$qemu_on" = 1 ]; then
        settle
        qemu_run "cs.$i" ram
        settle
        qemu_run "cfs.$i" file
    fi
done
if [ "$run_base" != 0 ]; then
    vm_run b "${guest[@]}" --workload random:64M/s --warmup 1s
fi

# --- capabilities -----------------------------------------------------------------------------

# cap_names / cap_labels / cap_caps: the runs of (d), workload x capability, in order; each run's
# extra send options come from cap_variant_args, word-split (none contain spaces).
cap_names=(); cap_labels=(); cap_caps=(); cap_failed=0
cap_workloads=("sweep:$cap_sweep" "random:64M/s")
cap_variants=(none xbzrle compress)
cap_variant_args() {
    case "$1" in
        none) ;;
        xbzrle) echo "--capability xbzrle=on --xbzrle-cache-size $cap_xbzrle_cache" ;;
        compress) echo "--compress --compress-level 1" ;;
    esac
}
# cap_outcome NAME - ok, "did not converge", or FAILED (anything else: a crash, a load error).
cap_outcome() {
    local name="$1" status err
    status=$(ret "$work/$name.send" status)
    err=$(ret "$work/$name.send" error-desc)
    if [ "$rc_send" -eq 0 ] && [ "$rc_recv" -eq 0 ] && [ "$status" = completed ]; then
        echo ok
    elif [ "$rc_send" -eq 1 ] && [ "$status" = failed ] && [[ "$err" == *"did not converge"* ]]; then
        echo "did not converge"     # the receiver then fails on the cut stream: expected
    else
        echo FAILED
    fi
}

if [ "$run_caps" != 0 ]; then
    n=0
    for w in "${cap_workloads[@]}"; do
        for v in "${cap_variants[@]}"; do
            n=$((n + 1)); name="d$n"
            # shellcheck disable=SC2046  # cap_variant_args prints plain words
            vm_pair "$name" --ram "$cap_ram" --fill half_random --workload "$w" \
                --max-bandwidth "$cap_bandwidth" --warmup 1s --timeout "$cap_timeout" $(cap_variant_args "$v")
            outcome=$(cap_outcome "$name")
            printf '%s\n' "$outcome" >"$work/$name.outcome"
            case "$outcome" in
                ok) say "$name: completed: total $(ret "$work/$name.send" total-time) ms, downtime $(ret "$work/$name.send" downtime) ms" ;;
                "did not converge") say "$name: did not converge: $(ret "$work/$name.send" error-desc)" ;;
                *)
                    cap_failed=1
                    say "$name: FAILED: send exited $rc_send, receive exited $rc_recv"
                    grep -v '"MIGRATION_PASS"' "$work/$name.send" "$work/$name.recv" >&2 || true
                    ;;
            esac
            cap_names+=("$name"); cap_labels+=("$w"); cap_caps+=("$v")
        done
    done
fi

# --- report -----------------------------------------------------------------------------------

# names KIND - the names of KIND's BENCH_RUNS runs: KIND.1 KIND.2 ...
names() { local i; for ((i = 1; i <= runs; i++)); do printf '%s.%d ' "$1" "$i"; done; }
# stats KEY NAME... - "median min max" of KEY over the runs' NAME.send (those with no figure
# left out), or "n/a n/a n/a".
stats() {
    local key="$1" n; shift
    for n in "$@"; do ret "$work/$n.send" "$key"; done | median_min_max
}
median() { local m rest; read -r m rest < <(stats "$@"); echo "$m"; }
# max_rss_mib NAME... - the largest peak RSS of the runs' NAME.time, in MiB, or n/a.
max_rss_mib() {
    local n
    for n in "$@"; do peak_rss_mib "$work/$n.time"; done | awk '
        $1 != "n/a" && (max == "" || $1 + 0 > max + 0) { max = $1 }
        END { print max == "" ? "n/a" : max }'
}
table_row() { printf '%-40s %9s %13s %9s %8s %13s %6s %12s\n' "$@"; }
row() {   # row LABEL NAME... - medians over the runs NAME..., the total's min-max, the largest RSS
    local label="$1" total tmin tmax range; shift
    read -r total tmin tmax < <(stats total-time "$@")
    range="-"; [ $# -gt 1 ] && [ "$tmin" != n/a ] && range="$tmin-$tmax"
    table_row "$label" "$(fmt '%.0f' "$total")" "$range" "$(fmt '%.0f' "$(median downtime "$@")")" \
        "$(fmt '%.0f' "$(median ram.mbps "$@")")" "$(fmt '%.0f' "$(median ram.transferred "$@")")" \
        "$(fmt '%.0f' "$(median ram.dirty-sync-count "$@")")" "$(max_rss_mib "$@")"
}
verdict() { if [ "$1" = 1 ]; then echo ok; else echo MISSED; fi; }
le() { [ "$1" != n/a ] && [ "$2" != n/a ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
mib() { if [ "$1" = n/a ]; then echo n/a; else awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; fi; }
target() { printf '  %-78s %-10s %s\n' "$@"; }
# ratio_target LABEL A-TOTAL QEMU-TOTAL - the line for "(a)'s total / QEMU's <= 0.50".
ratio_target() {
    local r ok=0
    r=$(ratio "$2" "$3")
    le "$r" 0.5 && ok=1
    target "$1 <= 0.50" "$r" "$(verdict $ok)  ($(fmt '%.0f' "$2") / $(fmt '%.0f' "$3") ms)"
}

read -ra a_runs <<<"$(names a)"
read -ra c_runs <<<"$(names c)"
read -ra cf_runs <<<"$(names cf)"
read -ra as_runs <<<"$(names as)"
read -ra cs_runs <<<"$(names cs)"
read -ra cfs_runs <<<"$(names cfs)"
echo
echo "vm-migrate benchmark: $(nproc) CPUs, $("$vm" --version 2>/dev/null | head -1), $("$vm" --version 2>/dev/null | tail -1)${qemu_version:+, QEMU $qemu_version}"
if [ "$run_base" != 0 ] || [ "$qemu_on" = 1 ]; then
    echo
    if [ "$runs" -gt 1 ]; then
        echo "guest $ram; (a), (c), (c'): medians of $runs runs, interleaved (peak RSS: the largest); (b): one run:"
    else
        echo "guest $ram, one run each:"
    fi
    table_row "run" "total ms" "total min-max" "down ms" "Mbit/s" "bytes sent" "syncs" "peak RSS MiB"
    if [ "$run_base" != 0 ]; then
        row "(a) vm-migrate, paused, unlimited" "${a_runs[@]}"
        [ "$settle_s" != 0 ] && row "(a) the same, settled" "${as_runs[@]}"
        row "(b) vm-migrate, random:64M/s, 128M/s" b
    fi
    if [ "$qemu_on" = 1 ]; then
        row "(c) QEMU, paused, unlimited, dst ram" "${c_runs[@]}"
        [ "$settle_s" != 0 ] && row "(c) the same, settled" "${cs_runs[@]}"
        row "(c') QEMU, paused, unlimited, dst file" "${cf_runs[@]}"
        [ "$settle_s" != 0 ] && row "(c') the same, settled" "${cfs_runs[@]}"
    fi
    [ "$settle_s" != 0 ] && echo "(settled: each run after a pause of $settle_s s; the others back to back.)"
    echo "(peak RSS: of the receiving process - vm-migrate receive, or the destination QEMU."
    note=" vm-migrate's receiver checks the sender's end-to-end digest before it exits 0."
    if [ "$qemu_on" = 1 ]; then
        where="a temporary directory on disk"; [ -n "$shmdir" ] && where=/dev/shm
        same=yes
        for n in "${c_runs[@]}" "${cf_runs[@]}"; do [ "$(cat "$work/$n.same")" = yes ] || same=NO; done
        guest_pages=$(ret "$work/guest.send" ram.normal)
        note="$note QEMU: source RAM a memory-backend-file (share=on) in $where holding (a)'s guest"
        note="$note (vm-migrate send ${guest[*]} --paused to a file, its RAM extracted by inspect;"
        note="$note $guest_pages non-zero pages"
        if [ "$run_base" != 0 ]; then
            a_pages=$(ret "$work/a.1.send" ram.normal)
            if [ "$a_pages" = "$guest_pages" ]; then note="$note, as (a) sent)"; else note="$note, (a) sent $a_pages: NOT THE SAME)"; fi
        else
            note="$note)"
        fi
        note="$note; destination (c) memory-backend-ram, (c') memory-backend-file (share=on) beside the"
        note="$note source's; destination RAM equal to the source's in every run: $same."
    fi
    echo "$note)" | fold -s -w 100
    echo
    echo "targets:"
    if [ "$run_base" != 0 ]; then
        regimes=(back-to-back); [ "$settle_s" != 0 ] && regimes+=(settled)
        for regime in "${regimes[@]}"; do
            if [ "$regime" = settled ]; then ra=("${as_runs[@]}"); rc=("${cs_runs[@]}"); rcf=("${cfs_runs[@]}")
            else ra=("${a_runs[@]}"); rc=("${c_runs[@]}"); rcf=("${cf_runs[@]}")
            fi
            a_total=$(median total-time "${ra[@]}")
            for q in c cf; do
                if [ "$q" = c ]; then label="(a) / (c) total time, $regime (QEMU, destination ram)"
                else label="(a) / (c') total time, $regime (QEMU, destination file)"
                fi
                if [ "$qemu_on" = 1 ]; then
                    if [ "$q" = c ]; then ratio_target "$label" "$a_total" "$(median total-time "${rc[@]}")"
                    else ratio_target "$label" "$a_total" "$(median total-time "${rcf[@]}")"
                    fi
                else
                    target "$label <= 0.50" "n/a" "(QEMU not run)"
                fi
            done
        done
        rss_runs=(a b); [ "$settle_s" != 0 ] && rss_runs=(a as b)
        for r in "${rss_runs[@]}"; do
            case "$r" in
                a) rr=("${a_runs[@]}"); lbl="(a)" ;;
                as) rr=("${as_runs[@]}"); lbl="(a) settled" ;;
                *) rr=(b); lbl="(b)" ;;
            esac
            of=""; [ "${#rr[@]}" -gt 1 ] && of=" (largest of ${#rr[@]})"
            rss=$(max_rss_mib "${rr[@]}")
            ok=0; le "$rss" "$rss_target_mib" && ok=1
            target "$lbl receiver peak RSS$of <= guest RAM + 128 MiB = $rss_target_mib MiB" "$rss MiB" "$(verdict $ok)"
            of=""; [ "${#rr[@]}" -gt 1 ] && of=" (median of ${#rr[@]})"
            down=$(median downtime "${rr[@]}")
            ok=0; le "$down" "$downtime_limit_ms" && ok=1
            target "$lbl downtime$of <= $downtime_limit_ms ms (the downtime limit)" "$(fmt '%.0f' "$down") ms" "$(verdict $ok)"
        done
    else
        echo "  (a), (b) not run (BENCH_BASE=0)"
    fi
fi

if [ "$run_tls" != 0 ]; then
    read -ra tp_runs <<<"$(names tp)"
    read -ra tt_runs <<<"$(names tt)"
    read -ra qt_runs <<<"$(names qt)"
    echo
    echo "(e) TLS: guest $ram, paused, unlimited, tcp loopback; medians of $runs run(s), interleaved:"
    table_row "run" "total ms" "total min-max" "down ms" "Mbit/s" "bytes sent" "syncs" "peak RSS MiB"
    row "(e) vm-migrate, plain" "${tp_runs[@]}"
    row "(e) vm-migrate, --tls-creds" "${tt_runs[@]}"
    [ "$qemu_on" = 1 ] && row "(e) QEMU -> QEMU, tls-creds" "${qt_runs[@]}"
    tp_mbps=$(median ram.mbps "${tp_runs[@]}"); tt_mbps=$(median ram.mbps "${tt_runs[@]}")
    echo "  vm-migrate TLS throughput / plain:        $(ratio "$tt_mbps" "$tp_mbps")  ($(fmt '%.0f' "$tt_mbps") / $(fmt '%.0f' "$tp_mbps") Mbit/s)"
    if [ "$qemu_on" = 1 ]; then
        tt_total=$(median total-time "${tt_runs[@]}"); qt_total=$(median total-time "${qt_runs[@]}")
        echo "  vm-migrate TLS total time / QEMU TLS:     $(ratio "$tt_total" "$qt_total")  ($(fmt '%.0f' "$tt_total") / $(fmt '%.0f' "$qt_total") ms)"
        same=yes
        for n in "${qt_runs[@]}"; do [ "$(cat "$work/$n.same")" = yes ] || same=NO; done
        echo "  (QEMU's destination RAM equal to the source's in every TLS run: $same)"
    fi
    echo "  (openssl-made RSA 2048 credentials, mutual authentication; vm-migrate to vm-migrate negotiates"
    echo "   TLS 1.3, QEMU to QEMU what gnutls chooses.)"
fi

if [ "${#cap_names[@]}" -gt 0 ]; then
    echo
    echo "(d) capabilities: guest $cap_ram, --fill half_random, tcp loopback, --max-bandwidth $cap_bandwidth,"
    echo "    --warmup 1s, --timeout $cap_timeout; xbzrle: --xbzrle-cache-size $cap_xbzrle_cache; compress: zstd level 1"
    echo
    cap_row() { printf '%-14s %-9s %-17s %13s %9s %8s %8s %6s  %s\n' "$@"; }
    cap_row "workload" "caps" "result" "bytes on wire" "wire MiB" "total ms" "down ms" "passes" "capability figures"
    for i in "${!cap_names[@]}"; do
        f="$work/${cap_names[$i]}.send"
        extra=""
        case "${cap_caps[$i]}" in
            xbzrle)
                extra="pages=$(ret "$f" xbzrle-cache.pages) bytes=$(ret "$f" xbzrle-cache.bytes)"
                extra="$extra cache-miss-rate=$(fmt '%.3f' "$(ret "$f" xbzrle-cache.cache-miss-rate)")"
                extra="$extra overflow=$(ret "$f" xbzrle-cache.overflow)"
                ;;
            compress)
                extra="pages=$(ret "$f" compression.pages) compressed-size=$(ret "$f" compression.compressed-size)"
                extra="$extra compression-rate=$(fmt '%.2f' "$(ret "$f" compression.compression-rate)")"
                ;;
            *) extra="-" ;;
        esac
        wire=$(ret "$f" ram.transferred)
        cap_row "${cap_labels[$i]}" "${cap_caps[$i]}" "$(cat "$work/${cap_names[$i]}.outcome")" \
            "$wire" "$(mib "$wire")" "$(ret "$f" total-time)" "$(ret "$f" downtime)" \
            "$(ret "$f" ram.dirty-sync-count)" "$extra"
    done
    echo "(bytes on wire: ram.transferred, RAM records with their headers; passes: ram.dirty-sync-count;"
    echo " a run that did not converge shows its figures when send gave up at the timeout, so its bytes"
    echo " are about timeout x bandwidth and do not compare with the others'. xbzrle cache-miss-rate:"
    echo " misses / pages tried; compression-rate: pages x 4096 / compressed-size, over the pages sent"
    echo " compressed - pages zstd could not shrink go whole and are not counted.)"
fi

if [ "$cap_failed" = 1 ]; then
    say "some (d) runs failed (FAILED above): see their output on stderr"
    exit 1
fi
