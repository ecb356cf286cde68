#!/usr/bin/env bash
# benchmark-relay.sh - what `vm-migrate relay` costs a live QEMU migration, against a direct one.
# This is not a test: there are no targets. It exits non-zero only when a run could not be
# carried out (a tool is missing, QEMU or the relay failed or timed out, or the destination's
# RAM differs from the source's after a run).
#
# Usage: scripts/benchmark-relay.sh              (a few minutes; BENCH_RAM=256M for a quick run)
#
# Why: the relay passes every chunk it reads from IN on to OUT before it parses it (pipelined),
# so at switchover the last dirty pages and the device state cross the second hop with only the
# forwarding delay of one read-ahead chunk (up to 1 MiB) and one more copy through one more
# process (the relay, which also loads its own copy of the VM as the stream goes by). A
# store-and-forward relay would first take the whole stream and only then send it on: the VM
# would be down, stopped on the source and not yet running on the destination, for the whole
# second transfer (seconds for 1 GiB). This measures which of the two the downtime looks like.
#
# Set-up, on loopback, for each QEMU (7.2, the system's qemu-system-x86_64; 10.0 too, see
# BENCH_QEMU10):
#   source A:  QEMU, -machine none,memory-backend=mem, -accel tcg, RAM a memory-backend-file
#              (share=on) of BENCH_RAM holding about half random pages and half zero pages
#              (made once by python3 with a fixed seed, the zero pages holes; the holes are dug
#              again before every run, as a read through QEMU's mapping may fill them in).
#              Started RUNNING (no -S): the migration stops it at switchover and QMP emits STOP.
#              max-bandwidth 100 GiB/s (7.2's default is 128 MiB/s), downtime-limit default.
#   dest B:    the same machine with memory-backend-ram, -incoming tcp:127.0.0.1:PORTB; it
#              resumes the VM when the migration ends (QMP RESUME).
#   direct:    A migrates to tcp:127.0.0.1:PORTB.
#   relay:     vm-migrate relay tcp:127.0.0.1:0 tcp:127.0.0.1:PORTB (under GNU time -v), A
#              migrates to the port it prints ("listening on tcp:127.0.0.1:PORT").
# Figures of each run:
#   total      A's query-migrate total-time at completion (setup to completion on the source).
#   A down     A's query-migrate downtime: from A's stop until A has written the last bytes; it
#              does not see the bytes arrive, nor B load them (no return path).
#   stop MiB   what A sent after it stopped the VM (query-migrate ram.downtime-bytes): QEMU
#              switches over once what is left fits its downtime limit at the throughput it
#              measured, so the last burst follows that throughput, which a relay may lower.
#   end-to-end the timestamp of B's QMP RESUME event minus that of A's STOP event (both from
#              the host's clock): the time the VM runs nowhere. This is the downtime the guest
#              sees, and the one a relay can lengthen: data still queued in the relay and the
#              socket buffers of both hops when A has written its last bytes. It can come out a
#              few ms below A's figure, whose end includes A's own bookkeeping after the send.
#   relay RSS  the relay's peak RSS (GNU time's "Maximum resident set size"): the JVM and the
#              copy of the VM the relay loads as the stream goes by.
# After every run B's RAM (pmemsave) is compared with A's file, and the relay must exit 0.
# direct and relay runs alternate (direct first in odd runs, relay first in even ones) over
# BENCH_RUNS runs, so drift on the machine hits both alike; the table shows medians with min-max.
# Each way also runs "settled", after a pause of BENCH_SETTLE seconds: on a VM whose balloon
# hands freed memory back to the host (see scripts/benchmark.sh), memory freed seconds ago is
# much slower to fault in than memory just freed, and a relay run faults in more (the relay's
# copy of the VM besides B's RAM); back to back, each run starts on memory the one before freed.
# The figures vary from run to run, much more so on a busy machine (three processes share the
# CPUs with whatever else runs): compare the medians, and look at the min-max.
#
# Environment: BENCH_RAM (guest size, default 1G; forms like 256M or 2G), BENCH_RUNS (runs of
# each way, default 3), BENCH_SETTLE (pause before a settled run, seconds, default 5; 0: no
# settled runs), BENCH_TIMEOUT (seconds a migration, and each wait, may take; default 120),
# BENCH_QEMU10 (auto: also QEMU 10.0 when $VM_MIGRATE_QEMU10 names it or scripts/fetch-qemu10
# has unpacked it already; 1: fetch it if needed; 0: 7.2 only), QEMU (the 7.2 binary, default
# qemu-system-x86_64), VM_MIGRATE_JAR (the jar to measure, default cli/target/vm-migrate.jar,
# which must be built; the benchmark runs a copy of it, see below).
# Needs python3 (QMP, the RAM file) and qemu-system-x86_64; installs GNU time (package `time`)
# when /usr/bin/time is missing, with sudo if not root (without it the RSS is n/a).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
vm="$here/vm-migrate"
ram="${BENCH_RAM:-1G}"
runs="${BENCH_RUNS:-3}"
settle_s="${BENCH_SETTLE:-5}"
timeout_s="${BENCH_TIMEOUT:-120}"
want10="${BENCH_QEMU10:-auto}"
qemu="${QEMU:-qemu-system-x86_64}"
seed=20261101

