#!/usr/bin/env bash
# Benchmark of the node heartbeat at scale against the release binary: N emulated Zero-OS nodes (`sim`, in
# processes of their own), all registered at once, heartbeated every 10 s; measures how long until all are
# online, what the heartbeat costs (CPU, RSS, open files, store size) and what it does to a page of GET /nodes.
# With --trend it runs 1,000, 5,000 and 10,000 nodes and extrapolates each cost to 100,000 nodes.
# Loopback only, bounded (~3.5 min for 10,000 nodes, ~8 min for --trend, besides the build).
#
#   bench/scale.sh [--nodes N] [--trend] [--save] [--no-build]
#
#   --nodes N    how many nodes (default 10000)
#   --trend      1,000, then 5,000, then 10,000 nodes, and the extrapolation to 100,000
#   --save       also write each run's results as JSON to bench/results/scale-<UTC date>.json
#   --no-build   use target/release/zos-orchestrator as it is (ZOS_BIN=PATH: that binary)
#
# The page latency is timed per request by a small Python client (4 keep-alive connections, one thread each), not
# wrk: on this workload wrk 4.1's latency percentiles contradict its own request count (an average of 17 ms at c4
# beside 13,600 req/s), while the server's own histogram (/metrics) agrees with the Python client.
#
# Exit status: 0 all goals met, 1 a goal missed, 2 the benchmark itself failed (sim, server, registration,
# nodes never online, bad usage), 3 a tool is missing. See bench/README.md.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Goals (issue 17, item 12), for every size: they are the 10,000-node targets, so smaller runs meet them easily.
GOAL_ONLINE_S_MAX=60     # from the first registration until all are online
GOAL_CPU_PCT_MAX=50      # orchestrator CPU, % of one core, over a minute of heartbeats (no API load)
GOAL_RSS_MB_MAX=400      # VmRSS at the end
GOAL_PAGE_P99_MS_MAX=10  # GET /nodes?limit=100 p99 with 4 clients while heartbeats run

NODES=10000
TREND_SIZES=(1000 5000 10000)
HEARTBEAT_INTERVAL=10    # seconds, the server's --heartbeat-interval
REGISTER_CONCURRENCY=16
CPU_WINDOW=60            # seconds of heartbeats alone: covers the round that rewrites every last_seen (once a minute)
LOAD_WINDOW=30           # seconds of GET /nodes?limit=100 from 4 clients
SETTLE=15                # seconds after all are online, so the first round's writes are over
PAGE=100
SIM_BASE_CANDIDATES=(11000 21000 1100)  # the nodes' first port; N consecutive free ones are needed

trend=0
args=()
while (($#)); do
    case "$1" in
        --nodes)
            [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "error: --nodes needs a positive number" >&2; exit 2; }
            NODES="$2"
            shift 2
            ;;
        --trend) trend=1 && shift ;;
        --save | --no-build | -h | --help) args+=("$1") && shift ;;
        *)
            echo "error: unknown argument '$1' (expected --nodes N, --trend, --save, --no-build)" >&2
            exit 2
            ;;
    esac
done
parse_args "${args[@]}"
require_tools curl python3 ss
build_release

# --trend: this script once per size (each prints its table and appends its numbers to $SCALE_TREND), then the
# extrapolation. A size that misses a goal does not stop the others.
if ((trend)); then
    make_work zos-bench-trend
    for size in "${TREND_SIZES[@]}"; do
        echo "== $size nodes" >&2
        flags=(--nodes "$size" --no-build)
        ((save)) && flags+=(--save)
        SCALE_TREND="$work/trend.jsonl" "$0" "${flags[@]}" || (($? == 1)) || die "the run with $size nodes failed"
    done
    TARGET=100000 G_CPU="$GOAL_CPU_PCT_MAX" G_RSS="$GOAL_RSS_MB_MAX" WORK="$work" py <<'PY'
runs = [json.loads(line) for line in open(f"{env['WORK']}/trend.jsonl")]
target, nofile = int(env["TARGET"]), int(open("/proc/self/limits").read().split("Max open files")[1].split()[1])

