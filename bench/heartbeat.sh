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

save=0
build=1
for arg in "$@"; do
    case "$arg" in
        --save) save=1 ;;
        --no-build) build=0 ;;
        -h | --help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "error: unknown argument '$arg' (expected --save, --no-build)" >&2
            exit 2
            ;;
    esac
done

# Fail before building anything if a tool is missing; the apt-get line is what to run (ss is in iproute2).
missing=()
for tool in wrk curl python3 ss; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    packages=("${missing[@]/#ss/iproute2}")
    echo "error: missing tool(s): ${missing[*]}" >&2
    echo "install with: apt-get install -y ${packages[*]}" >&2
    exit 3
fi

# The repo root is the parent of this script's folder, wherever it is run from.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/target/release/zos-orchestrator"

if ((build)); then
    echo "== cargo build --release" >&2
    (cd "$root" && cargo build --release --quiet)
fi
[[ -x "$bin" ]] || {
    echo "error: $bin not found (build it, or drop --no-build)" >&2
    exit 2
}

work="$(mktemp -d "${TMPDIR:-/tmp}/zos-bench-hb.XXXXXX")"
server_pid=""
sim_pid=""

# stop PID: SIGTERM first so the process exits cleanly; SIGKILL if it hangs past the grace period (5 s).
stop() {
    local pid="$1"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    # The server first, so it does not log 1,000 nodes going unreachable.
    stop "$server_pid"
    stop "$sim_pid"
    rm -rf "$work"
}
trap cleanup EXIT
# Ctrl-C / TERM: exit, which runs the EXIT trap above (both are background jobs and do not get SIGINT).
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
    echo "error: $*" >&2
    local log
    for log in sim server; do
        if [[ -s "$work/$log.log" ]]; then
            echo "--- last $log log lines:" >&2
            tail -n 20 "$work/$log.log" >&2
        fi
    done
    exit 2
}

# Busy and total CPU ticks of the whole machine (busy = all but idle and iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# A process's CPU time in clock ticks (utime + stime); the same unit as /proc/stat.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# Before starting anything: whatever CPU the machine uses in this second is someone else's, and a busy machine
# (a build, a test run) skews every number below.
read -r busy0 total0 < <(machine_ticks)
sleep 1
read -r busy1 total1 < <(machine_ticks)
background_pct=$((100 * (busy1 - busy0) / (total1 - total0 > 0 ? total1 - total0 : 1)))
echo "== other load on the machine ${background_pct}%" >&2
if ((background_pct > 10)); then
    echo "warning: ${background_pct}% of the CPU is busy with something else; expect higher CPU and p99" >&2
fi

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

# Each node prints its JSON line once it listens: wait (at most 30 s) for all of them.
deadline=$((SECONDS + 30))
started=0
while ((SECONDS < deadline)); do
    kill -0 "$sim_pid" 2>/dev/null || die "the sim exited during start"
    started="$(grep -c '"emulated"' "$work/nodes.jsonl" || true)"
    ((started >= NODES)) && break
    sleep 0.1
done
((started >= NODES)) || die "only $started of $NODES emulated nodes listened within 30 s"

# A free loopback port for the API: bind port 0 and let the kernel choose (racy in theory, fine on a quiet box).
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
data="$work/data"

echo "== starting the orchestrator on 127.0.0.1:$port, heartbeat every ${HEARTBEAT_INTERVAL} s" >&2
"$bin" serve --listen "127.0.0.1:$port" --tftp-listen off --data-dir "$data" --log-format json \
    --heartbeat-interval "$HEARTBEAT_INTERVAL" >"$work/server.log" 2>&1 &
server_pid=$!

# Wait (at most 10 s) for /health to answer 200.
deadline=$((SECONDS + 10))
code=000
while ((SECONDS < deadline)); do
    kill -0 "$server_pid" 2>/dev/null || die "the server exited during start"
    code="$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$base/health" || true)"
    [[ "$code" == 200 ]] && break
    sleep 0.1