bench_name=benchmark-relay
# shellcheck source-path=SCRIPTDIR
. "$here/bench-lib.sh"

# --- set-up -----------------------------------------------------------------------------------

check_size BENCH_RAM "$ram"
check_runs_settle "$runs" "$settle_s"
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a whole number of seconds, not '$timeout_s'"
case "$want10" in auto|0|1) ;; *) die "BENCH_QEMU10 must be auto, 0 or 1, not '$want10'" ;; esac
ram_mib=$(size_mib "$ram")

command -v python3 >/dev/null 2>&1 || die "needs python3 (to speak QMP and write the RAM file)"
command -v "$qemu" >/dev/null 2>&1 || die "needs $qemu (apt-get install qemu-system-x86)"
if [ -z "${VM_MIGRATE_JAR:-}" ] && [ ! -f "$root/cli/target/vm-migrate.jar" ]; then
    die "no cli/target/vm-migrate.jar: build it first (./mvnw -q package -DskipTests)"
fi

install_gnu_time "the relay's peak RSS" "relay RSS"

# The QEMUs: "7.2" always (whatever version $qemu is, it is named by its --version), "10.0" as
# BENCH_QEMU10 says. qemu_cmd_<n> is the command line prefix of QEMU n.
qemu_labels=()
# shellcheck disable=SC2034  # read through run's nameref qcmd
qemu_cmd_0=("$qemu")
qemu_labels+=("QEMU $("$qemu" --version | head -1 | sed 's/^QEMU emulator version //; s/ .*//')")
q10=""
if [ "$want10" != 0 ]; then
    if [ -n "${VM_MIGRATE_QEMU10:-}" ] && [ -x "$VM_MIGRATE_QEMU10" ]; then
        q10="$VM_MIGRATE_QEMU10"
    elif [ "$want10" = 1 ] || [ -x "${XDG_CACHE_HOME:-$HOME/.cache}/vm-migrate/qemu10/usr/bin/qemu-system-x86_64" ]; then
        q10=$("$here/fetch-qemu10") || { [ "$want10" = 1 ] && die "scripts/fetch-qemu10 failed"; q10=""; }
    fi
fi
if [ -n "$q10" ]; then
    q10dir="${q10%/usr/bin/*}"
    qemu_cmd_1=(env "QEMU_MODULE_DIR=$q10dir/usr/lib/x86_64-linux-gnu/qemu" "$q10" -L "$q10dir/usr/share/qemu")
    "${qemu_cmd_1[@]}" --version >/dev/null 2>&1 || die "$q10 does not run"
    qemu_labels+=("QEMU $("${qemu_cmd_1[@]}" --version | head -1 | sed 's/^QEMU emulator version //; s/ .*//')")
elif [ "$want10" = auto ]; then
    say "QEMU 10.0 not unpacked (scripts/fetch-qemu10, or BENCH_QEMU10=1): QEMU 7.2 only"
fi

make_work vm-migrate-bench-relay
# reap PID SECONDS - wait up to SECONDS for our child PID to exit (then kill it and its
# children, SIGKILL 5 s later); sets reaped_rc to its exit status (or "timeout").
reaped_rc=0
reap() {
    local pid="$1" i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        pkill -P "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true       # it ignored SIGTERM for 5 s
        wait "$pid" 2>/dev/null || true
        reaped_rc=timeout
    else
        reaped_rc=0
        wait "$pid" || reaped_rc=$?
    fi
    forget "$pid"
}