def fit(key):
    """Least-squares line through (nodes, key) of the runs: the cost per node and the fixed part."""
    xs, ys = [r["nodes"] for r in runs], [r[key] for r in runs]
    n, mx, my = len(xs), sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(sum((x - mx) ** 2 for x in xs), 1)
    return slope, my - slope * mx

print()
print(f"{'nodes':>8}{'online s':>10}{'CPU %':>8}{'RSS MB':>9}{'store MB':>10}{'open files':>12}{'page p99 ms':>13}")
for r in runs:
    print(f"{r['nodes']:>8}{r['online_s']:>10.1f}{r['cpu_pct']:>8.1f}{r['rss_mb']:>9.1f}{r['store_mb']:>10.1f}"
          f"{r['open_files']:>12}{r['page_p99_ms']:>13.2f}")
print()
print(f"extrapolated to {target:,} nodes (a straight line through the runs above):")
limits = {  # key: (what, its limit, the limit's name, per-node unit, the unit's name)
    "cpu_pct": ("heartbeat CPU, % of one core", float(env["G_CPU"]), "goal", 1000, "% per 1,000 nodes"),
    "rss_mb": ("RSS MB", float(env["G_RSS"]), "goal", 1024, "KB per node"),
    "store_mb": ("store on disk MB", None, None, 1024, "KB per node"),
    "open_files": ("open files", nofile, "open-files limit", 1, "per node"),
}
breaks = []
for key, (name, limit, what, unit, per) in limits.items():
    slope, fixed = fit(key)
    line = f"  {name:<32}{slope * target + fixed:>10.0f}   ({slope * unit:.2f} {per}"
    if limit:
        reach = (limit - fixed) / slope if slope > 0 else float("inf")
        line += f"; reaches the {what} {limit:g} at {reach:,.0f} nodes"
        breaks.append((reach, name, what, limit))
    print(line + ")")
reach, name, what, limit = min(breaks)
print()
print(f"first limit reached: {name} ({what} {limit:g}) at about {reach:,.0f} nodes")
PY
    exit 0
fi

make_work zos-bench-scale
die_logs=(sim-0 server)

measure_background
echo "== other load on the machine ${background_pct}%" >&2
warn_if_busy "expect higher CPU and p99"

# The nodes need $NODES consecutive free ports: take the first candidate range where nothing listens (TCP).
listening="$(ss -ltnH | awk '{ n = split($4, a, ":"); print a[n] }')"
sim_base=""
for candidate in "${SIM_BASE_CANDIDATES[@]}"; do
    if ((candidate + NODES <= 65536)) &&
        ! awk -v lo="$candidate" -v hi="$((candidate + NODES - 1))" '$1 >= lo && $1 <= hi { found = 1 } END { exit !found }' \
            <<<"$listening"; then
        sim_base="$candidate"
        break
    fi
done
[[ -n "$sim_base" ]] || die "no free range of $NODES ports among ${SIM_BASE_CANDIDATES[*]}"

# A sim process needs two open files per node (its listener, the orchestrator's connection) and raises its
# limit to the hard one: split the nodes over as many processes as that limit asks for.
per_sim=$((($(ulimit -Hn) - 100) / 2))
sims=$(((NODES + per_sim - 1) / per_sim))
per_sim=$(((NODES + sims - 1) / sims))
sim_pids=()
echo "== starting $NODES emulated nodes in $sims process(es) on 127.0.0.1:$sim_base-$((sim_base + NODES - 1))" >&2
for ((k = 0; k < sims; k++)); do
    first=$((k * per_sim))
    count=$((NODES - first < per_sim ? NODES - first : per_sim))
    "$bin" sim --nodes "$count" --listen "127.0.0.1:$((sim_base + first))" --seed "$((1 + first))" \
        >"$work/nodes-$k.jsonl" 2>"$work/sim-$k.log" &
    sim_pids+=($!)
    bench_pids+=($!)
