#!/usr/bin/env bash
# demo.sh - build vm-migrate when needed, then run its demo: a live migration on loopback with
# the built-in guest (see vm-migrate-demo(1)). Arguments go to `vm-migrate demo`, e.g.
#   scripts/demo.sh --ram 1G --workload random:128M/s
# The jar is (re)built with ./mvnw -q package -DskipTests when it is missing or older than a
# source file or pom. With VM_MIGRATE_JAR set, that jar is used as it is and nothing is built.
# Exit status: the demo's (0 migrated and verified, 1 failed, 4 RAM differs), or the build's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

if [ -z "${VM_MIGRATE_JAR:-}" ]; then
    jar="$root/cli/target/vm-migrate.jar"
    stale=""
    if [ -f "$jar" ]; then
        stale=$(find "$root/pom.xml" "$root/core/pom.xml" "$root/cli/pom.xml" \
            "$root/core/src/main" "$root/cli/src/main" -newer "$jar" -type f -print -quit 2>/dev/null || true)
    fi
    if [ ! -f "$jar" ] || [ -n "$stale" ]; then
        echo "demo.sh: building vm-migrate (./mvnw -q package -DskipTests)" >&2
        (cd "$root" && ./mvnw -q package -DskipTests)
    fi
fi

exec "$here/vm-migrate" demo "$@"
