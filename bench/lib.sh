# shellcheck shell=bash
# What the bench scripts share: their flags, tool check, build, temp dir and clean-up, the server's start, an
# etcd cluster with orchestrators on it and their leader's failover, wrk, the /proc readings, and the Python
# helpers behind their load and their report. Sourced by them after their `set -euo pipefail`; it only defines
# things, and is not run on its own.
#
# Globals it sets for the scripts: save, build (flags); root, bin; work (the temp dir); port, base, data,
# server_pid, token, auth (the server); etcd_store, ports, pids, leader, handover_s (the orchestrators on etcd);
# background_pct (the noise before the run).

# Background processes to stop on exit, in the order they started (a script adds the ones it starts itself).
bench_pids=()
# The logs in $work whose last lines die() shows, in this order (a script that starts more adds its own).
die_logs=(server)

# parse_args "$@": --save and --no-build into $save and $build; --help prints the script's header comment.
# Both scripts take the same flags, so they document and reject them alike.
parse_args() {
    save=0
    build=1
    local arg
    for arg in "$@"; do
        case "$arg" in
            --save) save=1 ;;
            --no-build) build=0 ;;
            -h | --help)
                sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
                exit 0
                ;;
            *)
                echo "error: unknown argument '$arg' (expected --save, --no-build)" >&2
                exit 2
                ;;
        esac
    done
}

# require_tools TOOL...: exits 3 before anything is built if a tool is missing, with the apt-get line that
# installs them (ss comes with iproute2).
require_tools() {
    local tool missing=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        local packages=("${missing[@]/#ss/iproute2}")
        echo "error: missing tool(s): ${missing[*]}" >&2
        echo "install with: apt-get install -y ${packages[*]}" >&2
        exit 3
    fi
}

# build_release: sets $root (the parent of this file's folder, wherever the bench is run from) and $bin, and
# builds the release binary unless --no-build; exits 2 if there is no binary to run.
# ZOS_BIN=PATH runs that binary instead, unbuilt (to measure another build, e.g. main's, in the same way).
build_release() {
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    bin="${ZOS_BIN:-$root/target/release/zos-orchestrator}"
    if ((build)) && [[ -z "${ZOS_BIN:-}" ]]; then
        echo "== cargo build --release" >&2
        (cd "$root" && cargo build --release --quiet)
    fi
    [[ -x "$bin" ]] || {
        echo "error: $bin not found (build it, or drop --no-build)" >&2
        exit 2
    }
}

# stop PID: SIGTERM first so the process exits cleanly (the server flushes); SIGKILL if it hangs past the grace
# period (5 s).
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

