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

# Goals. The first three are the project's stated targets; the others are this bench's guard rails so a
# regression shows up (change them here, with a reason, if the product goals change).
GOAL_ITEM_RPS_MIN=30000     # GET /nodes/{id} requests/s with 64 connections
GOAL_LIST_P99_MS_MAX=20     # GET /nodes (1,000 nodes) p99 with 8 connections
GOAL_IDLE_RSS_MB_MAX=30     # right after start
GOAL_ITEM_P99_MS_MAX=10     # GET /nodes/{id} p99 with 64 connections
GOAL_LIST_RPS_MIN=200       # GET /nodes with 8 connections
GOAL_SEED_WPS_MIN=100       # POST /nodes, each fsync'ed, 16 concurrent clients
GOAL_LOADED_RSS_MB_MAX=100  # after all the load

NODES=1000
SEED_CONCURRENCY=16
WRK_DURATION=10s
HEALTH_DURATION=5s

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

# Fail before building anything if a tool is missing; the apt-get line is what to run.
missing=()
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "error: missing tool(s): ${missing[*]}" >&2
    echo "install with: apt-get install -y ${missing[*]}" >&2
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

work="$(mktemp -d "${TMPDIR:-/tmp}/zos-bench.XXXXXX")"
server_pid=""

cleanup() {
    # SIGTERM first so the server flushes and exits cleanly; SIGKILL if it hangs past the grace period.
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
# Ctrl-C / TERM: exit, which runs the EXIT trap above (the server is a background job and does not get SIGINT).
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
    echo "error: $*" >&2
    if [[ -s "$work/server.log" ]]; then
        echo "--- last server log lines:" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    exit 2
}

# A free loopback port: bind port 0 and let the kernel choose (racy in theory, fine on a quiet dev box).
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
data="$work/data"

"$bin" serve --listen "127.0.0.1:$port" --tftp-listen off --data-dir "$data" --log-format json >"$work/server.log" 2>&1 &
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

rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status"; }
hwm_mb() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status"; }
# The server's CPU time in clock ticks (utime + stime), to tell CPU cost per request apart from wrk's share.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

# Busy and total CPU ticks of the whole machine (busy = all but idle and iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# Idle: let start-up allocations settle for a second. The server does nothing meanwhile, so whatever CPU the
# machine uses in that second is someone else's: a busy machine (a build, a test run) skews every number below.
read -r busy0 total0 < <(machine_ticks)
sleep 1
read -r busy1 total1 < <(machine_ticks)
background_pct=$((100 * (busy1 - busy0) / (total1 - total0 > 0 ? total1 - total0 : 1)))
idle_rss="$(rss_mb)"
echo "== idle RSS ${idle_rss} MB; other load on the machine ${background_pct}%" >&2
if ((background_pct > 10)); then
    echo "warning: ${background_pct}% of the CPU is busy with something else; expect lower req/s and higher p99" >&2
fi

# Seeding: threads with one keep-alive connection each; every answer must be 201.
echo "== seeding $NODES nodes with $SEED_CONCURRENCY clients" >&2
seed_wps="$(
    BASE_PORT="$port" TOKEN="$token" NODES="$NODES" CONC="$SEED_CONCURRENCY" python3 - <<'PY'
import http.client, json, os, sys, threading, time

port, token = int(os.environ["BASE_PORT"]), os.environ["TOKEN"]
n, conc = int(os.environ["NODES"]), int(os.environ["CONC"])
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
failures = []

deadline = time.monotonic() + 60  # bounded even against a server that stops answering

def worker(ids):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in ids:
        if failures or time.monotonic() > deadline:
            failures.append("stopped: another client failed or the 60 s budget ran out")
            return
        # Loopback addresses with a closed port: the heartbeat probes every registered node, and only this machine
        # may be probed.
        body = json.dumps({"id": f"node-{i:04d}", "address": f"127.0.{i // 250}.{i % 250 + 1}:1",
                           "labels": {"rack": f"r{i % 10 + 1}"}})
        try:
            conn.request("POST", "/nodes", body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read()
        except Exception as err:  # a timeout or reset is a failed write, not a crash of the bench
            failures.append(f"node-{i:04d}: {type(err).__name__}: {err}")
            return
        if resp.status != 201:
            failures.append(f"node-{i:04d}: HTTP {resp.status} {text[:200]!r}")
            return
    conn.close()

chunks = [range(1 + k, n + 1, conc) for k in range(conc)]
threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
start = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - start
if failures:
    sys.stderr.write(f"seeding failed after {elapsed:.1f} s: {failures[0]}\n")
    sys.exit(1)
print(f"{n / elapsed:.0f}")
PY
)" || die "seeding failed"
echo "   ${seed_wps} writes/s" >&2

