#!/usr/bin/env bash
# Boot-serving benchmark: the release binary side by side with tftpd-hpa, atftpd, dnsmasq and nginx, using the
# shared harness (../shared/bench/bootserve.sh; its README explains the scenarios and the ratio column).
#   bench/boot.sh [--json FILE] [other bootserve.sh flags]
# Installs the peers it needs (idempotent, via bootserve.sh --install) and builds the release binary first, unless
# ZOS_BIN names the binary to measure (bench/bootserve-sut.sh runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
harness=../shared/bench/bootserve.sh
[ -x "$harness" ] || { echo "error: $harness not found (the shared bench kit must sit beside the repo)" >&2; exit 3; }
[ -n "${ZOS_BIN:-}" ] || cargo build --release --locked --quiet
exec "$harness" --install --sut-name zos \
    --sut "bench/bootserve-sut.sh {data} {port} {http_port} {root}" \
    --sut-http "http://127.0.0.1:{http_port}/boot/assets/" "$@"
