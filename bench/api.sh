#!/usr/bin/env bash
# Benchmark of the HTTP API against the release binary: seeds 1,000 nodes, loads GET /nodes/{id} and GET /nodes
# with wrk, and prints measured numbers next to the goals. Loopback only, bounded (~40 s besides the build).
#
#   bench/api.sh [--save] [--no-build]
#
#   --save       also write the results as JSON to bench/results/api-<UTC date>.json
#   --no-build   use target/release/zos-orchestrator as it is (for repeated runs while profiling)
#
# Exit status: 0 all goals met, 1 a goal missed, 2 the benchmark itself failed (server, seeding, bad usage),
# 3 a tool is missing. See bench/README.md.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Goals. The first three are the project's stated targets; the others are this bench's guard rails so a
# regression shows up (change them here, with a reason, if the product goals change).
GOAL_ITEM_RPS_MIN=30000     # GET /nodes/{id} requests/s with 64 connections
GOAL_LIST_P99_MS_MAX=20     # GET /nodes (1,000 nodes) p99 with 8 connections
GOAL_IDLE_RSS_MB_MAX=30     # right after start
GOAL_ITEM_P99_MS_MAX=10     # GET /nodes/{id} p99 with 64 connections
GOAL_LIST_RPS_MIN=200       # GET /nodes with 8 connections
GOAL_SEED_WPS_MIN=100       # POST /nodes, each fsync'ed, 16 concurrent clients
GOAL_LOADED_RSS_MB_MAX=100  # after all the load
GOAL_SUMMARY_P99_MS_MAX=5   # GET /nodes?fields=… (the list without the inventory) p99 with 8 connections

NODES=1000
SEED_CONCURRENCY=16
WRK_DURATION=10s
HEALTH_DURATION=5s
SUMMARY_FIELDS=id,hostname,status,state,labels,lastSeen   # what a node table shows

parse_args "$@"
require_tools wrk curl python3
build_release
make_work zos-bench
pick_port
# shellcheck disable=SC2119  # no serve flags besides the usual ones
start_server

# Idle: let start-up allocations settle for a second. The server does nothing meanwhile, so whatever CPU the
# machine uses in that second is someone else's: a busy machine (a build, a test run) skews every number below.
measure_background
idle_rss="$(rss_mb "$server_pid")"
echo "== idle RSS ${idle_rss} MB; other load on the machine ${background_pct}%" >&2
warn_if_busy "expect lower req/s and higher p99"

echo "== seeding $NODES nodes with $SEED_CONCURRENCY clients" >&2
seed_wps="$(seed_nodes "$NODES" "$SEED_CONCURRENCY" "$port" "$token")" || die "seeding failed"
echo "   ${seed_wps} writes/s" >&2

# The list must really hold all the nodes, or the GET /nodes numbers mean nothing.
listed="$(listed_nodes "$base" "$auth")" || die "GET /nodes failed"
list_kb="$(($(stat -c %s "$work/list.json") / 1024))"
[[ "$listed" == "$NODES" ]] || die "GET /nodes returned $listed nodes, expected $NODES"
curl -sf -m 10 -o /dev/null -H "$auth" "$base/nodes/node-0500" || die "GET /nodes/node-0500 failed"

run_wrk item "$server_pid" 64 "$WRK_DURATION" "$base/nodes/node-0500" "$auth"
run_wrk list "$server_pid" 8 "$WRK_DURATION" "$base/nodes" "$auth"
run_wrk summary "$server_pid" 8 "$HEALTH_DURATION" "$base/nodes?fields=$SUMMARY_FIELDS" "$auth"
# The per-request floor of the stack (routing, HTTP, JSON of a small body), without auth or the node store.
run_wrk health "$server_pid" 64 "$HEALTH_DURATION" "$base/health"

loaded_rss="$(rss_mb "$server_pid")"
peak_rss="$(hwm_mb "$server_pid")"

