#!/usr/bin/env bash
# The orchestrator on sled beside the orchestrator on etcd, in one run (issue 16): GET /nodes/{id} under wrk and
# POST /nodes from 16 writers on each, with the same 1,000 nodes; how long a write acknowledged by one instance
# takes to reach another instance's /events; and how long the engine's leadership takes to move after a SIGKILL
# of its leader. A three-member etcd and three instances on it, all on loopback; bounded (~2 min besides the
# build).
#
#   bench/etcd.sh [--save] [--no-build]
#
#   --save       also write the results as JSON to bench/results/etcd-<UTC date>.json
#   --no-build   use target/release/zos-orchestrator as it is (ZOS_BIN=PATH runs another binary)
#
# Exit status: 0 all goals met, 1 a goal missed, 2 the benchmark itself failed (etcd, a server, seeding, an
# event that never came, bad usage), 3 a tool is missing. See bench/README.md.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Goals (issue 16). Reads on etcd are served from each instance's in-memory copy of the prefix, so they should
# cost about what sled's do; the engine must move within the lease (3 s) of a crash, well under 5 s.
GOAL_GET_RATIO_MIN=0.8   # GET /nodes/{id} req/s on etcd / on sled
GOAL_FAILOVER_S_MAX=5    # the worst failover after a SIGKILL of the leader

NODES=1000
SEED_CONCURRENCY=16      # as bench/api.sh seeds
WRK_DURATION=10s         # wrk -t2 -c64, as bench/api.sh loads GET /nodes/{id}
EVENT_WRITES=200         # one after the other, each timed from its 201 to its event
FAILOVER_ROUNDS=5
LEASE=3                  # --leader-lease
# Every instance gets these. The heartbeat would write 1,000 `unreachable` statuses in its first round after the
# seeding, at a different moment on each side (and on etcd through the members and every instance's stream), so
# with an hour between rounds the numbers are the store's alone. The engine still runs, and leads, as usual.
SERVE_FLAGS=(--heartbeat-interval 3600 --leader-lease "$LEASE")

parse_args "$@"
require_tools etcd wrk curl python3
build_release
make_work zos-bench-etcd

# Before anything of ours runs, so whatever CPU the machine uses is someone else's.
measure_background
echo "== other load on the machine ${background_pct}%" >&2
warn_if_busy "expect lower req/s, higher latencies and a slower failover"

# sled: one instance, as bench/api.sh runs it.
pick_port
start_server "${SERVE_FLAGS[@]}"
sled_pid="$server_pid" sled_port="$port" sled_base="$base" sled_token="$token" sled_auth="$auth"

# etcd: three members and three instances on one prefix. The first instance issues the bootstrap token; the
# others find the cluster bootstrapped, and the token works on all of them.
start_etcd
instance_flags=("${SERVE_FLAGS[@]}")
for i in 0 1 2; do
    start_instance "$i"
done
[[ -s "$work/data-0/admin.token" ]] || die "no bootstrap token at $work/data-0/admin.token"
etcd_token="$(tr -d '[:space:]' <"$work/data-0/admin.token")"
etcd_auth="Authorization: Bearer $etcd_token"
# A and B are the two that do not lead, so neither runs the engine: writes go to A; B serves the GETs and the
# events, from its copy of what A wrote.
find_leader
a=$(((leader + 1) % 3)) b=$(((leader + 2) % 3))
b_base="http://127.0.0.1:${ports[b]}"

echo "== seeding $NODES nodes on sled, then through instance $a on etcd, with $SEED_CONCURRENCY clients" >&2
sled_wps="$(seed_nodes "$NODES" "$SEED_CONCURRENCY" "$sled_port" "$sled_token")" || die "seeding sled failed"
etcd_wps="$(seed_nodes "$NODES" "$SEED_CONCURRENCY" "${ports[a]}" "$etcd_token")" || die "seeding etcd failed"
echo "   sled ${sled_wps} writes/s, etcd ${etcd_wps} writes/s" >&2

