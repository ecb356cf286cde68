#!/usr/bin/env bash
# benchmark-multifd.sh - what multifd buys: vm-migrate with and without it, and QEMU 10.0's own,
# in one run on one machine, so that the ratios compare like with like.
#
# Every run moves the same guest: BENCH_RAM (default 1G) of machine none RAM, --fill half_random
# (about half of the pages random, the rest zero), paused, over loopback TCP, bandwidth unlimited:
#   (a)  vm-migrate send -> vm-migrate receive, one connection (no multifd);
#   (b)  the same with --capability multifd --multifd-channels 2 on both sides;
#   (b4) the same with 4 channels (BENCH_X4=0 skips it);
#   (c)  QEMU 10.0 -> QEMU 10.0 with multifd x2 (-machine none, the source's RAM a
#        memory-backend-file holding (a)'s guest, made by vm-migrate send file: and inspect
#        --extract as benchmark.sh does; the destination memory-backend-ram, -incoming defer,
#        capability multifd and multifd-channels on both, max-bandwidth raised);
#   (c4) QEMU 10.0 multifd x4 (with (b4)).
# Each case starts BENCH_SETTLE seconds (default 5; 0: back to back) after the one before. On a VM
# whose balloon reports free memory back to the host (Firecracker here: page_reporting), memory a
# process has just freed is quick to fault in again and memory free for a few seconds is slow the
# first time it is touched; back to back, a case's figure depended on what ran before it.
# Settled, every case starts as an idle destination does.
# QEMU's source RAM is preallocated (prealloc=on) before the migration: its pages are then
# resident, as a running guest's are and as vm-migrate send's are (it fills its guest itself).
# Without it QEMU's source took a page fault per page during the migration, which on a VM where a
# fault costs microseconds made (c) 2.6-3.3 s instead of 1.7-2.0 s (back to back, this machine).
# Each case runs BENCH_RUNS times (default 3), interleaved; the report prints each case's median
# total time (send's total-time, QEMU's query-migrate total-time), the ratio (b)/(c) (the target:
# at most 0.5), (b)/(a), and where the time goes: the sender's and the receiver's CPU time (GNU
# time, user + system), the bytes on the wire and their rate, and the receiver's own figure for
# the load (its --json total-time).
#
# Environment: BENCH_RAM, BENCH_RUNS, BENCH_SETTLE, BENCH_X4=0, QEMU10 (QEMU 10.0's
# qemu-system-x86_64; default what scripts/fetch-qemu10 unpacked:
# ${XDG_CACHE_HOME:-~/.cache}/vm-migrate/qemu10/usr/bin/...; without it (c) and (c4) are
# skipped), VM_MIGRATE_JAR (use this jar, not cli/target's).
# Needs python3 (QMP, ports) and jq or python3 (JSON); GNU time for the CPU times (installed
# when missing, as benchmark.sh does).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
vm="$here/vm-migrate"
ram="${BENCH_RAM:-1G}"
runs="${BENCH_RUNS:-3}"
run_x4="${BENCH_X4:-1}"
settle_s="${BENCH_SETTLE:-5}"
qemu10="${QEMU10:-${XDG_CACHE_HOME:-$HOME/.cache}/vm-migrate/qemu10/usr/bin/qemu-system-x86_64}"
guest=(--ram "$ram" --fill half_random --paused --max-bandwidth unlimited)

bench_name=benchmark-multifd
# shellcheck source-path=SCRIPTDIR
. "$here/bench-lib.sh"

check_size BENCH_RAM "$ram"
check_runs_settle "$runs" "$settle_s"
ram_mib=$(size_mib "$ram")
if [ -z "${VM_MIGRATE_JAR:-}" ] && [ ! -f "$root/cli/target/vm-migrate.jar" ]; then
    say "building vm-migrate (./mvnw -q package -DskipTests)"
    (cd "$root" && ./mvnw -q package -DskipTests)
fi
install_gnu_time "CPU time" "CPU time"
pick_json_tool
make_work vm-migrate-bench-multifd

qemu_on=0
if [ -x "$qemu10" ] && command -v python3 >/dev/null 2>&1; then
    qemu_on=1
    qemu_cmd=("$qemu10" -L "$(dirname "$(dirname "$qemu10")")/share/qemu")
else
    say "c: no QEMU 10.0 at $qemu10 (scripts/fetch-qemu10 unpacks it; or set QEMU10): skipping (c)"
fi

# cpu_s FILE - user + system seconds of a GNU time -v report, or n/a.
cpu_s() {
    [ -f "$1" ] || { echo n/a; return; }
    awk -F': ' '/User time|System time/ { s += $2; n++ } END { if (n == 2) printf "%.2f", s; else print "n/a" }' \
        "$1" 2>/dev/null || echo n/a
}

