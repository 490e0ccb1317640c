#!/usr/bin/env bash
# The boot-serving regression guard that CI runs on every change (.ci/run, after the tests): small HTTP boot
# files (wrk) and a 200-machine TFTP storm, served by an optimised build side by side with nginx and dnsmasq in
# the same run, through the shared harness (bench/boot.sh). It fails when a ratio to the best peer falls below
# its floor, so a change that makes boot serving several times slower (writing a boot event per download once
# cost 3×) is seen when it lands. The floors sit well under the goals (issue numbers are in bench/README.md):
# CI machines are noisy and a guard that cries wolf gets ignored; the full measurement is bench/boot.sh.
#
#   bench/regression.sh [--json FILE]
#
# ZOS_BIN=PATH measures that binary (CI passes the container image's static release build, which the tests have
# just built); without it the release binary is built first. Exit status: 0 every ratio at or above its floor,
# 1 one below (or a failed transfer), 2 the bench itself failed, 3 a tool or the shared kit is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# scenario prefix (as the harness names it) → the lowest acceptable ratio of our value to the best peer's.
# On a quiet machine zos serves small files at about 1.0× nginx and storms at 0.85–1.1× dnsmasq; the regression
# this guard was written for measured 0.30× nginx, and a busy CI machine measured 0.61× for a build that a quiet
# one measured at 0.76-0.9× (bench/README.md).
floors=(
    "http small=0.6"
    "tftp storm C=200=0.6"
)
# A run below a floor is repeated once, and passing either run passes: a neighbour's burst of load can sink
# one run, but a real regression sinks both.
attempts=2
json=""
while (($#)); do
    case "$1" in
        --json) json=$2; shift 2 ;;
        -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (expected --json FILE)" >&2; exit 2 ;;
    esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
json=${json:-$work/results.json}

# check JSON: prints our ratios against the floors; fails when one is below.
check() {
    python3 - "$1" "${floors[@]}" <<'PY'
import json, sys

results = json.load(open(sys.argv[1]))["results"]
floors = [arg.rsplit("=", 1) for arg in sys.argv[2:]]
failed = False
print(f"{'scenario':<34} {'zos':>12} {'best peer':>12} {'':<9} {'ratio':>6} {'floor':>6}  ok")
for prefix, floor in floors:
    ours = [r for r in results if r["kind"] == "sut" and r["scenario"].startswith(prefix)]
    if not ours:
        print(f"{prefix:<34} no result for zos: the harness did not run this scenario")
        failed = True
        continue
    for r in ours:
        ratio = r["ratio_to_best_peer"]
        peer = next(p for p in results if p["scenario"] == r["scenario"] and p["server"] == r["best_peer"])
        ok = ratio is not None and ratio >= float(floor) and r["failures"] == 0
        failed |= not ok
        verdict = "yes" if ok else "NO"
        if r["failures"]:
            verdict += " (%d transfers failed)" % r["failures"]
        shown = "-" if ratio is None else "%.2f" % ratio
        print(
            f"{r['scenario']:<34} {r['value']:>12} {peer['value']:>12} {r['best_peer']:<9} {shown:>6} {floor:>6}  {verdict}"
        )
sys.exit(1 if failed else 0)
PY
}

# What else runs while we measure: a floor missed beside a busy neighbour should say so in the log.
echo "== load $(cut -d' ' -f1-3 /proc/loadavg); busiest processes:"
ps -eo pcpu,etime,comm --sort=-pcpu | head -6
for attempt in $(seq "$attempts"); do
    bench/boot.sh --peers nginx,dnsmasq --runs 1 --large-mib 8 --storm 200 --storm-rounds 3 --wrk-duration 5 \
        --json "$json" || {
        status=$?
        ((status == 3)) && exit 3
        echo "error: the harness failed ($status)" >&2
        exit 2
    }
    check "$json" && exit 0
    echo "== below a floor (attempt $attempt of $attempts)" >&2
done
exit 1