# The relay runs from a copy of the jar taken now: a jar rebuilt during the benchmark (others
# build in this tree) would break a running JVM (NoClassDefFoundError) or mix builds. When the
# build left an AOT cache beside the jar, the copy gets its own (the cache records the jar's
# path), trained as the build trains it, so the relay starts as it would from the build.
jar="${VM_MIGRATE_JAR:-$root/cli/target/vm-migrate.jar}"
mkdir -p "$work/jar"
cp "$jar" "$work/jar/vm-migrate.jar"
python3 -m zipfile -t "$work/jar/vm-migrate.jar" >/dev/null 2>&1 \
    || die "$jar is not a whole jar (being rebuilt?): try again once it is built"
export VM_MIGRATE_JAR="$work/jar/vm-migrate.jar"
if [ -f "${jar%.jar}.aot" ]; then
    say "training an AOT cache for the copy of the jar (scripts/train-aot-cache)"
    "$here/train-aot-cache" "$VM_MIGRATE_JAR" >&2
fi

# The source's RAM file and the destination's pmemsave dump live in /dev/shm when there is room
# for both (memory speed; on disk the dump and the comparison would measure the disk).
ramdir="$work"
if shm_has_room "$ram_mib"; then
    shmdir=$(mktemp -d /dev/shm/vm-migrate-bench-relay.XXXXXX)
    ramdir="$shmdir"
fi
src_ram="$ramdir/src.ram"
dump="$ramdir/dst.dump"

# About half the pages random, the others zero (holes), chosen by a seeded generator.
say "source RAM: $ram, about half random pages, half zero, in $src_ram"
python3 - "$src_ram" "$ram_mib" "$seed" <<'PY'
import random, sys
path, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
pages = (mib << 20) // 4096
with open(path, "wb") as f:
    for i in range(pages):
        if rng.random() < 0.5:
            f.seek(i * 4096)
            f.write(rng.randbytes(4096))
    f.truncate(pages * 4096)
PY
normal_pages=$(python3 - "$src_ram" <<'PY'
import sys
zero = bytes(4096)
n = 0
with open(sys.argv[1], "rb") as f:
    while True:
        page = f.read(4096)
        if not page:
            break
        n += page != zero
print(n)
PY
)

# --- one run ----------------------------------------------------------------------------------

# The QMP driver: connects to A's and B's monitors, raises A's max-bandwidth, checks that A
# runs, starts the migration to URI, polls A's query-migrate until it ends, then waits for B's
# RESUME; prints {"return": A's query-migrate, "stop": A's STOP timestamp, "resume": B's RESUME
# timestamp, "end-to-end": milliseconds between them}; then pmemsaves B's RAM to DUMP and quits
# both QEMUs. Every read has a deadline (TIMEOUT seconds); on any failure it exits 1 with a
# message on stderr.
qmp_driver=$(cat <<'PY'
import json, sys
sys.path.insert(0, sys.argv.pop(1))              # the scripts directory: qmp_client
import qmp_client

src_sock, dst_sock, uri, dump, mib, timeout = sys.argv[1:7]
mib, timeout = int(mib), float(timeout)

def stamp(e):
    t = e["timestamp"]
    return t["seconds"] + t["microseconds"] / 1e6

dst = qmp_client.connect(dst_sock, "destination")
src = qmp_client.connect(src_sock, "source")
if src.cmd("query-status").get("status") != "running":
    sys.exit("source: not running before the migration")
src.cmd("migrate-set-parameters", **{"max-bandwidth": 100 << 30})   # 7.2's default is 128 MiB/s
src.cmd("migrate", uri=uri)
st = src.wait_migration(timeout=timeout)
stop = src.event("STOP", 10)
resume = dst.event("RESUME", timeout)
print(json.dumps({"return": st, "stop": stamp(stop), "resume": stamp(resume),
                  "end-to-end": (stamp(resume) - stamp(stop)) * 1000}))
sys.stdout.flush()
dst.cmd("pmemsave", wait=timeout, val=0, size=mib << 20, filename=dump)   # after the figures
src.quit()
dst.quit()
PY
)

