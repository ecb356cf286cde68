#!/usr/bin/env bash
# capture-qemu-multifd.sh - record one real QEMU multifd migration, each connection to a file.
#
# Usage: scripts/capture-qemu-multifd.sh OUTDIR [COMPRESSION [CHANNELS]]
#   COMPRESSION: QEMU's multifd-compression (none, zlib, zstd; default zstd); CHANNELS default 2.
# QEMU and QEMU_ARGS pick the binary as in capture-qemu-streams.sh (QEMU 10.0:
#   q10=$(scripts/fetch-qemu10); QEMU=$q10 QEMU_ARGS="-L ${q10%/bin/*}/share/qemu" ...).
#
# The source: -machine none with a 2 MiB memory-backend-file "mem" written as
# capture-qemu-streams.sh's gen_ram does (pattern pages P = 400, marked page M = 450: several
# full packets per channel, pages 256 apart identical), -S, then over QMP
# migrate-set-capabilities multifd on, migrate-set-parameters multifd-channels CHANNELS and
# multifd-compression COMPRESSION, migrate tcp:127.0.0.1:PORT. A listener that never answers
# records each connection: main.bin (the stream that begins with QEVM) and channelN.bin (the
# multifd channel whose handshake carries id N).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: capture-qemu-multifd.sh OUTDIR [COMPRESSION [CHANNELS]]}"
compression="${2:-zstd}"
channels="${3:-2}"
qemu="${QEMU:-qemu-system-x86_64}"
read -r -a qemu_args <<<"${QEMU_ARGS:-}"
command -v "$qemu" >/dev/null || { echo "capture: $qemu not found" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"
qemu_pid=""
cleanup() {
    if [[ -n "$qemu_pid" ]] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
echo "capture: $("$qemu" "${qemu_args[@]}" --version | head -1), multifd-compression $compression x$channels"

python3 - "$work/mem.ram" 512 400 450 <<'PY'
import sys
path, pages, pattern, mark = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "wb") as f:
    for i in range(pages):
        page = bytearray(bytes((i * 7 + j) & 0xff for j in range(4096)) if i < pattern else 4096)
        if i == mark:
            page[123] = 0xA5
        f.write(page)
PY

"$qemu" "${qemu_args[@]}" -machine none,memory-backend=mem \
    -object "memory-backend-file,id=mem,size=2M,mem-path=$work/mem.ram,share=on" \
    -accel tcg -nodefaults -display none -S -qmp "unix:$work/qmp.sock,server=on,wait=off" &
qemu_pid=$!

python3 -B - "$here" "$work/qmp.sock" "$work" "$compression" "$channels" <<'PY'
import socket, sys, threading
sys.path.insert(0, sys.argv.pop(1))              # the scripts directory: qmp_client
import qmp_client
sock_path, work, compression, channels = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
port = listener.getsockname()[1]
recorders = []

def record(conn, n):
    with open(f"{work}/conn{n}.bin", "wb") as f:
        while True:
            data = conn.recv(1 << 16)
            if not data:
                return
            f.write(data)

def accept():
    n = 0
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        t = threading.Thread(target=record, args=(conn, n))
        t.start()
        recorders.append(t)
        n += 1

threading.Thread(target=accept, daemon=True).start()
qemu = qmp_client.connect(sock_path, "capture")
qemu.cmd("migrate-set-capabilities", capabilities=[{"capability": "multifd", "state": True}])
qemu.cmd("migrate-set-parameters", **{"multifd-channels": channels, "multifd-compression": compression})
qemu.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
qemu.wait_migration(interval=0.2)
qemu.quit()
for t in recorders:
    t.join()
PY
wait "$qemu_pid" || true
qemu_pid=""
for conn in "$work"/conn*.bin; do
    if [[ "$(head -c 4 "$conn" | od -An -tx1 | tr -d ' ')" == "5145564d" ]]; then
        cp "$conn" "$out/main.bin"
    else
        cp "$conn" "$out/channel$(od -An -tu1 -j24 -N1 "$conn" | tr -d ' ').bin"
    fi
done
ls -l "$out"
