#!/usr/bin/env bash
# Benchmark of the node heartbeat against the release binary: 1,000 emulated Zero-OS nodes (`sim`, a separate
# process), all registered at once; measures how long until all are online, then what the heartbeat costs
# (CPU, RSS) and what it does to GET /nodes latency. Loopback only, bounded (~1.5 min besides the build).
#
#   bench/heartbeat.sh [--save] [--no-build]
#
#   --save       also write the results as JSON to bench/results/heartbeat-<UTC date>.json
#   --no-build   use target/release/zos-orchestrator as it is (for repeated runs while profiling)
#
# Exit status: 0 all goals met, 1 a goal missed, 2 the benchmark itself failed (sim, server, registration,
# nodes never online, bad usage), 3 a tool is missing. See bench/README.md.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Goals. CPU, RSS and p99 are the project's targets for 1,000 nodes; the time until all are online is reported
# only (it depends on where in its round the heartbeat is when the nodes arrive).
GOAL_CPU_PCT_MAX=25      # orchestrator CPU, % of one core, heartbeats only (no API load)
GOAL_RSS_MB_MAX=150      # VmRSS at the end, after heartbeats and the GET /nodes load
GOAL_LIST_P99_MS_MAX=20  # GET /nodes (1,000 nodes) p99 with 4 connections while heartbeats run

NODES=1000
HEARTBEAT_INTERVAL=10    # seconds, the server's --heartbeat-interval
REGISTER_CONCURRENCY=16
ONLINE_TIMEOUT=60        # seconds from the first registration until all must be online
WINDOW=30                # seconds of each measurement window (no load, then wrk)
# Seconds to wait once all are online before measuring. Besides letting the first round's 1,000 status writes
# settle, it places the wrk window (online + 45..75 s) over the round that rewrites every node's last_seen,
# 60 s after the first write (the heaviest round of a quiet cluster), so the p99 includes it.
SETTLE=15
SIM_BASE_CANDIDATES=(21000 23000 25000 27000 11000 13000)  # first port of 1,000 consecutive ones for the nodes

parse_args "$@"
require_tools wrk curl python3 ss
build_release
make_work zos-bench-hb
die_logs=(sim server)

# Before starting anything: whatever CPU the machine uses in this second is someone else's, and a busy machine
# (a build, a test run) skews every number below.
measure_background
echo "== other load on the machine ${background_pct}%" >&2
warn_if_busy "expect higher CPU and p99"

# The nodes need $NODES consecutive free ports: take the first candidate range where nothing listens (TCP).
listening="$(ss -ltnH | awk '{ n = split($4, a, ":"); print a[n] }')"
sim_base=""
for candidate in "${SIM_BASE_CANDIDATES[@]}"; do
    if ! awk -v lo="$candidate" -v hi="$((candidate + NODES - 1))" '$1 >= lo && $1 <= hi { found = 1 } END { exit !found }' \
        <<<"$listening"; then
        sim_base="$candidate"
        break
    fi
done
[[ -n "$sim_base" ]] || die "no free range of $NODES ports among ${SIM_BASE_CANDIDATES[*]}"

echo "== starting $NODES emulated nodes on 127.0.0.1:$sim_base-$((sim_base + NODES - 1))" >&2
"$bin" sim --nodes "$NODES" --listen "127.0.0.1:$sim_base" >"$work/nodes.jsonl" 2>"$work/sim.log" &
sim_pid=$!
bench_pids+=("$sim_pid")

# Each node prints its JSON line once it listens: wait (at most 30 s) for all of them.
all_listening() {
    started="$(grep -c '"emulated"' "$work/nodes.jsonl" 2>/dev/null || true)"
    ((started >= NODES))
}
started=0
wait_for 30 "$sim_pid" "the sim" all_listening || die "only $started of $NODES emulated nodes listened within 30 s"

pick_port
echo "== starting the orchestrator on 127.0.0.1:$port, heartbeat every ${HEARTBEAT_INTERVAL} s" >&2
start_server --heartbeat-interval "$HEARTBEAT_INTERVAL"