# run NAME VERSION direct|relay - one migration from a fresh A to a fresh B, directly or through
# the relay; appends "VERSION WAY REGIME total downtime end-to-end rss" to $work/results (REGIME
# from $regime), and stops the benchmark if anything failed.
regime=b2b
run() {
    local name="$1" v="$2" way="$3" portb uri rpid="" rport="" src_pid dst_pid total down e2e rss=n/a
    local -n qcmd="qemu_cmd_$v"
    # shellcheck disable=SC2054  # the commas belong to QEMU's option values
    local common=(-machine none,memory-backend=mem -nodefaults -display none -accel tcg)
    portb=$(free_port)
    fallocate --dig-holes "$src_ram" 2>/dev/null || true
    rm -f "$dump"
    "${qcmd[@]}" "${common[@]}" -object "memory-backend-ram,id=mem,size=${ram_mib}M" \
        -incoming "tcp:127.0.0.1:$portb" -qmp "unix:$work/$name.dst.sock,server=on,wait=off" \
        2>"$work/$name.dst.err" &
    dst_pid=$!; pids+=("$dst_pid")
    "${qcmd[@]}" "${common[@]}" \
        -object "memory-backend-file,id=mem,size=${ram_mib}M,mem-path=$src_ram,share=on" \
        -qmp "unix:$work/$name.src.sock,server=on,wait=off" 2>"$work/$name.src.err" &
    src_pid=$!; pids+=("$src_pid")
    uri="tcp:127.0.0.1:$portb"
    if [ "$way" = relay ]; then
        local wrap=()
        [ "$have_time" = 1 ] && wrap=(/usr/bin/time -v -o "$work/$name.time")
        "${wrap[@]}" "$vm" relay tcp:127.0.0.1:0 "tcp:127.0.0.1:$portb" --json --progress none \
            2>"$work/$name.relay" &
        rpid=$!; pids+=("$rpid")
        rport=$(listening_port "$work/$name.relay" "$rpid")
        [ -n "$rport" ] || { cat "$work/$name.relay" >&2; die "$name: the relay did not report a port"; }
        uri="tcp:127.0.0.1:$rport"
    fi
    say "$name: ${qemu_labels[$v]}, $way: migrate $uri${rport:+ (relay to tcp:127.0.0.1:$portb)}"
    if ! python3 -B -c "$qmp_driver" "$here" "$work/$name.src.sock" "$work/$name.dst.sock" "$uri" "$dump" "$ram_mib" \
        "$timeout_s" >"$work/$name.out" 2>"$work/$name.drv"; then
        cat "$work/$name.drv" "$work/$name.src.err" "$work/$name.dst.err" ${rpid:+"$work/$name.relay"} >&2
        die "$name: the migration could not be carried out"
    fi
    reap "$src_pid" 20; [ "$reaped_rc" = timeout ] && say "$name: the source QEMU did not quit within 20 s: killed"
    reap "$dst_pid" 20; [ "$reaped_rc" = timeout ] && say "$name: the destination QEMU did not quit within 20 s: killed"
    if [ -n "$rpid" ]; then
        reap "$rpid" "$timeout_s"
        if [ "$reaped_rc" != 0 ]; then
            cat "$work/$name.relay" >&2
            die "$name: the relay exited $reaped_rc, not 0"
        fi
        [ "$have_time" = 1 ] && rss=$(peak_rss_mib "$work/$name.time")
    fi
    cmp -s "$src_ram" "$dump" || die "$name: the destination's RAM differs from the source's"
    rm -f "$dump"
    read -r total down e2e stopmib < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
st = r["return"]
b = st.get("ram", {}).get("downtime-bytes")
print(st.get("total-time", "n/a"), st.get("downtime", "n/a"), "%.1f" % r["end-to-end"],
      "n/a" if b is None else "%.1f" % (b / 1048576))
' "$work/$name.out")
    echo "$v $way $regime $total $down $e2e $rss $stopmib" >>"$work/results"
    say "$name: total $total ms, source downtime $down ms ($stopmib MiB sent), end-to-end downtime $e2e ms${rpid:+, relay RSS $rss MiB}; destination RAM equal"
}

# --- the runs ---------------------------------------------------------------------------------