# Both must serve all the nodes before their reads are compared; B's copy follows etcd's watch, so give it time.
listed="$(listed_nodes "$sled_base" "$sled_auth")" || die "GET /nodes on sled failed"
[[ "$listed" == "$NODES" ]] || die "GET /nodes on sled returned $listed nodes, expected $NODES"
b_has_all() { [[ "$(listed_nodes "$b_base" "$etcd_auth" || true)" == "$NODES" ]]; }
wait_for 10 "${pids[b]}" "instance $b" b_has_all || die "instance $b did not serve all $NODES nodes within 10 s"

run_wrk get-sled "$sled_pid" 64 "$WRK_DURATION" "$sled_base/nodes/node-0500" "$sled_auth"
run_wrk get-etcd "${pids[b]}" 64 "$WRK_DURATION" "$b_base/nodes/node-0500" "$etcd_auth"

# event_latency NAME WRITER_PORT READER_PORT TOKEN: follows READER's /events, registers $EVENT_WRITES new nodes
# on WRITER one after the other (each answer must be 201), and writes to $work/NAME.events.json, in ms, each
# write's round trip, the time from its 201 to its `created` event on READER's stream (below 0 when the event came
# first), and from the request's start to that event.
# Status 1 with the reason on stderr when a write fails or an event has not come 10 s after the last write.
event_latency() {
    WRITER_PORT="$2" READER_PORT="$3" TOKEN="$4" COUNT="$EVENT_WRITES" FIRST=$((NODES + 1)) \
        OUT="$work/$1.events.json" py <<'PY'
import urllib.request

count, token = int(env["COUNT"]), env["TOKEN"]
nodes = bench_nodes(int(env["FIRST"]), count, "event")
ids = [node["id"] for node in nodes]
wanted = set(ids)
arrived, ready, failed = {}, threading.Event(), []


def listen():
    """Notes when each wanted node's `created` event arrives; stops when all have."""
    request = urllib.request.Request(f"http://127.0.0.1:{env['READER_PORT']}/events",
                                     headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
    try:
        with urllib.request.urlopen(request, timeout=30) as stream:
            for raw in stream:
                field, _, value = raw.decode().rstrip("\r\n").partition(":")
                value = value.strip()
                if field == "event" and value == "ready":
                    ready.set()
                elif field == "data" and value.startswith("{"):
                    change = json.loads(value)
                    if (change.get("kind"), change.get("collection")) == ("created", "nodes") \
                            and change.get("id") in wanted:
                        arrived.setdefault(change["id"], time.monotonic())
                        if len(arrived) == count:
                            return
    except Exception as err:  # the stream broke: reported below as the events that never came
        failed.append(f"{type(err).__name__}: {err}")
    finally:
        ready.set()


threading.Thread(target=listen, daemon=True).start()
if not ready.wait(10) or failed:
    sys.stderr.write(f"/events did not open: {failed}\n")
    sys.exit(1)
conn = http.client.HTTPConnection("127.0.0.1", int(env["WRITER_PORT"]), timeout=10)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
sent, acked = {}, {}
for node in nodes:
    sent[node["id"]] = time.monotonic()
    conn.request("POST", "/nodes", body=json.dumps(node), headers=headers)
    resp = conn.getresponse()
    text = resp.read()
    acked[node["id"]] = time.monotonic()
    if resp.status != 201:
        sys.stderr.write(f"{node['id']}: HTTP {resp.status} {text[:200]!r}\n")
        sys.exit(1)
deadline = time.monotonic() + 10
while len(arrived) < count and time.monotonic() < deadline and not failed:
    time.sleep(0.05)
missing = sorted(wanted - arrived.keys())
if missing:
    sys.stderr.write(f"{len(missing)} of {count} events never came (first: {missing[0]}) {failed}\n")
    sys.exit(1)
with open(env["OUT"], "w") as out:
    json.dump({"write_ms": [(acked[i] - sent[i]) * 1e3 for i in ids],
               "ack_to_event_ms": [(arrived[i] - acked[i]) * 1e3 for i in ids],
               "send_to_event_ms": [(arrived[i] - sent[i]) * 1e3 for i in ids]}, out)
PY
}

echo "== $EVENT_WRITES writes, each timed to its event: on sled (one instance), on etcd (instance $a to $b)" >&2
event_latency sled "$sled_port" "$sled_port" "$sled_token" || die "the event latency on sled failed"
event_latency etcd "${ports[a]}" "${ports[b]}" "$etcd_token" || die "the event latency on etcd failed"

kills=()
for _ in $(seq "$FAILOVER_ROUNDS"); do
    fail_over KILL
    kills+=("$handover_s")
done

SLED_WPS="$sled_wps" ETCD_WPS="$etcd_wps" KILLS="${kills[*]}" NODES="$NODES" SEED_CONC="$SEED_CONCURRENCY" \
    EVENT_WRITES="$EVENT_WRITES" LEASE="$LEASE" G_RATIO="$GOAL_GET_RATIO_MIN" G_FAILOVER="$GOAL_FAILOVER_S_MAX" \
    report <<'PY'
import math, statistics


def percentile(values, pct):
    """Nearest rank: the smallest value with at least pct % of them at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)) - 1, 0)]


def events(name):
    samples = json.load(open(f"{env['WORK']}/{name}.events.json"))
    return {key: {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}
            for key, values in samples.items()}


get = {side: wrk_result(f"get-{side}") for side in ("sled", "etcd")}
wps = {"sled": float(env["SLED_WPS"]), "etcd": float(env["ETCD_WPS"])}
lat = {side: events(side) for side in ("sled", "etcd")}
kills = [float(x) for x in env["KILLS"].split()]
ratio = get["etcd"]["rps"] / get["sled"]["rps"] if get["sled"]["rps"] else None
errors = sum(r["non_2xx"] + r["socket_errors"] for r in get.values())

rows = []
for label, key, digits in (("req/s", "rps", 0), ("p99 ms", "p99_ms", 2)):
    rows += [(f"GET /nodes/{{id}} {label} (c64), {side}", get[side][key], digits, info()) for side in get]
rows += [
    ("GET /nodes/{id} req/s, etcd / sled", ratio, 2, at_least(ratio, float(env["G_RATIO"]))),
    *[(f"POST /nodes writes/s (c{env['SEED_CONC']}), {side}", wps[side], 0, info()) for side in wps],
    *[(f"POST /nodes p50 ms (one writer), {side}", lat[side]["write_ms"]["p50"], 2, info()) for side in lat],
    *[(f"{what} to event {pct} ms, {side} ({path})", lat[side][f"{key}_to_event_ms"][pct], 2, info())
      for what, key in (("201", "ack"), ("request", "send"))
      for side, path in (("sled", "itself"), ("etcd", "A to B"))
      for pct in ("p50", "p99")],
    ("failover after SIGKILL, median s", statistics.median(kills), 3, info()),
    ("failover after SIGKILL, worst s", max(kills), 3, below(max(kills), float(env["G_FAILOVER"]))),
    ("non-2xx + socket errors", errors, 0, (errors == 0, "= 0")),
    *[(f"server CPU us/req GET /nodes/{{id}}, {side}", get[side]["server_cpu_us_per_req"], 1, info())
      for side in get],
]

print_header(
    f"data      {env['NODES']} nodes on each; etcd: 3 members, 3 instances (writes on A, GETs and events on B,"
    f" neither leads), lease {env['LEASE']} s, {len(kills)} SIGKILL rounds",
    f"noise     other load on the machine before the run: {background()}% of the CPU" + noise_verdict(background()),
)
finish("etcd", rows, 44, {
    "nodes": int(env["NODES"]), "seed_concurrency": int(env["SEED_CONC"]),
    "event_writes": int(env["EVENT_WRITES"]), "lease_s": int(env["LEASE"]),
    **{side: {"get_node": get[side], "writes_per_s": wps[side], "latency_ms": lat[side]} for side in get},
    "get_ratio_etcd_to_sled": ratio, "failover_sigkill_s": kills,
})
PY