# Registration, then polling GET /nodes until every node is online. Prints "<register s> <online s>", both
# counted from the first registration.
echo "== registering $NODES nodes with $REGISTER_CONCURRENCY clients, then waiting for all to be online" >&2
read -r register_s online_s < <(
    PORT="$port" TOKEN="$token" NODES_FILE="$work/nodes.jsonl" CONC="$REGISTER_CONCURRENCY" \
        TIMEOUT="$ONLINE_TIMEOUT" py <<'PY' || echo "failed failed"
port, token, timeout = int(env["PORT"]), env["TOKEN"], float(env["TIMEOUT"])
nodes = [json.loads(line) for line in open(env["NODES_FILE"]) if line.strip()]
start, registered = post_nodes(port, token, [{"id": node["id"], "address": node["address"]} for node in nodes],
                               int(env["CONC"]), "registration")

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
states = {}
while time.monotonic() - start < timeout:
    conn.request("GET", "/nodes", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.stderr.write(f"GET /nodes: HTTP {resp.status} {body[:200]!r}\n")
        sys.exit(1)
    listed = json.loads(body)
    states = {}
    for node in listed:
        states[node["state"]] = states.get(node["state"], 0) + 1
    if len(listed) == len(nodes) and states.get("online", 0) == len(nodes):
        print(f"{registered:.2f} {time.monotonic() - start:.2f}")
        sys.exit(0)
    time.sleep(0.2)
sys.stderr.write(f"not all nodes online {timeout:.0f} s after the first registration: {states}\n")
sys.exit(1)
PY
)
[[ "$online_s" != failed ]] || die "registration or waiting for the nodes to be online failed"
echo "   registered in ${register_s} s; all online ${online_s} s after the first registration" >&2

# CPU ticks of this shell's finished children (cutime + cstime): over a window, that is wrk's CPU time.
children_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }

# window NAME [COMMAND...]: over $WINDOW seconds (COMMAND's run, or a sleep), records the CPU ticks of the
# server, of the sim, of COMMAND and of the whole machine in $work/NAME.ticks.
window() {
    local name="$1"
    shift
    local s0 n0 c0 b0 t0 s1 n1 c1 b1 t1
    s0="$(cpu_ticks "$server_pid")"
    n0="$(cpu_ticks "$sim_pid")"
    c0="$(children_ticks)"
    read -r b0 t0 < <(machine_ticks)
    if (($#)); then
        "$@"
    else
        sleep "$WINDOW"
    fi
    s1="$(cpu_ticks "$server_pid")"
    n1="$(cpu_ticks "$sim_pid")"
    c1="$(children_ticks)"
    read -r b1 t1 < <(machine_ticks)
    echo "$((s1 - s0)) $((n1 - n0)) $((c1 - c0)) $((b1 - b0)) $((t1 - t0))" >"$work/$name.ticks"
    kill -0 "$server_pid" 2>/dev/null || die "the server died during the $name window"
    kill -0 "$sim_pid" 2>/dev/null || die "the sim died during the $name window"
}

run_wrk() {
    wrk -t1 -c4 "-d${WINDOW}s" --latency -H "$auth" "$base/nodes" >"$work/list.wrk" 2>&1 ||
        die "wrk failed on /nodes: $(cat "$work/list.wrk")"
}

echo "== ${SETTLE} s to settle" >&2
sleep "$SETTLE"
echo "== ${WINDOW} s of heartbeats alone (the CPU goal)" >&2
window idle
echo "== ${WINDOW} s of heartbeats with wrk -t1 -c4 -d${WINDOW}s --latency GET /nodes" >&2
window loaded run_wrk

rss="$(rss_mb "$server_pid")"
peak_rss="$(hwm_mb "$server_pid")"
sim_rss="$(rss_mb "$sim_pid")"

# The final state: every node must still be online, and the list is what wrk measured.
curl -sf -m 10 -H "$auth" "$base/nodes" -o "$work/list.json" || die "GET /nodes failed"
list_kb="$(($(stat -c %s "$work/list.json") / 1024))"

# Parse wrk's output, print the table and, with --save, the JSON. Exits 1 when a goal is missed.
WINDOW="$WINDOW" NODES="$NODES" LIST_KB="$list_kb" INTERVAL="$HEARTBEAT_INTERVAL" REGISTER_S="$register_s" \
    ONLINE_S="$online_s" RSS="$rss" PEAK_RSS="$peak_rss" SIM_RSS="$sim_rss" \
    G_CPU="$GOAL_CPU_PCT_MAX" G_RSS="$GOAL_RSS_MB_MAX" G_P99="$GOAL_LIST_P99_MS_MAX" report <<'PY'
nodes = int(env["NODES"])

def ticks(name):
    server, sim, client, busy, total = map(int, open(f"{env['WORK']}/{name}.ticks").read().split())
    hz, ncpu = int(env["TICKS"]), int(env["NPROC"])
    # Process ticks over the window's wall time (total machine ticks / cores), as % of one core.
    seconds = total / hz / ncpu if total else float(env["WINDOW"])
    pct = lambda t: 100.0 * t / hz / seconds
    # What else ran meanwhile, as % of the whole machine (busy ticks not spent in the server, the sim or wrk).
    other = 100.0 * max(busy - server - sim - client, 0) / total if total else 0.0
    return {"server_cpu_pct": round(pct(server), 1), "sim_cpu_pct": round(pct(sim), 1),
            "wrk_cpu_pct": round(pct(client), 1), "other_machine_pct": round(other, 1)}

idle, loaded, (lst, _) = ticks("idle"), ticks("loaded"), parse_wrk("list")
listed = json.load(open(f"{env['WORK']}/list.json"))
states = {}
for node in listed:
    states[node["state"]] = states.get(node["state"], 0) + 1
not_online = nodes - states.get("online", 0)
errors = lst["non_2xx"] + lst["socket_errors"]
rss, peak, sim_rss = float(env["RSS"]), float(env["PEAK_RSS"]), float(env["SIM_RSS"])
online_s, register_s = float(env["ONLINE_S"]), float(env["REGISTER_S"])

rows = [
    ("time until all online s", online_s, 2, info()),
    ("  of which registration s (c16)", register_s, 2, info()),
    ("heartbeat CPU % of one core (no load)", idle["server_cpu_pct"], 1, below(idle["server_cpu_pct"], float(env["G_CPU"]))),
    ("RSS MB (end)", rss, 1, below(rss, float(env["G_RSS"]))),
    ("peak RSS MB (VmHWM)", peak, 1, info()),
    (f"GET /nodes ({nodes}) p99 ms (c4)", lst["p99_ms"], 2, below(lst["p99_ms"], float(env["G_P99"]))),
    (f"GET /nodes ({nodes}) p50 ms (c4)", lst["p50_ms"], 2, info()),
    (f"GET /nodes ({nodes}) req/s (c4)", lst["rps"], 0, info()),
    ("server CPU % of one core (with wrk)", loaded["server_cpu_pct"], 1, info()),
    ("sim CPU % of one core (no load)", idle["sim_cpu_pct"], 1, info()),
    ("sim CPU % of one core (with wrk)", loaded["sim_cpu_pct"], 1, info()),
    ("wrk CPU % of one core", loaded["wrk_cpu_pct"], 1, info()),
    ("sim RSS MB", sim_rss, 1, info()),
    ("nodes not online at the end", not_online, 0, (not_online == 0, "= 0")),
    ("non-2xx + socket errors (wrk)", errors, 0, (errors == 0, "= 0")),
]

noise = max(background(), idle["other_machine_pct"], loaded["other_machine_pct"])
print_header(
    f"data      {nodes} emulated nodes (sim, own process), heartbeat every {env['INTERVAL']} s, "
    f"GET /nodes body {env['LIST_KB']} KB; wrk -t1 on the same cores",
    f"noise     other load on the machine: {background()}% before the run, {idle['other_machine_pct']:g}% during the "
    f"no-load window, {loaded['other_machine_pct']:g}% during wrk" + noise_verdict(noise),
    *([f"states    {states}"] if not_online else []),
)
finish("heartbeat", rows, 40, {
    "nodes": nodes, "heartbeat_interval_s": int(env["INTERVAL"]), "list_body_kb": int(env["LIST_KB"]),
    "register_s": register_s, "all_online_s": online_s,
    "no_load": idle, "with_wrk": loaded, "list_nodes": lst,
    "rss_mb": {"end": rss, "peak": peak, "sim": sim_rss},
    "states_at_end": states, "not_online_at_end": not_online,
}, machine={"other_cpu_pct_no_load": idle["other_machine_pct"], "other_cpu_pct_with_wrk": loaded["other_machine_pct"]})
PY