done
[[ "$code" == 200 ]] || die "GET /health did not answer 200 within 10 s (last: $code)"
[[ -s "$data/admin.token" ]] || die "no bootstrap token at $data/admin.token"
token="$(tr -d '[:space:]' <"$data/admin.token")"
auth="Authorization: Bearer $token"

# Registration, then polling GET /nodes until every node is online. Prints "<register s> <online s>", both
# counted from the first registration.
echo "== registering $NODES nodes with $REGISTER_CONCURRENCY clients, then waiting for all to be online" >&2
read -r register_s online_s < <(
    PORT="$port" TOKEN="$token" NODES_FILE="$work/nodes.jsonl" CONC="$REGISTER_CONCURRENCY" \
        TIMEOUT="$ONLINE_TIMEOUT" python3 - <<'PY' || echo "failed failed"
import http.client, json, os, sys, threading, time

port, token = int(os.environ["PORT"]), os.environ["TOKEN"]
conc, timeout = int(os.environ["CONC"]), float(os.environ["TIMEOUT"])
nodes = [json.loads(line) for line in open(os.environ["NODES_FILE"]) if line.strip()]
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
failures = []
deadline = time.monotonic() + 60  # bounded even against a server that stops answering

def worker(chunk):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for node in chunk:
        if failures or time.monotonic() > deadline:
            failures.append("stopped: another client failed or the 60 s budget ran out")
            return
        body = json.dumps({"id": node["id"], "address": node["address"]})
        try:
            conn.request("POST", "/nodes", body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read()
        except Exception as err:
            failures.append(f"{node['id']}: {type(err).__name__}: {err}")
            return
        if resp.status != 201:
            failures.append(f"{node['id']}: HTTP {resp.status} {text[:200]!r}")
            return
    conn.close()

threads = [threading.Thread(target=worker, args=(nodes[k::conc],)) for k in range(conc)]
start = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
registered = time.monotonic() - start
if failures:
    sys.stderr.write(f"registration failed after {registered:.1f} s: {failures[0]}\n")
    sys.exit(1)

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
states = {}
while time.monotonic() - start < timeout:
    conn.request("GET", "/nodes", headers={"Authorization": headers["Authorization"]})
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
version="$("$bin" --version)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit+dirty"
fi
cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
results_dir="$root/bench/results"

# Parse wrk's output, print the table and, with --save, the JSON. Exits 1 when a goal is missed.
WORK="$work" SAVE="$save" RESULTS_DIR="$results_dir" TICKS="$(getconf CLK_TCK)" WINDOW="$WINDOW" \
    NODES="$NODES" LIST_KB="$list_kb" INTERVAL="$HEARTBEAT_INTERVAL" REGISTER_S="$register_s" ONLINE_S="$online_s" \
    RSS="$rss" PEAK_RSS="$peak_rss" SIM_RSS="$sim_rss" \
    VERSION="$version" COMMIT="$commit" NPROC="$(nproc)" CPU_MODEL="${cpu_model:-unknown}" \
    KERNEL="$(uname -r)" BACKGROUND_PCT="$background_pct" \
    G_CPU="$GOAL_CPU_PCT_MAX" G_RSS="$GOAL_RSS_MB_MAX" G_P99="$GOAL_LIST_P99_MS_MAX" python3 - <<'PY'
import datetime, json, os, re, sys

env = os.environ
work = env["WORK"]
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
nodes = int(env["NODES"])

def ticks(name):
    server, sim, client, busy, total = map(int, open(f"{work}/{name}.ticks").read().split())
    hz, ncpu = int(env["TICKS"]), int(env["NPROC"])
    # Process ticks over the window's wall time (total machine ticks / cores), as % of one core.
    seconds = total / hz / ncpu if total else float(env["WINDOW"])
    pct = lambda t: 100.0 * t / hz / seconds
    # What else ran meanwhile, as % of the whole machine (busy ticks not spent in the server, the sim or wrk).
    other = 100.0 * max(busy - server - sim - client, 0) / total if total else 0.0
    return {"server_cpu_pct": round(pct(server), 1), "sim_cpu_pct": round(pct(sim), 1),
            "wrk_cpu_pct": round(pct(client), 1), "other_machine_pct": round(other, 1)}

def parse_wrk():
    text = open(f"{work}/list.wrk").read()
    def ms(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s+(\d+) requests in", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    }

idle, loaded, lst = ticks("idle"), ticks("loaded"), parse_wrk()
listed = json.load(open(f"{work}/list.json"))
states = {}
for node in listed:
    states[node["state"]] = states.get(node["state"], 0) + 1
not_online = nodes - states.get("online", 0)
errors = lst["non_2xx"] + lst["socket_errors"]
rss, peak, sim_rss = float(env["RSS"]), float(env["PEAK_RSS"]), float(env["SIM_RSS"])
online_s, register_s = float(env["ONLINE_S"]), float(env["REGISTER_S"])

def below(v, g): return (v is not None and v < g, f"< {g:g}")
def info(): return (None, "-")

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

print()
print(f"machine   {env['NPROC']} cores, {env['CPU_MODEL']}, Linux {env['KERNEL']}")
print(f"binary    {env['VERSION']} (commit {env['COMMIT']}, release)")
print(f"data      {nodes} emulated nodes (sim, own process), heartbeat every {env['INTERVAL']} s, "
      f"GET /nodes body {env['LIST_KB']} KB; wrk -t1 on the same cores")
background = int(env["BACKGROUND_PCT"])
noise = max(background, idle["other_machine_pct"], loaded["other_machine_pct"])
print(f"noise     other load on the machine: {background}% before the run, {idle['other_machine_pct']:g}% during the "
      f"no-load window, {loaded['other_machine_pct']:g}% during wrk"
      + (" (busy: the numbers are pessimistic, rerun on a quiet machine)" if noise > 10 else " (quiet)"))
if not_online:
    print(f"states    {states}")
print()
print(f"{'metric':<40}{'measured':>10}   {'goal':<12}ok")
missed = []
for name, value, digits, (ok, goal) in rows:
    shown = "n/a" if value is None else f"{value:.{digits}f}"
    mark = "" if ok is None else ("yes" if ok else "NO")
    print(f"{name:<40}{shown:>10}   {goal:<12}{mark}")
    if ok is False:
        missed.append(name.strip())
print()
print("all goals met" if not missed else f"goals missed: {', '.join(missed)}")

if env["SAVE"] == "1":
    now = datetime.datetime.now(datetime.timezone.utc)
    os.makedirs(env["RESULTS_DIR"], exist_ok=True)
    path = os.path.join(env["RESULTS_DIR"], f"heartbeat-{now:%Y%m%dT%H%M%SZ}.json")
    doc = {
        "date": now.isoformat(timespec="seconds"),
        "machine": {"nproc": int(env["NPROC"]), "cpu": env["CPU_MODEL"], "kernel": env["KERNEL"],
                    "background_cpu_pct": background, "other_cpu_pct_no_load": idle["other_machine_pct"],
                    "other_cpu_pct_with_wrk": loaded["other_machine_pct"]},
        "binary": {"version": env["VERSION"], "commit": env["COMMIT"]},
        "nodes": nodes, "heartbeat_interval_s": int(env["INTERVAL"]), "list_body_kb": int(env["LIST_KB"]),
        "register_s": register_s, "all_online_s": online_s,
        "no_load": idle, "with_wrk": loaded, "list_nodes": lst,
        "rss_mb": {"end": rss, "peak": peak, "sim": sim_rss},
        "states_at_end": states, "not_online_at_end": not_online,
        "goals": [{"metric": n.strip(), "measured": v, "goal": g, "ok": ok}
                  for n, v, _, (ok, g) in rows if ok is not None],
        "all_goals_met": not missed,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"saved {path}")

sys.exit(1 if missed else 0)
PY