# Parse wrk's output, print the table and, with --save, the JSON. Exits 1 when a goal is missed.
IDLE_RSS="$idle_rss" LOADED_RSS="$loaded_rss" PEAK_RSS="$peak_rss" SEED_WPS="$seed_wps" \
    NODES="$NODES" LIST_KB="$list_kb" SEED_CONC="$SEED_CONCURRENCY" \
    G_ITEM_RPS="$GOAL_ITEM_RPS_MIN" G_ITEM_P99="$GOAL_ITEM_P99_MS_MAX" G_LIST_RPS="$GOAL_LIST_RPS_MIN" \
    G_LIST_P99="$GOAL_LIST_P99_MS_MAX" G_IDLE="$GOAL_IDLE_RSS_MB_MAX" G_LOADED="$GOAL_LOADED_RSS_MB_MAX" \
    G_SEED="$GOAL_SEED_WPS_MIN" G_SUMMARY_P99="$GOAL_SUMMARY_P99_MS_MAX" report <<'PY'
item, lst, summary, health = (wrk_result(name) for name in ("item", "list", "summary", "health"))
idle, loaded, peak = float(env["IDLE_RSS"]), float(env["LOADED_RSS"]), float(env["PEAK_RSS"])
seed = float(env["SEED_WPS"])
errors = sum(r["non_2xx"] + r["socket_errors"] for r in (item, lst, summary, health))

rows = [
    ("GET /nodes/{id} req/s (c64)", item["rps"], 0, at_least(item["rps"], float(env["G_ITEM_RPS"]))),
    ("GET /nodes/{id} p50 ms (c64)", item["p50_ms"], 2, info()),
    ("GET /nodes/{id} p99 ms (c64)", item["p99_ms"], 2, below(item["p99_ms"], float(env["G_ITEM_P99"]))),
    (f"GET /nodes ({env['NODES']}) req/s (c8)", lst["rps"], 0, at_least(lst["rps"], float(env["G_LIST_RPS"]))),
    (f"GET /nodes ({env['NODES']}) p50 ms (c8)", lst["p50_ms"], 2, info()),
    (f"GET /nodes ({env['NODES']}) p99 ms (c8)", lst["p99_ms"], 2, below(lst["p99_ms"], float(env["G_LIST_P99"]))),
    (f"GET /nodes?fields= ({env['NODES']}) req/s (c8)", summary["rps"], 0, info()),
    (f"GET /nodes?fields= ({env['NODES']}) p99 ms (c8)", summary["p99_ms"], 2,
     below(summary["p99_ms"], float(env["G_SUMMARY_P99"]))),
    ("GET /health req/s (c64, reference)", health["rps"], 0, info()),
    ("GET /health p99 ms (c64, reference)", health["p99_ms"], 2, info()),
    (f"POST /nodes writes/s (c{env['SEED_CONC']})", seed, 0, at_least(seed, float(env["G_SEED"]))),
    ("idle RSS MB", idle, 1, below(idle, float(env["G_IDLE"]))),
    ("RSS after load MB", loaded, 1, below(loaded, float(env["G_LOADED"]))),
    ("peak RSS MB (VmHWM)", peak, 1, info()),
    ("non-2xx + socket errors", errors, 0, (errors == 0, "= 0")),
    ("server CPU us/req GET /nodes/{id}", item["server_cpu_us_per_req"], 1, info()),
    ("server CPU us/req GET /nodes", lst["server_cpu_us_per_req"], 1, info()),
    ("server CPU us/req GET /nodes?fields=", summary["server_cpu_us_per_req"], 1, info()),
    ("server CPU us/req GET /health", health["server_cpu_us_per_req"], 1, info()),
]

print_header(
    f"data      {env['NODES']} nodes, GET /nodes body {env['LIST_KB']} KB; wrk -t2 on the same cores as the server",
    f"noise     other load on the machine before the run: {background()}% of the CPU" + noise_verdict(background()),
)
finish("api", rows, 38, {
    "nodes": int(env["NODES"]), "list_body_kb": int(env["LIST_KB"]),
    "get_node": item, "list_nodes": lst, "list_summary": summary, "health": health,
    "seed_writes_per_s": seed, "seed_concurrency": int(env["SEED_CONC"]),
    "rss_mb": {"idle": idle, "after_load": loaded, "peak": peak},
})
PY
