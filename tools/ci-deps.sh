#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's PostgreSQL server
# (tests/postgres/server.py starts a throwaway cluster from its binaries).
# Idempotent: installs only what is missing. Run as root (CI is), or it says why not.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "ci-deps: PostgreSQL server binaries missing and not root; the PostgreSQL tests will skip" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql
fi
