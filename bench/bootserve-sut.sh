#!/usr/bin/env bash
# The system under test for ../shared/bench/bootserve.sh: runs the release binary on the bench's ports and
# uploads the bench's test files as boot assets, so TFTP and HTTP serve them by name.
#   bench/bootserve-sut.sh DATA_DIR TFTP_PORT HTTP_PORT ROOT
# Used by bench/boot.sh; it stays in the foreground until the bench stops it. ZOS_BIN runs another build instead
# of target/release (e.g. a copy of main's, as a second target, to compare two builds in one run).
set -euo pipefail
data=$1 tftp_port=$2 http_port=$3 root=$4
bin=${ZOS_BIN:-"$(cd "$(dirname "$0")/.." && pwd)/target/release/zos-orchestrator"}

"$bin" serve --data-dir "$data" --listen "127.0.0.1:$http_port" --tftp-listen "127.0.0.1:$tftp_port" \
    --log-format json 2>"$data/server.log" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$http_port/health" >/dev/null && break
    sleep 0.1
done
token=$(cat "$data/admin.token")
for file in "$root"/*; do
    [ -f "$file" ] || continue
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -T "$file" \
        "http://127.0.0.1:$http_port/boot/assets/$(basename "$file")"
done
wait $server