# cleanup: the EXIT trap. Stops the background processes latest first, since a later one uses the earlier ones
# (the server before the emulated nodes, so it does not log 1,000 nodes going unreachable), then removes $work.
cleanup() {
    local i
    for ((i = ${#bench_pids[@]} - 1; i >= 0; i--)); do
        stop "${bench_pids[i]}"
    done
    rm -rf "$work"
}

# make_work PREFIX: creates the temp dir $work (under $TMPDIR, so the data dir and its fsyncs go there) and sets
# the traps that clean up whatever way the script ends.
make_work() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    trap cleanup EXIT
    # Ctrl-C / TERM: exit, which runs the EXIT trap (the background jobs do not get SIGINT).
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# die MESSAGE: the benchmark itself failed (exit 2); the end of the logs usually says why.
die() {
    echo "error: $*" >&2
    local log
    for log in "${die_logs[@]}"; do
        if [[ -s "$work/$log.log" ]]; then
            echo "--- last $log log lines:" >&2
            tail -n 20 "$work/$log.log" >&2
        fi
    done
    exit 2
}

# wait_for SECONDS PID WHO CHECK...: runs CHECK every 0.1 s until it succeeds (status 0) or SECONDS have passed
# (status 1); dies at once when PID exits, since then it never will.
wait_for() {
    local deadline=$((SECONDS + $1)) pid="$2" who="$3"
    shift 3
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || die "$who exited during start"
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# free_port: prints a free loopback port. Binds port 0 and lets the kernel choose (racy in theory, fine on a
# quiet box).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# pick_port: a free loopback port for the API in $port, and the $base URL and $data dir that go with it.
pick_port() {
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    data="$work/data"
}

# health_ok: whether GET /health answers 200; keeps the status in $code for the error message.
health_ok() {
    code="$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$base/health" || true)"
    [[ "$code" == 200 ]]
}

# start_server [SERVE FLAG...]: starts the orchestrator on $port with a fresh $data dir, waits (at most 10 s)
# for /health to answer 200, and reads the bootstrap token into $token and the $auth header.
start_server() {
    "$bin" serve --listen "127.0.0.1:$port" --tftp-listen off --data-dir "$data" --log-format json "$@" \
        >"$work/server.log" 2>&1 &
    server_pid=$!
    bench_pids+=("$server_pid")
    code=000
    wait_for 10 "$server_pid" "the server" health_ok ||
        die "GET /health did not answer 200 within 10 s (last: $code)"
    [[ -s "$data/admin.token" ]] || die "no bootstrap token at $data/admin.token"
    token="$(tr -d '[:space:]' <"$data/admin.token")"
    # shellcheck disable=SC2034  # used by the scripts that source this file
    auth="Authorization: Bearer $token"
}

# seed_nodes COUNT CONCURRENCY PORT TOKEN: registers COUNT nodes (bench_nodes) on the server at PORT from
# CONCURRENCY threads with one keep-alive connection each, and prints the writes per second. Every answer must be
# 201: otherwise the reason goes to stderr and the status is 1.
seed_nodes() {
    NODES="$1" CONC="$2" BASE_PORT="$3" TOKEN="$4" py <<'PY'
n = int(env["NODES"])
_, elapsed = post_nodes(int(env["BASE_PORT"]), env["TOKEN"], bench_nodes(1, n), int(env["CONC"]), "seeding")
print(f"{n / elapsed:.0f}")
PY
}

# listed_nodes BASE AUTH: GET BASE/nodes into $work/list.json, and prints how many nodes it holds.
listed_nodes() {
    curl -sf -m 10 -H "$2" "$1/nodes" -o "$work/list.json" &&
        python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$work/list.json"
}

# start_etcd: a three-member etcd cluster on loopback ports (as tests/common/etcd.rs starts one: 50 ms
# heartbeats, 500 ms elections), its data and logs in $work; waits (at most 20 s) until it is healthy and puts
# the --store value naming all three members in $etcd_store.
start_etcd() {
    local m first clients=() peers=() initial=()
    for m in 0 1 2; do
        clients+=("$(free_port)") peers+=("$(free_port)")
        initial+=("m$m=http://127.0.0.1:${peers[m]}")
    done
    for m in 0 1 2; do
        etcd --name "m$m" --data-dir "$work/etcd-m$m" \
            --listen-client-urls "http://127.0.0.1:${clients[m]}" --advertise-client-urls "http://127.0.0.1:${clients[m]}" \
            --listen-peer-urls "http://127.0.0.1:${peers[m]}" --initial-advertise-peer-urls "http://127.0.0.1:${peers[m]}" \
            --initial-cluster "$(IFS=,; echo "${initial[*]}")" --initial-cluster-state new \
            --heartbeat-interval 50 --election-timeout 500 >"$work/etcd-m$m.log" 2>&1 &
        bench_pids+=("$!")
        die_logs+=("etcd-m$m")
        first="${first:-$!}"
    done
    etcd_store="etcd://127.0.0.1:${clients[0]},127.0.0.1:${clients[1]},127.0.0.1:${clients[2]}"
    etcd_health="http://127.0.0.1:${clients[0]}/health"
    wait_for 20 "$first" "etcd" etcd_ok || die "etcd did not become healthy within 20 s"
}
etcd_ok() { curl -s -m 1 "$etcd_health" | grep -q '"health":"true"'; }

# The orchestrators on $etcd_store: instance I listens on ports[I] (picked at its first start), keeps its data
# (instance id; the bootstrap token, on the first one) in $work/data-I and logs to $work/server-I.log; its pid
# is pids[I]. instance_flags are the serve flags every instance gets.
ports=() pids=() instance_flags=()

# start_instance I: starts (or restarts, on the same port and data) instance I and waits (at most 20 s) for its
# /health to answer 200.
start_instance() {
    local i="$1"
    if [[ -z "${ports[i]:-}" ]]; then
        ports[i]="$(free_port)"
        die_logs+=("server-$i")
    fi
    "$bin" serve --listen "127.0.0.1:${ports[i]}" --tftp-listen off --data-dir "$work/data-$i" \
        --store "$etcd_store" --log-format json "${instance_flags[@]}" >>"$work/server-$i.log" 2>&1 &
    pids[i]=$!
    bench_pids+=("${pids[i]}")
    base="http://127.0.0.1:${ports[i]}"
    wait_for 20 "${pids[i]}" "instance $i" health_ok || die "instance $i did not answer /health"
}

# now: a monotonic clock reading in seconds, from the clock await_leader measures with.
now() { python3 -c 'import time; print(time.monotonic())'; }

# await_leader EXCLUDED: polls every instance's /health but EXCLUDED's (-1: none) every 10 ms until one says it
# leads (engine.leading); prints its index and the seconds since $t0 (a reading of now()). Fails after 30 s.
await_leader() {
    python3 - "$1" "$t0" "${ports[@]}" <<'EOF'
import json, sys, time, urllib.request
excluded, t0, ports = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    for index, port in enumerate(ports):
        if index == excluded:
            continue
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as answer:
                if json.load(answer)["engine"]["leading"]:
                    print(index, f"{time.monotonic() - t0:.3f}")
                    sys.exit(0)
        except OSError:
            pass
    time.sleep(0.01)
sys.exit(1)
EOF
}

# find_leader: the index of the instance that leads, in $leader (after the first election, if it is still on).
find_leader() {
    t0="$(now)"
    read -r leader _ < <(await_leader -1) || die "no instance leads"
}

# fail_over KIND: one failover round. Lets the leader renew a few times (so each round starts from a settled
# lease), sends it SIGKIND, waits until another instance leads, restarts the stopped one, and makes the new one
# $leader; the seconds from the signal until the new leader said so go into $handover_s.
fail_over() {
    local kind="$1" next
    sleep 2
    t0="$(now)"
    kill "-$kind" "${pids[leader]}"
    read -r next handover_s < <(await_leader "$leader") || die "no new leader after SIG$kind"
    wait "${pids[leader]}" 2>/dev/null || true
    echo "== SIG$kind of instance $leader: instance $next leads after ${handover_s} s" >&2
    start_instance "$leader"
    leader="$next"
}

# run_wrk NAME PID CONNECTIONS DURATION URL [HEADER]: runs wrk -t2 on URL, keeps its output in $work/NAME.wrk and
# the CPU ticks the server PID spent meanwhile in $work/NAME.cpu (what wrk_result reads).
run_wrk() {
    local name="$1" pid="$2" conns="$3" duration="$4" url="$5" header="${6:-}"
    local args=(-t2 "-c$conns" "-d$duration" --latency)
    [[ -n "$header" ]] && args+=(-H "$header")
    echo "== wrk ${args[*]/#Authorization*/Authorization: Bearer ***} $url" >&2
    local before
    before="$(cpu_ticks "$pid")"
    wrk "${args[@]}" "$url" >"$work/$name.wrk" 2>&1 || die "wrk failed on $url: $(cat "$work/$name.wrk")"
    echo $(($(cpu_ticks "$pid") - before)) >"$work/$name.cpu"
    kill -0 "$pid" 2>/dev/null || die "the server died under load on $url"
}

# Busy and total CPU ticks of the whole machine (busy = all but idle and iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# cpu_ticks PID: the process's CPU time in clock ticks (utime + stime), the same unit as /proc/stat; it tells a
# process's own cost apart from what the load generator and the rest of the machine use.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# rss_mb PID, hwm_mb PID: the process's resident memory now and at its peak, in MB.
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# measure_background: the % of the machine's CPU busy over one second in $background_pct. Taken while the bench
# puts no load on it, so it is someone else's: a busy machine (a build, a test run) skews every number.
measure_background() {
    local busy0 total0 busy1 total1
    read -r busy0 total0 < <(machine_ticks)
    sleep 1
    read -r busy1 total1 < <(machine_ticks)
    background_pct=$((100 * (busy1 - busy0) / (total1 - total0 > 0 ? total1 - total0 : 1)))
}

# warn_if_busy WHAT: warns (ending with WHAT, what to expect) when over 10% of the CPU was busy elsewhere.
warn_if_busy() {
    if ((background_pct > 10)); then
        echo "warning: ${background_pct}% of the CPU is busy with something else; $1" >&2
    fi
}

# py [VAR=value ...] <<'PY': runs the Python program on stdin after the helpers in bench_py, so the two
# benches' Python shares its code as their shell does.
py() { { bench_py; cat; } | python3 -; }

# report [VAR=value ...] <<'PY': runs the script's report (Python, see finish() below) with what both reports
# read from the environment: the machine, the binary, the noise, $work and the --save target.
report() {
    local version commit cpu_model
    version="$("$bin" --version)"
    commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
        commit="$commit+dirty"
    fi
    cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    WORK="$work" SAVE="$save" RESULTS_DIR="$root/bench/results" TICKS="$(getconf CLK_TCK)" \
        VERSION="$version" COMMIT="$commit" NPROC="$(nproc)" CPU_MODEL="${cpu_model:-unknown}" \
        KERNEL="$(uname -r)" BACKGROUND_PCT="$background_pct" py
}

# The Python helpers that py puts before each program.
bench_py() {
    cat <<'PY'
import datetime, http.client, json, os, re, sys, threading, time

env = os.environ
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def post_nodes(port, token, nodes, conc, what):
    """POST /nodes for each body in `nodes` (dicts with an "id") from `conc` threads with one keep-alive
    connection each; every answer must be 201, else a line on stderr ("<what> failed after ...") and exit 1.
    Returns the time.monotonic() of the first request and the seconds all took."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    failures = []
    deadline = time.monotonic() + 60  # bounded even against a server that stops answering

    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for node in chunk:
            if failures or time.monotonic() > deadline:
                failures.append("stopped: another client failed or the 60 s budget ran out")
                return
            try:
                conn.request("POST", "/nodes", body=json.dumps(node), headers=headers)
                resp = conn.getresponse()
                text = resp.read()
            except Exception as err:  # a timeout or reset is a failed write, not a crash of the bench
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
    elapsed = time.monotonic() - start
    if failures:
        sys.stderr.write(f"{what} failed after {elapsed:.1f} s: {failures[0]}\n")
        sys.exit(1)
    return start, elapsed


def bench_nodes(first, count, prefix="node"):
    """The bodies of `count` nodes PREFIX-NNNN from number `first`, as the benches register them: a rack label,
    and each its own loopback address with a closed port (the heartbeat probes every registered node, and only
    this machine may be probed)."""
    return [{"id": f"{prefix}-{i:04d}", "address": f"127.0.{i // 250}.{i % 250 + 1}:1",
             "labels": {"rack": f"r{i % 10 + 1}"}} for i in range(first, first + count)]


def parse_wrk(name):
    """wrk's numbers from $WORK/NAME.wrk, and how long it ran in seconds (0 if it does not say)."""
    text = open(f"{env['WORK']}/{name}.wrk").read()

    def ms(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    seconds = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[total.group(3)] if total else 0
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    }, seconds


def wrk_result(name):
    """wrk's numbers from $WORK/NAME.wrk, plus the server's CPU per request and how many of the cores it used (the
    rest went to wrk and the kernel), from run_wrk's $WORK/NAME.cpu."""
    result, seconds = parse_wrk(name)
    ticks = int(open(f"{env['WORK']}/{name}.cpu").read())
    cpu_s = ticks / int(env["TICKS"])
    requests = result["requests"]
    result["server_cpu_us_per_req"] = round(cpu_s * 1e6 / requests, 1) if requests else None
    result["server_cores_used"] = round(cpu_s / seconds, 2) if seconds else None
    return result


# A row's goal: (met, as shown); met is None for rows that are for information.
def at_least(v, g): return (v is not None and v >= g, f">= {g:g}")
def below(v, g): return (v is not None and v < g, f"< {g:g}")
def info(): return (None, "-")


def background():
    """The % of the CPU busy elsewhere before the run."""
    return int(env["BACKGROUND_PCT"])


def noise_verdict(pct):
    return " (busy: the numbers are pessimistic, rerun on a quiet machine)" if pct > 10 else " (quiet)"


def print_header(*lines):
    """The lines above the table: the machine, the binary, then the bench's own (data, noise, ...)."""
    print()
    print(f"machine   {env['NPROC']} cores, {env['CPU_MODEL']}, Linux {env['KERNEL']}")
    print(f"binary    {env['VERSION']} (commit {env['COMMIT']}, release)")
    for line in lines:
        print(line)


def finish(kind, rows, width, fields, machine=None):
    """Prints the table of `rows` (name, value, digits, (met, goal)) and the verdict; with --save also writes
    bench/results/KIND-<UTC date>.json (`fields` between the binary and the goals, `machine` added to the
    machine's). Exits 1 when a goal is missed, else 0."""
    print()
    print(f"{'metric':<{width}}{'measured':>10}   {'goal':<12}ok")
    missed = []
    for name, value, digits, (ok, goal) in rows:
        shown = "n/a" if value is None else f"{value:.{digits}f}"
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<{width}}{shown:>10}   {goal:<12}{mark}")
        if ok is False:
            missed.append(name.strip())
    print()
    print("all goals met" if not missed else f"goals missed: {', '.join(missed)}")

    if env["SAVE"] == "1":
        now = datetime.datetime.now(datetime.timezone.utc)
        os.makedirs(env["RESULTS_DIR"], exist_ok=True)
        path = os.path.join(env["RESULTS_DIR"], f"{kind}-{now:%Y%m%dT%H%M%SZ}.json")
        doc = {
            "date": now.isoformat(timespec="seconds"),
            "machine": {"nproc": int(env["NPROC"]), "cpu": env["CPU_MODEL"], "kernel": env["KERNEL"],
                        "background_cpu_pct": background(), **(machine or {})},
            "binary": {"version": env["VERSION"], "commit": env["COMMIT"]},
            **fields,
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
}
