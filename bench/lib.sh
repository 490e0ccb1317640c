# shellcheck shell=bash
# What bench/api.sh and bench/scale.sh share: their flags, tool check, build, temp dir and clean-up, the
# server's start, the /proc readings, and the Python helpers behind their load and their report. Sourced by
# them after their `set -euo pipefail`; it only defines things, and is not run on its own.
#
# Globals it sets for the scripts: save, build (flags); root, bin; work (the temp dir); port, base, data,
# server_pid, token, auth (the server); background_pct (the noise before the run).

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

# pick_port: a free loopback port for the API in $port, and the $base URL and $data dir that go with it. Binds
# port 0 and lets the kernel choose (racy in theory, fine on a quiet box).
pick_port() {
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
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
