#!/usr/bin/env bash
# capture-qemu-streams.sh - regenerate the real QEMU migration streams used as test data.
#
# Usage: scripts/capture-qemu-streams.sh [OUTDIR]
#   OUTDIR defaults to core/src/test/resources/qemu-streams (relative to the repository root).
#
# QEMU (default qemu-system-x86_64) picks the binary; QEMU_ARGS adds arguments to every run, split
# on blanks. QEMU 10.0 as unpacked by scripts/fetch-qemu10 needs its firmware folder:
#   q10=$(scripts/fetch-qemu10)
#   QEMU=$q10 QEMU_ARGS="-L ${q10%/bin/*}/share/qemu" scripts/capture-qemu-streams.sh DIR
#
# Needs: qemu-system-x86_64 (Debian 12: apt-get install qemu-system-x86, QEMU 7.2) and python3
# (only the standard library; it speaks QMP - JSON lines over a unix socket - and writes the
# RAM files). No KVM is used: every run passes -accel tcg so the device set does not depend on
# whether /dev/kvm is usable.
#
# For each stream it:
#   1. writes the guest RAM file with deterministic content (see gen_ram below),
#   2. starts QEMU paused (-S) with that file as its memory backend (share=on),
#   3. sends QMP: qmp_capabilities, then migrate {"uri":"exec:cat > OUT"},
#   4. polls query-migrate until "completed" (or fails on "failed"), then quits QEMU.
#
# Produces:
#   none-2m.qemu / none-2m.ram   machine "none", 2 MiB of RAM
#   pc-16m.qemu  / pc-16m.ram    machine "pc" (pc-i440fx-7.2) with default devices, 16 MiB RAM
# Both streams are byte-for-byte reproducible with the same QEMU build (checked on 7.2.22).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root/core/src/test/resources/qemu-streams}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

qemu="${QEMU:-qemu-system-x86_64}"
read -r -a qemu_args <<<"${QEMU_ARGS:-}"
command -v "$qemu" >/dev/null || { echo "capture: $qemu not found (apt-get install qemu-system-x86)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "capture: python3 not found" >&2; exit 1; }
echo "capture: $("$qemu" "${qemu_args[@]}" --version | head -1)"

work="$(mktemp -d)"
qemu_pid=""
cleanup() {
    if [[ -n "$qemu_pid" ]] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# gen_ram FILE PAGES PATTERN_PAGES MARK_PAGE
# Writes PAGES pages of 4096 bytes:
#   page i < PATTERN_PAGES : byte j (0..4095) = (i*7 + j) & 0xff
#   page MARK_PAGE         : all zero except byte 123 = 0xA5
#   every other page       : all zero
gen_ram() {
    python3 - "$@" <<'EOF'
import sys
path, pages, pattern, mark = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "wb") as f:
    for i in range(pages):
        if i < pattern:
            page = bytes((i * 7 + j) & 0xff for j in range(4096))
        else:
            page = bytearray(4096)
            if i == mark:
                page[123] = 0xA5
            page = bytes(page)
        f.write(page)
EOF
}

# qmp_migrate SOCKET OUTFILE
# Connects to QEMU's QMP socket, negotiates, starts an exec: migration into OUTFILE and waits
# for it to complete. Prints each QMP command as it is sent.
qmp_migrate() {
    python3 -B - "$here" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv.pop(1))       # the scripts directory: qmp_client
import qmp_client
sock_path, outfile = sys.argv[1], sys.argv[2]
qemu = qmp_client.connect(sock_path, "capture", trace=True)    # prints "  qmp<" greeting, "  qmp>" commands
qemu.cmd("migrate", uri="exec:cat > " + outfile)
qemu.wait_migration(interval=0.2)
qemu.quit()
EOF
}

# capture NAME SIZE_MIB PATTERN_PAGES MARK_PAGE MACHINE [extra QEMU args...]
capture() {
    local name="$1" mib="$2" pattern="$3" mark="$4" machine="$5"; shift 5
    local ram="$work/$name.ram" sock="$work/$name.sock" stream="$work/$name.qemu"
    gen_ram "$ram" $((mib * 256)) "$pattern" "$mark"
    local cmdline=("$qemu" "${qemu_args[@]}" -machine "$machine,memory-backend=mem"
        -object "memory-backend-file,id=mem,size=${mib}M,mem-path=$ram,share=on"
        -accel tcg "$@" -display none -S -qmp "unix:$sock,server=on,wait=off")
    echo "capture: $name: ${cmdline[*]}"
    "${cmdline[@]}" &
    qemu_pid=$!
    qmp_migrate "$sock" "$stream"
    wait "$qemu_pid" || { echo "capture: QEMU exited with $?" >&2; exit 1; }
    qemu_pid=""
    cp "$stream" "$out/$name.qemu"
    cp "$ram" "$out/$name.ram"
    echo "capture: $name: $(stat -c %s "$out/$name.qemu") stream bytes, $(stat -c %s "$out/$name.ram") RAM bytes"
}

# 1. machine none, 2 MiB: pages 0..255 patterned, 256..511 zero, page 384 has one 0xA5 byte.
capture none-2m 2 256 384 none -nodefaults

# 2. machine pc (= pc-i440fx-7.2) with its default devices, 16 MiB: pages 0..63 patterned,
#    64..4095 zero, page 3000 has one 0xA5 byte. Kept mostly zero so the stream stays small.
#    -rtc base=...,clock=vm pins the CMOS clock to virtual time (which stays 0 under -S), so the
#    mc146818rtc section - the only part that otherwise changes from run to run - is reproducible.
#    It does not change the device set.
capture pc-16m 16 64 3000 pc -rtc base=2000-01-01T00:00:00,clock=vm

echo "capture: done, files in $out"