# The list must really hold all the nodes, or the GET /nodes numbers mean nothing.
curl -sf -m 10 -H "$auth" "$base/nodes" -o "$work/list.json" || die "GET /nodes failed"
listed="$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$work/list.json")"
list_kb="$(($(stat -c %s "$work/list.json") / 1024))"
[[ "$listed" == "$NODES" ]] || die "GET /nodes returned $listed nodes, expected $NODES"
curl -sf -m 10 -o /dev/null -H "$auth" "$base/nodes/node-0500" || die "GET /nodes/node-0500 failed"

# run_wrk NAME CONNECTIONS DURATION PATH [HEADER]: runs wrk, keeps its output in $work/NAME.wrk and the server's
# CPU ticks during the run in $work/NAME.cpu.
run_wrk() {
    local name="$1" conns="$2" duration="$3" path="$4" header="${5:-}"
    local args=(-t2 "-c$conns" "-d$duration" --latency)
    [[ -n "$header" ]] && args+=(-H "$header")
    echo "== wrk ${args[*]/#Authorization*/Authorization: Bearer ***} $path" >&2
    local before
    before="$(cpu_ticks)"
    wrk "${args[@]}" "$base$path" >"$work/$name.wrk" 2>&1 || die "wrk failed on $path: $(cat "$work/$name.wrk")"
    echo $(($(cpu_ticks) - before)) >"$work/$name.cpu"
    kill -0 "$server_pid" 2>/dev/null || die "the server died under load on $path"
}

run_wrk item 64 "$WRK_DURATION" /nodes/node-0500 "$auth"
run_wrk list 8 "$WRK_DURATION" /nodes "$auth"
# The per-request floor of the stack (routing, HTTP, JSON of a small body), without auth or the node store.
run_wrk health 64 "$HEALTH_DURATION" /health

loaded_rss="$(rss_mb)"
peak_rss="$(hwm_mb)"
version="$("$bin" --version)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit+dirty"
fi
cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
results_dir="$root/bench/results"

# Parse wrk's output, print the table and, with --save, the JSON. Exits 1 when a goal is missed.
WORK="$work" SAVE="$save" RESULTS_DIR="$results_dir" TICKS="$(getconf CLK_TCK)" \
    IDLE_RSS="$idle_rss" LOADED_RSS="$loaded_rss" PEAK_RSS="$peak_rss" SEED_WPS="$seed_wps" \
    NODES="$NODES" LIST_KB="$list_kb" SEED_CONC="$SEED_CONCURRENCY" \
    VERSION="$version" COMMIT="$commit" NPROC="$(nproc)" CPU_MODEL="${cpu_model:-unknown}" \
    KERNEL="$(uname -r)" BACKGROUND_PCT="$background_pct" \
    G_ITEM_RPS="$GOAL_ITEM_RPS_MIN" G_ITEM_P99="$GOAL_ITEM_P99_MS_MAX" G_LIST_RPS="$GOAL_LIST_RPS_MIN" \
    G_LIST_P99="$GOAL_LIST_P99_MS_MAX" G_IDLE="$GOAL_IDLE_RSS_MB_MAX" G_LOADED="$GOAL_LOADED_RSS_MB_MAX" \
    G_SEED="$GOAL_SEED_WPS_MIN" python3 - <<'PY'
import datetime, json, os, re, sys

env = os.environ
work = env["WORK"]
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}