: >"$work/results"
for ((i = 1; i <= runs; i++)); do
    if ((i % 2)); then ways=(direct relay); else ways=(relay direct); fi
    for v in "${!qemu_labels[@]}"; do
        regime=b2b
        for w in "${ways[@]}"; do run "q$v.$w.$i" "$v" "$w"; done
        [ "$settle_s" = 0 ] && continue
        regime=settled
        for w in "${ways[@]}"; do sleep "$settle_s"; run "q$v.$w.settled.$i" "$v" "$w"; done
    done
done

# --- report -----------------------------------------------------------------------------------

# stats V WAY REGIME COLUMN - "median min max" of COLUMN (4 total, 5 downtime, 6 end-to-end,
# 8 MiB sent in the downtime) of the results of QEMU V, WAY, REGIME.
stats() {
    awk -v v="$1" -v w="$2" -v r="$3" -v c="$4" '$1 == v && $2 == w && $3 == r && $c != "n/a" { print $c }' \
        "$work/results" | median_min_max
}
max_rss() {
    awk -v v="$1" -v r="$2" '$1 == v && $2 == "relay" && $3 == r && $7 != "n/a" && $7 + 0 > m { m = $7 + 0 }
        END { print m ? m : "n/a" }' "$work/results"
}
row() { printf '%-30s %9s %13s %10s %9s %10s %15s %9s\n' "$@"; }

echo
echo "vm-migrate relay benchmark: $(nproc) CPUs, $("$vm" --version 2>/dev/null | head -1), guest $ram (machine none,"
echo "$normal_pages of $(((ram_mib << 20) / 4096)) pages random, the others zero), tcp loopback, max-bandwidth 100 GiB/s."
if [ "$runs" -gt 1 ]; then
    echo "Medians of $runs runs of each way, direct and relay alternating (relay RSS: the largest):"
else
    echo "One run of each way:"
fi
row "way" "total ms" "total min-max" "A down ms" "stop MiB" "e2e down" "e2e min-max" "relay RSS"
regimes=(b2b); [ "$settle_s" != 0 ] && regimes+=(settled)
for v in "${!qemu_labels[@]}"; do
    for r in "${regimes[@]}"; do
        suffix=""; [ "$r" = settled ] && suffix=", settled"
        for w in direct relay; do
            read -r t tmin tmax < <(stats "$v" "$w" "$r" 4)
            read -r d _ _ < <(stats "$v" "$w" "$r" 5)
            read -r e emin emax < <(stats "$v" "$w" "$r" 6)
            read -r m _ _ < <(stats "$v" "$w" "$r" 8)
            rss="-"; [ "$w" = relay ] && rss="$(max_rss "$v" "$r") MiB"
            row "${qemu_labels[$v]}, $w$suffix" "$(fmt %.0f "$t")" "$tmin-$tmax" "$(fmt %.0f "$d")" \
                "$(fmt %.1f "$m")" "$(fmt %.1f "$e")" "$emin-$emax" "$rss"
        done
    done
done
echo
echo "relay / direct (medians):"
for v in "${!qemu_labels[@]}"; do
    for r in "${regimes[@]}"; do
        suffix=""; [ "$r" = settled ] && suffix=", settled"
        read -r td _ < <(stats "$v" direct "$r" 4); read -r tr _ < <(stats "$v" relay "$r" 4)
        read -r ed _ < <(stats "$v" direct "$r" 6); read -r er _ < <(stats "$v" relay "$r" 6)
        printf '  %-30s total time %5s   end-to-end downtime %5s   (%s / %s ms; %s / %s ms)\n' \
            "${qemu_labels[$v]}$suffix" "$(ratio "$tr" "$td")" "$(ratio "$er" "$ed")" \
            "$(fmt %.0f "$tr")" "$(fmt %.0f "$td")" "$(fmt %.1f "$er")" "$(fmt %.1f "$ed")"
    done
done
echo "(total: A's query-migrate total-time; A down: A's query-migrate downtime, which ends when A has"
echo " written its last bytes; stop MiB: what A sent after it stopped the VM (ram.downtime-bytes);"
echo " e2e down: B's RESUME event minus A's STOP event, the time the VM ran nowhere. Relay RSS: the"
echo " relay's peak RSS; it loads its own copy of the VM as the stream passes."
[ "$settle_s" != 0 ] && echo " Settled: each run after a pause of $settle_s s; the others back to back."
echo " B's RAM equal to A's after every run, and every relay exited 0.)"