# vm_case NAME CHANNELS - vm-migrate send -> receive of the guest; CHANNELS 0: no multifd. Leaves
# NAME.send and NAME.recv (NDJSON) and NAME.stime / NAME.rtime (GNU time reports).
vm_case() {
    local name="$1" channels="$2" multifd=() rwrap=() swrap=() rpid port rc=0
    [ "$channels" -gt 0 ] && multifd=(--capability multifd --multifd-channels "$channels")
    if [ "$have_time" = 1 ]; then
        rwrap=(/usr/bin/time -v -o "$work/$name.rtime")
        swrap=(/usr/bin/time -v -o "$work/$name.stime")
    fi
    "${rwrap[@]}" "$vm" receive tcp:127.0.0.1:0 --run-for 0 --json --progress none ${multifd[@]+"${multifd[@]}"} \
        2>"$work/$name.recv" &
    rpid=$!; pids+=("$rpid")
    port=$(listening_port "$work/$name.recv" "$rpid")
    [ -n "$port" ] || { cat "$work/$name.recv" >&2; die "$name: the receiver did not report a port"; }
    say "$name: vm-migrate send tcp:127.0.0.1:$port ${guest[*]} ${multifd[*]}"
    "${swrap[@]}" "$vm" send "tcp:127.0.0.1:$port" "${guest[@]}" ${multifd[@]+"${multifd[@]}"} --json \
        --progress none 2>"$work/$name.send" || rc=$?
    wait "$rpid" || rc=$((rc + 100))
    forget "$rpid"
    if [ "$rc" -ne 0 ]; then
        grep -v MIGRATION_PASS "$work/$name.send" "$work/$name.recv" >&2 || true
        die "$name: migration did not complete (exit $rc)"
    fi
    say "$name: total $(ret "$work/$name.send" total-time) ms"
}

# QMP for (c): multifd on both ends, channels, migrate-incoming, migrate; prints the source's
# final query-migrate as {"return": ...}. Arguments: SRC-SOCKET DST-SOCKET PORT CHANNELS.
qemu_qmp=$(cat <<'PY'
import json, sys
sys.path.insert(0, sys.argv.pop(1))              # the scripts directory: qmp_client
import qmp_client

src_sock, dst_sock, port, channels = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dst = qmp_client.connect(dst_sock, "destination")
src = qmp_client.connect(src_sock, "source")
for end in (dst, src):
    end.cmd("migrate-set-capabilities", capabilities=[{"capability": "multifd", "state": True}])
    end.cmd("migrate-set-parameters", **{"multifd-channels": channels})
src.cmd("migrate-set-parameters", **{"max-bandwidth": 100 << 30})
dst.cmd("migrate-incoming", uri="tcp:127.0.0.1:" + port)
src.cmd("migrate", uri="tcp:127.0.0.1:" + port)
st = src.wait_migration()
dst.wait_migration(timeout=5, need=False)
print(json.dumps({"return": st}))
sys.stdout.flush()
src.quit()
dst.quit()
PY
)

# qemu_case NAME CHANNELS - QEMU 10.0 -> QEMU 10.0 with multifd xCHANNELS; NAME.send holds the
# source's query-migrate, NAME.stime / NAME.rtime the GNU time reports.
qemu_case() {
    local name="$1" channels="$2" port swrap=() rwrap=() src_pid dst_pid
    # shellcheck disable=SC2054  # the commas belong to QEMU's option values
    local common=(-machine none,memory-backend=mem -nodefaults -display none -accel tcg)
    port=$(free_port)
    if [ "$have_time" = 1 ]; then
        rwrap=(/usr/bin/time -v -o "$work/$name.rtime")
        swrap=(/usr/bin/time -v -o "$work/$name.stime")
    fi
    fallocate --dig-holes "$src_ram" 2>/dev/null || true
    "${rwrap[@]}" "${qemu_cmd[@]}" "${common[@]}" -object "memory-backend-ram,id=mem,size=${ram_mib}M" \
        -incoming defer -qmp "unix:$work/$name.dst.sock,server=on,wait=off" 2>"$work/$name.dst.err" &
    dst_pid=$!; pids+=("$dst_pid")
    "${swrap[@]}" "${qemu_cmd[@]}" "${common[@]}" -S \
        -object "memory-backend-file,id=mem,size=${ram_mib}M,mem-path=$src_ram,share=on,prealloc=on" \
        -qmp "unix:$work/$name.src.sock,server=on,wait=off" 2>"$work/$name.src.err" &
    src_pid=$!; pids+=("$src_pid")
    say "$name: QEMU 10.0 -> QEMU 10.0, multifd x$channels, tcp:127.0.0.1:$port"
    python3 -B -c "$qemu_qmp" "$here" "$work/$name.src.sock" "$work/$name.dst.sock" "$port" "$channels" >"$work/$name.send" \
        || { cat "$work/$name.src.err" "$work/$name.dst.err" >&2; die "$name: QEMU migration failed"; }
    wait "$src_pid" || true; forget "$src_pid"
    wait "$dst_pid" || true; forget "$dst_pid"
    say "$name: total $(ret "$work/$name.send" total-time) ms"
}