done

# Each node prints its JSON line once it listens: wait (at most 60 s) for all of them.
all_listening() {
    started="$(cat "$work"/nodes-*.jsonl | grep -c '"emulated"' || true)"
    ((started >= NODES))
}
started=0
wait_for 60 "${sim_pids[0]}" "the sim" all_listening || die "only $started of $NODES emulated nodes listened within 60 s"

pick_port
echo "== starting the orchestrator on 127.0.0.1:$port, heartbeat every ${HEARTBEAT_INTERVAL} s" >&2
start_server --heartbeat-interval "$HEARTBEAT_INTERVAL"

# Registration, then polling the states until every node is online. Prints "<register s> <online s>", both
# counted from the first registration.
echo "== registering $NODES nodes with $REGISTER_CONCURRENCY clients, then waiting for all to be online" >&2
read -r register_s online_s < <(
    PORT="$port" TOKEN="$token" WORK="$work" CONC="$REGISTER_CONCURRENCY" TIMEOUT="$((2 * GOAL_ONLINE_S_MAX))" \
        py <<'PY' || echo "failed failed"
import glob
port, token, timeout = int(env["PORT"]), env["TOKEN"], float(env["TIMEOUT"])
nodes = [json.loads(line) for path in glob.glob(f"{env['WORK']}/nodes-*.jsonl") for line in open(path) if line.strip()]
start, registered = post_nodes(port, token, [{"id": node["id"], "address": node["address"]} for node in nodes],
                               int(env["CONC"]), "registration")

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
states = {}
while time.monotonic() - start < timeout:
    conn.request("GET", "/nodes?fields=state", headers={"Authorization": f"Bearer {token}"})
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
    time.sleep(0.5)
sys.stderr.write(f"not all nodes online {timeout:.0f} s after the first registration: {states}\n")
sys.exit(1)
PY
)
[[ "$online_s" != failed ]] || die "registration or waiting for the nodes to be online failed"
echo "   registered in ${register_s} s; all online ${online_s} s after the first registration" >&2

sims_ticks() {
    local pid total=0
    for pid in "${sim_pids[@]}"; do total=$((total + $(cpu_ticks "$pid"))); done
    echo "$total"
}
# CPU ticks of this shell's finished children (cutime + cstime): over a window, that is the client's CPU time.
children_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }

