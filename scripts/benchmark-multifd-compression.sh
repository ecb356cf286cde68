#!/usr/bin/env bash
# benchmark-multifd-compression.sh - QEMU -> vm-migrate receive over multifd channels, with each
# multifd-compression: how long the migration takes and how many bytes go over the channels.
#
# Usage: scripts/benchmark-multifd-compression.sh
# Environment: QEMU (default: QEMU 10.0 from scripts/fetch-qemu10), QEMU_ARGS (more arguments),
#   BENCH_RAM (default 1G), BENCH_CHANNELS (default 2), BENCH_METHODS (default "none zstd"),
#   BENCH_FILL (half_random: about half of the pages random, the rest zero, as send --fill;
#   text: every page a shuffled run of words, compressible).
# Builds nothing: run ./mvnw -q package -DskipTests first. Needs python3. The RAM files live in
# /dev/shm (twice BENCH_RAM). Each run checks the received RAM file against the source's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench_name=benchmark-multifd-compression
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"

ram="${BENCH_RAM:-1G}"
check_size BENCH_RAM "$ram"
mib=$(size_mib "$ram")
channels="${BENCH_CHANNELS:-2}"
methods="${BENCH_METHODS:-none zstd}"
fill="${BENCH_FILL:-half_random}"
if [ -n "${QEMU:-}" ]; then
    qemu="$QEMU"
    read -r -a qemu_args <<<"${QEMU_ARGS:-}"
else
    qemu="$("$here/fetch-qemu10")"
    qemu_args=(-L "${qemu%/bin/*}/share/qemu")
fi
work="$(mktemp -d /dev/shm/bench-multifd.XXXXXX)"
pids=()
finish() {
    for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap finish EXIT

say "writing $mib MiB of $fill RAM"
python3 - "$work/src.ram" "$mib" "$fill" <<'PY'
import os, random, sys
path, mib, fill = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rnd = random.Random(20261202)
words = [w.encode() for w in "the quick brown fox jumps over a lazy dog while migration pages flow".split()]
zero = bytes(4096)
with open(path, "wb") as f:
    for _ in range(mib * 256):
        if fill == "half_random":
            f.write(os.urandom(4096) if rnd.random() < 0.5 else zero)
        else:
            page = b" ".join(rnd.choice(words) for _ in range(700))
            f.write(page[:4096].ljust(4096, b"."))
PY

printf '%-8s %10s %14s %14s %8s\n' method "time (ms)" "multifd bytes" "wire bytes" "MiB/s" >"$work/table"
for method in $methods; do
    rm -f "$work/dst.ram"
    "$here/vm-migrate" receive tcp:127.0.0.1:0 --ram-id mem --ram-file "$work/dst.ram" --run-for 0 \
        --capability multifd --multifd-channels "$channels" 2>"$work/receive.$method.log" &
    receive_pid=$!
    pids+=("$receive_pid")
    port=""
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on tcp:127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/receive.$method.log" | head -1)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || die "receive did not listen: $(cat "$work/receive.$method.log")"
    "$qemu" "${qemu_args[@]}" -machine none,memory-backend=mem -nodefaults -display none -accel tcg -S \
        -object "memory-backend-file,id=mem,size=${mib}M,mem-path=$work/src.ram,share=on" \
        -qmp "unix:$work/qmp.$method.sock,server=on,wait=off" 2>"$work/qemu.$method.log" &
    pids+=("$!")
    python3 -B - "$here" "$work/qmp.$method.sock" "$port" "$channels" "$method" >"$work/result.$method" <<'PY'
import sys
sys.path.insert(0, sys.argv.pop(1))              # the scripts directory: qmp_client
import qmp_client
sock, port, channels, method = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
qemu = qmp_client.connect(sock)
qemu.cmd("migrate-set-capabilities", capabilities=[{"capability": "multifd", "state": True}])
qemu.cmd("migrate-set-parameters", **{"multifd-channels": channels, "multifd-compression": method})
qemu.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
st = qemu.wait_migration(interval=0.05)
qemu.quit()
print(st["total-time"], st["ram"]["multifd-bytes"], st["ram"]["transferred"])
PY
    wait "$receive_pid" || die "receive failed: $(tail -3 "$work/receive.$method.log")"
    cmp -s "$work/src.ram" "$work/dst.ram" || die "$method: the received RAM differs from the source's"
    read -r ms multifd_bytes wire_bytes <"$work/result.$method"
    printf '%-8s %10s %14s %14s %8s\n' "$method" "$ms" "$multifd_bytes" "$wire_bytes" \
        "$(( mib * 1000 / (ms > 0 ? ms : 1) ))" >>"$work/table"
    sleep 1
done
echo "benchmark-multifd: $("$qemu" "${qemu_args[@]}" --version | head -1) -> vm-migrate receive, $mib MiB $fill," \
    "multifd x$channels, $(nproc) CPUs"
cat "$work/table"