if [ "$qemu_on" = 1 ]; then
    ramdir="$work/ram"
    if shm_has_room "$ram_mib"; then
        shmdir=$(mktemp -d /dev/shm/vm-migrate-bench-multifd.XXXXXX)
        ramdir="$shmdir"
    fi
    mkdir -p "$ramdir"
    src_ram="$ramdir/ram.ram"
    say "c: QEMU's source RAM: vm-migrate send file: ${guest[*]}, then inspect --extract"
    "$vm" send "file:$ramdir/guest.mig" "${guest[@]}" --progress none 2>"$work/guest.send" \
        || { cat "$work/guest.send" >&2; die "c: vm-migrate send to a file failed"; }
    "$vm" inspect "$ramdir/guest.mig" --extract "$ramdir" >"$work/guest.inspect" 2>&1 \
        || { cat "$work/guest.inspect" >&2; die "c: inspect --extract failed"; }
    rm -f "$ramdir/guest.mig"
    [ -f "$src_ram" ] || die "c: inspect --extract wrote no $src_ram"
fi

cases=(a b)
[ "$run_x4" != 0 ] && cases+=(b4)
if [ "$qemu_on" = 1 ]; then
    cases+=(c)
    [ "$run_x4" != 0 ] && cases+=(c4)
fi
# settle - wait BENCH_SETTLE seconds before each case, so that every one starts on memory the host
# has taken back (see the header), not on what the case before it has just freed.
settle() {
    sleep "$settle_s"
}

for ((i = 1; i <= runs; i++)); do
    settle; vm_case "a.$i" 0
    settle; vm_case "b.$i" 2
    if [ "$run_x4" != 0 ]; then settle; vm_case "b4.$i" 4; fi
    if [ "$qemu_on" = 1 ]; then
        settle; qemu_case "c.$i" 2
        if [ "$run_x4" != 0 ]; then settle; qemu_case "c4.$i" 4; fi
    fi
done

# figure CASE KIND - the median over the runs of one figure: total (ms), scpu / rcpu (s),
# bytes (MiB on the wire), mbps (the sender's), load (ms: the receiver's total-time; vm-migrate).
figure() {
    local case="$1" kind="$2" i v values=()
    for ((i = 1; i <= runs; i++)); do
        case "$kind" in
            total) v=$(ret "$work/$case.$i.send" total-time) ;;
            scpu) v=$(cpu_s "$work/$case.$i.stime") ;;
            rcpu) v=$(cpu_s "$work/$case.$i.rtime") ;;
            bytes) v=$(ret "$work/$case.$i.send" ram.transferred)
                   [ "$v" != n/a ] && v=$(awk -v b="$v" 'BEGIN { printf "%.0f", b / 1048576 }') ;;
            mbps) v=$(ret "$work/$case.$i.send" ram.mbps)
                  [ "$v" != n/a ] && v=$(awk -v m="$v" 'BEGIN { printf "%.0f", m / 8 * 1000000 / 1048576 }') ;;
            load) if [ -f "$work/$case.$i.recv" ]; then v=$(ret "$work/$case.$i.recv" total-time); else v=n/a; fi ;;
        esac
        values+=("$v")
    done
    printf "%s\n" "${values[@]}" | median_min_max | awk '{ print $1 }'
}

echo
echo "multifd benchmark: $ram guest, --fill half_random, paused, loopback, unlimited bandwidth, $runs run(s) each"
printf '%-34s %9s %9s %9s %9s %9s %9s\n' case "total ms" "send CPU" "recv CPU" "wire MiB" "MiB/s" "load ms"
for c in "${cases[@]}"; do
    case "$c" in
        a) label="(a) vm-migrate, no multifd" ;;
        b) label="(b) vm-migrate, multifd x2" ;;
        b4) label="(b4) vm-migrate, multifd x4" ;;
        c) label="(c) QEMU 10.0, multifd x2" ;;
        c4) label="(c4) QEMU 10.0, multifd x4" ;;
    esac
    printf '%-34s %9s %9s %9s %9s %9s %9s\n' "$label" "$(figure "$c" total)" "$(figure "$c" scpu)" \
        "$(figure "$c" rcpu)" "$(figure "$c" bytes)" "$(figure "$c" mbps)" "$(figure "$c" load)"
done
echo "(CPU in seconds, user + system, from GNU time; MiB/s: the sender's own rate; load ms: receive's total-time)"
b=$(figure b total)
echo "(b)/(a) = $(ratio "$b" "$(figure a total)")   (multifd x2 against one connection)"
if [ "$qemu_on" = 1 ]; then
    echo "(b)/(c) = $(ratio "$b" "$(figure c total)")   (target: at most 0.5)"
    if [ "$run_x4" != 0 ]; then echo "(b4)/(c4) = $(ratio "$(figure b4 total)" "$(figure c4 total)")"; fi
fi