# window NAME SECONDS [COMMAND...]: over SECONDS (COMMAND's run, or a sleep), records the CPU ticks of the
# server, of the sims, of COMMAND and of the whole machine in $work/NAME.ticks.
window() {
    local name="$1" seconds="$2"
    shift 2
    local s0 n0 c0 b0 t0 s1 n1 c1 b1 t1 pid
    s0="$(cpu_ticks "$server_pid")"
    n0="$(sims_ticks)"
    c0="$(children_ticks)"
    read -r b0 t0 < <(machine_ticks)
    if (($#)); then
        "$@"
    else
        sleep "$seconds"
    fi
    s1="$(cpu_ticks "$server_pid")"
    n1="$(sims_ticks)"
    c1="$(children_ticks)"
    read -r b1 t1 < <(machine_ticks)
    echo "$((s1 - s0)) $((n1 - n0)) $((c1 - c0)) $((b1 - b0)) $((t1 - t0)) $seconds" >"$work/$name.ticks"
    kill -0 "$server_pid" 2>/dev/null || die "the server died during the $name window"
    for pid in "${sim_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "a sim died during the $name window"
    done
}

# load_pages: 4 clients GET /nodes?limit=$PAGE for $LOAD_WINDOW s; every latency (ms) and error count into
# $work/page.json.
load_pages() {
    PORT="$port" TOKEN="$token" SECONDS_="$LOAD_WINDOW" PATH_="/nodes?limit=$PAGE" OUT="$work/page.json" py <<'PY' ||
latencies, errors = [], []

def client():
    conn = http.client.HTTPConnection("127.0.0.1", int(env["PORT"]), timeout=10)
    headers = {"Authorization": f"Bearer {env['TOKEN']}"}
    end = time.monotonic() + float(env["SECONDS_"])
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            conn.request("GET", env["PATH_"], headers=headers)
            resp = conn.getresponse()
            resp.read()
        except Exception as err:  # counted, and the connection opened again
            errors.append(f"{type(err).__name__}: {err}")
            conn = http.client.HTTPConnection("127.0.0.1", int(env["PORT"]), timeout=10)
            continue
        latencies.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            errors.append(f"HTTP {resp.status}")

threads = [threading.Thread(target=client) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
json.dump({"latencies_ms": latencies, "errors": errors[:5], "error_count": len(errors),
           "seconds": float(env["SECONDS_"])}, open(env["OUT"], "w"))
PY
        die "the GET /nodes?limit=$PAGE load failed"
}

echo "== ${SETTLE} s to settle" >&2
sleep "$SETTLE"
echo "== ${CPU_WINDOW} s of heartbeats alone (the CPU goal)" >&2
window idle "$CPU_WINDOW"
echo "== ${LOAD_WINDOW} s of heartbeats with 4 clients on GET /nodes?limit=$PAGE" >&2
window loaded "$LOAD_WINDOW" load_pages

rss="$(rss_mb "$server_pid")"
peak_rss="$(hwm_mb "$server_pid")"
sim_rss=0
for pid in "${sim_pids[@]}"; do sim_rss="$(awk -v a="$sim_rss" -v b="$(rss_mb "$pid")" 'BEGIN { print a + b }')"; done
open_files="$(find "/proc/$server_pid/fd" -mindepth 1 | wc -l)"
store_mb="$(du -sm "$data" | cut -f1)"

# The final state: every node must still be online.
curl -sf -m 10 -H "$auth" "$base/nodes?fields=state" -o "$work/states.json" || die "GET /nodes failed"

NODES="$NODES" INTERVAL="$HEARTBEAT_INTERVAL" REGISTER_S="$register_s" ONLINE_S="$online_s" RSS="$rss" \
    PEAK_RSS="$peak_rss" SIM_RSS="$sim_rss" SIMS="$sims" OPEN_FILES="$open_files" STORE_MB="$store_mb" PAGE="$PAGE" \
    TREND="${SCALE_TREND:-}" G_ONLINE="$GOAL_ONLINE_S_MAX" G_CPU="$GOAL_CPU_PCT_MAX" G_RSS="$GOAL_RSS_MB_MAX" \
    G_P99="$GOAL_PAGE_P99_MS_MAX" report <<'PY'
nodes, interval = int(env["NODES"]), int(env["INTERVAL"])

def ticks(name):
    server, sim, client, busy, total, window = map(int, open(f"{env['WORK']}/{name}.ticks").read().split())
    hz, ncpu = int(env["TICKS"]), int(env["NPROC"])
    # Process ticks over the window's wall time (total machine ticks / cores), as % of one core.
    seconds = total / hz / ncpu if total else float(window)
    pct = lambda t: 100.0 * t / hz / seconds
    # What else ran meanwhile, as % of the whole machine (busy ticks not spent in the server, the sims or the client).
    other = 100.0 * max(busy - server - sim - client, 0) / total if total else 0.0
    return {"server_cpu_pct": round(pct(server), 1), "sim_cpu_pct": round(pct(sim), 1),
            "client_cpu_pct": round(pct(client), 1), "other_machine_pct": round(other, 1),
            "server_cpu_us_per_heartbeat": round(1e6 * server / hz / (nodes * seconds / interval), 1)}

idle, loaded = ticks("idle"), ticks("loaded")
load = json.load(open(f"{env['WORK']}/page.json"))
lat = sorted(load["latencies_ms"])
pick = lambda q: round(lat[min(int(len(lat) * q), len(lat) - 1)], 2) if lat else None
page = {"requests": len(lat), "rps": round(len(lat) / load["seconds"]), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
        "p999_ms": pick(0.999), "max_ms": pick(1.0), "errors": load["error_count"], "first_errors": load["errors"]}
states = {}
for node in json.load(open(f"{env['WORK']}/states.json")):
    states[node["state"]] = states.get(node["state"], 0) + 1
not_online = nodes - states.get("online", 0)
errors = page["errors"]
rss, peak, sim_rss = float(env["RSS"]), float(env["PEAK_RSS"]), float(env["SIM_RSS"])
online_s, register_s = float(env["ONLINE_S"]), float(env["REGISTER_S"])
open_files, store_mb, limit = int(env["OPEN_FILES"]), float(env["STORE_MB"]), env["PAGE"]

rows = [
    ("time until all online s", online_s, 1, below(online_s, float(env["G_ONLINE"]))),
    ("  of which registration s (c16)", register_s, 1, info()),
    ("heartbeat CPU % of one core (no load)", idle["server_cpu_pct"], 1, below(idle["server_cpu_pct"], float(env["G_CPU"]))),
    ("  CPU µs per node heartbeat", idle["server_cpu_us_per_heartbeat"], 1, info()),
    ("RSS MB (end)", rss, 1, below(rss, float(env["G_RSS"]))),
    ("peak RSS MB (VmHWM)", peak, 1, info()),
    (f"GET /nodes?limit={limit} p99 ms (c4)", page["p99_ms"], 2, below(page["p99_ms"], float(env["G_P99"]))),
    (f"GET /nodes?limit={limit} p50 ms (c4)", page["p50_ms"], 2, info()),
    (f"GET /nodes?limit={limit} p99.9 ms (c4)", page["p999_ms"], 2, info()),
    (f"GET /nodes?limit={limit} max ms (c4)", page["max_ms"], 1, info()),
    (f"GET /nodes?limit={limit} req/s (c4)", page["rps"], 0, info()),
    ("server CPU % of one core (with load)", loaded["server_cpu_pct"], 1, info()),
    ("server open files", open_files, 0, info()),
    ("store on disk MB", store_mb, 0, info()),
    ("sim CPU % of one core (no load)", idle["sim_cpu_pct"], 1, info()),
    (f"sim RSS MB ({env['SIMS']} process(es))", sim_rss, 1, info()),
    ("client CPU % of one core", loaded["client_cpu_pct"], 1, info()),
    ("nodes not online at the end", not_online, 0, (not_online == 0, "= 0")),
    ("failed page requests", errors, 0, (errors == 0, "= 0")),
]

if env["TREND"]:
    with open(env["TREND"], "a") as f:
        f.write(json.dumps({"nodes": nodes, "online_s": online_s, "cpu_pct": idle["server_cpu_pct"], "rss_mb": rss,
                            "store_mb": store_mb, "open_files": open_files, "page_p99_ms": page["p99_ms"]}) + "\n")

noise = max(background(), idle["other_machine_pct"], loaded["other_machine_pct"])
print_header(
    f"data      {nodes} emulated nodes ({env['SIMS']} sim process(es)), heartbeat every {interval} s; "
    f"the client on the same cores",
    f"noise     other load on the machine: {background()}% before the run, {idle['other_machine_pct']:g}% during the "
    f"no-load window, {loaded['other_machine_pct']:g}% during the page load" + noise_verdict(noise),
    *([f"states    {states}"] if not_online else []),
    *([f"errors    {page['first_errors']}"] if errors else []),
)
finish("scale", rows, 40, {
    "nodes": nodes, "heartbeat_interval_s": interval, "register_s": register_s, "all_online_s": online_s,
    "no_load": idle, "with_load": loaded, "list_page": page,
    "rss_mb": {"end": rss, "peak": peak, "sim": sim_rss}, "open_files": open_files, "store_mb": store_mb,
    "states_at_end": states, "not_online_at_end": not_online,
}, machine={"other_cpu_pct_no_load": idle["other_machine_pct"], "other_cpu_pct_with_load": loaded["other_machine_pct"]})
PY