def parse(name):
    text = open(f"{work}/{name}.wrk").read()
    def ms(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    requests = int(total.group(1)) if total else 0
    ticks = int(open(f"{work}/{name}.cpu").read())
    cpu_s = ticks / int(env["TICKS"])
    seconds = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[total.group(3)] if total else 0
    return {
        "requests": requests,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
        # Server CPU per request, and how many of the cores the server used (the rest went to wrk and the kernel).
        "server_cpu_us_per_req": round(cpu_s * 1e6 / requests, 1) if requests else None,
        "server_cores_used": round(cpu_s / seconds, 2) if seconds else None,
    }

item, lst, health = parse("item"), parse("list"), parse("health")
idle, loaded, peak = float(env["IDLE_RSS"]), float(env["LOADED_RSS"]), float(env["PEAK_RSS"])
seed = float(env["SEED_WPS"])
errors = sum(r["non_2xx"] + r["socket_errors"] for r in (item, lst, health))

def at_least(v, g): return (v is not None and v >= g, f">= {g:g}")
def below(v, g): return (v is not None and v < g, f"< {g:g}")
def info(): return (None, "-")

rows = [
    ("GET /nodes/{id} req/s (c64)", item["rps"], 0, at_least(item["rps"], float(env["G_ITEM_RPS"]))),
    ("GET /nodes/{id} p50 ms (c64)", item["p50_ms"], 2, info()),
    ("GET /nodes/{id} p99 ms (c64)", item["p99_ms"], 2, below(item["p99_ms"], float(env["G_ITEM_P99"]))),
    (f"GET /nodes ({env['NODES']}) req/s (c8)", lst["rps"], 0, at_least(lst["rps"], float(env["G_LIST_RPS"]))),
    (f"GET /nodes ({env['NODES']}) p50 ms (c8)", lst["p50_ms"], 2, info()),
    (f"GET /nodes ({env['NODES']}) p99 ms (c8)", lst["p99_ms"], 2, below(lst["p99_ms"], float(env["G_LIST_P99"]))),
    ("GET /health req/s (c64, reference)", health["rps"], 0, info()),
    ("GET /health p99 ms (c64, reference)", health["p99_ms"], 2, info()),
    (f"POST /nodes writes/s (c{env['SEED_CONC']})", seed, 0, at_least(seed, float(env["G_SEED"]))),
    ("idle RSS MB", idle, 1, below(idle, float(env["G_IDLE"]))),
    ("RSS after load MB", loaded, 1, below(loaded, float(env["G_LOADED"]))),
    ("peak RSS MB (VmHWM)", peak, 1, info()),
    ("non-2xx + socket errors", errors, 0, (errors == 0, "= 0")),
    ("server CPU us/req GET /nodes/{id}", item["server_cpu_us_per_req"], 1, info()),
    ("server CPU us/req GET /nodes", lst["server_cpu_us_per_req"], 1, info()),
    ("server CPU us/req GET /health", health["server_cpu_us_per_req"], 1, info()),
]

print()
print(f"machine   {env['NPROC']} cores, {env['CPU_MODEL']}, Linux {env['KERNEL']}")
print(f"binary    {env['VERSION']} (commit {env['COMMIT']}, release)")
print(f"data      {env['NODES']} nodes, GET /nodes body {env['LIST_KB']} KB; wrk -t2 on the same cores as the server")
background = int(env["BACKGROUND_PCT"])
print(f"noise     other load on the machine before the run: {background}% of the CPU"
      + (" (busy: the numbers are pessimistic, rerun on a quiet machine)" if background > 10 else " (quiet)"))
print()
print(f"{'metric':<38}{'measured':>10}   {'goal':<12}ok")
missed = []
for name, value, digits, (ok, goal) in rows:
    shown = "n/a" if value is None else f"{value:.{digits}f}"
    mark = "" if ok is None else ("yes" if ok else "NO")
    print(f"{name:<38}{shown:>10}   {goal:<12}{mark}")
    if ok is False:
        missed.append(name)
print()
print("all goals met" if not missed else f"goals missed: {', '.join(missed)}")

if env["SAVE"] == "1":
    now = datetime.datetime.now(datetime.timezone.utc)
    os.makedirs(env["RESULTS_DIR"], exist_ok=True)
    path = os.path.join(env["RESULTS_DIR"], f"api-{now:%Y%m%dT%H%M%SZ}.json")
    doc = {
        "date": now.isoformat(timespec="seconds"),
        "machine": {"nproc": int(env["NPROC"]), "cpu": env["CPU_MODEL"], "kernel": env["KERNEL"],
                    "background_cpu_pct": background},
        "binary": {"version": env["VERSION"], "commit": env["COMMIT"]},
        "nodes": int(env["NODES"]), "list_body_kb": int(env["LIST_KB"]),
        "get_node": item, "list_nodes": lst, "health": health,
        "seed_writes_per_s": seed, "seed_concurrency": int(env["SEED_CONC"]),
        "rss_mb": {"idle": idle, "after_load": loaded, "peak": peak},
        "goals": [{"metric": n, "measured": v, "goal": g, "ok": ok} for n, v, _, (ok, g) in rows if ok is not None],
        "all_goals_met": not missed,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"saved {path}")

sys.exit(1 if missed else 0)
PY
