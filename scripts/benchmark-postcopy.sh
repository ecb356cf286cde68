#!/usr/bin/env bash
# benchmark-postcopy.sh - what postcopy does for a guest that precopy cannot move (issue 14):
# the 512 MiB guest running sweep:256M/s at --max-bandwidth 128M/s, migrated on loopback with
# send --postcopy-after auto, next to the same guest in precopy, which does not converge and is
# given up after BENCH_PRECOPY_TIMEOUT. This is not a test: it prints figures and exits non-zero
# only when a run could not be carried out (a tool missing, a postcopy run that failed).
#
# Usage: scripts/benchmark-postcopy.sh           (about a minute)
#
# Figures (medians over BENCH_RUNS runs, with min-max), from send's final --json record and
# receive's LOADED line:
#   total ms     send's total-time; "x RAM/bw" is it divided by RAM / bandwidth (4000 ms for
#                512 MiB at 128 MiB/s; the issue asks for at most 1.3)
#   downtime ms  the stop at the source to the destination running (the package sent)
#   postcopy MiB ram.postcopy-bytes: what went after the switch
#   faults       remote faults at the destination (pages its guest waited for), medians of their
#                p50 and p99 waits
#
# Environment: BENCH_RAM (512M), BENCH_RATE (128M/s), BENCH_WORKLOAD (sweep:256M/s),
# BENCH_RUNS (3), BENCH_PRECOPY_TIMEOUT (20s), VM_MIGRATE (default scripts/vm-migrate; build first).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench_name=benchmark-postcopy
# shellcheck source=scripts/bench-lib.sh
. "$here/bench-lib.sh"

ram="${BENCH_RAM:-512M}"
rate="${BENCH_RATE:-128M/s}"
workload="${BENCH_WORKLOAD:-sweep:256M/s}"
runs="${BENCH_RUNS:-3}"
precopy_timeout="${BENCH_PRECOPY_TIMEOUT:-20s}"
vm_migrate="${VM_MIGRATE:-$here/vm-migrate}"
check_size BENCH_RAM "$ram"
check_runs_settle "$runs" 0
command -v jq >/dev/null || die "jq is needed to read the final records"
make_work benchmark-postcopy

# one_run EXTRA_SEND_OPTIONS... - one migration; prints "status total_ms downtime_ms postcopy_bytes faults p50_ms p99_ms".
one_run() {
    local recv_log="$work/receive.log" send_log="$work/send.log" port recv
    # plain, not none: --progress none also drops the LOADED summary that counts the remote faults
    "$vm_migrate" receive tcp:127.0.0.1:0 --run-for 1s --progress plain 2>"$recv_log" &
    recv=$!; pids+=("$recv")
    port=$(listening_port "$recv_log" "$recv")
    [ -n "$port" ] || die "receive did not listen: $(cat "$recv_log")"
    "$vm_migrate" send "tcp:127.0.0.1:$port" --ram "$ram" --fill half_random --workload "$workload" \
        --max-bandwidth "$rate" --json "$@" 2>"$send_log" || true
    wait "$recv" 2>/dev/null || true
    forget "$recv"
    # from the LOADED line: "... with N remote faults (waited p50 A ms, p99 B ms, max C ms)"
    local faults p50 p99
    faults=$(sed -n 's/.* with \([0-9]*\) remote faults.*/\1/p' "$recv_log" | tail -1)
    p50=$(sed -n 's/.*waited p50 \([0-9.]*\) ms.*/\1/p' "$recv_log" | tail -1)
    p99=$(sed -n 's/.*waited p50 [0-9.]* ms, p99 \([0-9.]*\) ms.*/\1/p' "$recv_log" | tail -1)
    tail -1 "$send_log" | jq -r --arg faults "${faults:-0}" --arg p50 "${p50:-n/a}" --arg p99 "${p99:-n/a}" \
        '.return | "\(.status) \(.["total-time"]) \(.downtime // "n/a") \(.ram["postcopy-bytes"] // 0) \($faults) \($p50) \($p99)"'
}

ideal=$(awk -v r="$(size_mib "$ram")" -v b="$(size_mib "${rate%/s}")" 'BEGIN { printf "%d", r / b * 1000 }')
say "guest $ram, half random, workload $workload, at $rate on loopback; RAM/bandwidth = $ideal ms; $runs runs"
printf '%-26s %-10s %22s %8s %20s %14s %20s\n' run status "total ms (min-max)" "x RAM/bw" "downtime ms" \
    "postcopy MiB" "faults (p50/p99 ms)"
report() { # NAME FILE
    local t tmin tmax d dmin dmax p f
    read -r t tmin tmax <<<"$(cut -d' ' -f2 "$2" | median_min_max)"
    read -r d dmin dmax <<<"$(cut -d' ' -f3 "$2" | median_min_max)"
    read -r p _ _ <<<"$(cut -d' ' -f4 "$2" | median_min_max)"
    read -r f _ _ <<<"$(cut -d' ' -f5 "$2" | median_min_max)"
    printf '%-26s %-10s %22s %8s %20s %14s %20s\n' "$1" "$(cut -d' ' -f1 "$2" | sort -u | tr '\n' ' ')" \
        "$t ($tmin-$tmax)" "$(ratio "$t" "$ideal")" "$d ($dmin-$dmax)" \
        "$(awk -v b="$p" 'BEGIN { printf "%.0f", b / 1048576 }')" \
        "$f ($(cut -d' ' -f6 "$2" | median_min_max | cut -d' ' -f1)/$(cut -d' ' -f7 "$2" | median_min_max | cut -d' ' -f1))"
}
: > "$work/postcopy"
for ((i = 0; i < runs; i++)); do
    one_run --postcopy-after auto >> "$work/postcopy"
    grep -q '^completed ' "$work/postcopy" || die "postcopy run failed: $(tail -2 "$work/send.log")"
done
report "postcopy (after pass 1)" "$work/postcopy"
: > "$work/precopy"
one_run --timeout "$precopy_timeout" >> "$work/precopy"
report "precopy, $precopy_timeout timeout" "$work/precopy"
