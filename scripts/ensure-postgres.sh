#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 (the store's tests need one).
set -euo pipefail
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then exit 0; fi
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
if [ -z "$version" ]; then
  echo "no PostgreSQL cluster found; install the postgresql package (scripts/system-deps.sh does)" >&2
  exit 1
fi
$sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && exit 0; sleep 1; done
echo "PostgreSQL did not become ready on 127.0.0.1:5432" >&2
exit 1
