#!/usr/bin/env bash
# What a TFTP boot storm costs the server: CPU time per transfer, ours beside dnsmasq in one run (issue 17,
# item 9). The storm's transfer rate on this 2-core machine is set mostly by the client (one curl process drives
# all 200 lock-step transfers and spends about twice the server's CPU on them, on the same cores), so the rate
# moves little whatever the server does; the server's own CPU per transfer is what a real storm, with its clients
# on other machines, would feel. Each round is one storm of 200 clients fetching a 100 KiB file with curl (the
# shared harness's command), against each server in turn; CPU is utime + stime from /proc/PID/stat across the
# rounds. Loopback only (dnsmasq on 127.0.0.69:69, as the harness runs it); needs root for that port.
#
#   bench/tftp-cpu.sh [--no-build]
#
# Exit status: 0 measured (every transfer verified), 2 the benchmark itself failed, 3 a tool is missing.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=10
CLIENTS=200
DNSMASQ_ADDR=127.0.0.69

parse_args "$@"
require_tools dnsmasq curl sha256sum python3
((EUID == 0)) || {
    echo "error: dnsmasq's TFTP port is fixed at 69, which needs root" >&2
    exit 2
}
build_release
make_work zos-bench-tftp-cpu
die_logs=(server dnsmasq)

mkdir -p "$work/root"
head -c 102400 /dev/urandom >"$work/root/small.bin"
want="$(sha256sum <"$work/root/small.bin" | cut -d' ' -f1)"
# dnsmasq serves files as the user `nobody`.
chmod 755 "$work" "$work/root" && chmod 644 "$work/root/small.bin"

dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --enable-tftp --tftp-root="$work/root" \
    --listen-address="$DNSMASQ_ADDR" --bind-interfaces --tftp-max=1024 --quiet-tftp --pid-file= \
    --log-facility=- >"$work/dnsmasq.log" 2>&1 &
dnsmasq_pid=$!
bench_pids+=("$dnsmasq_pid")
sleep 0.5
kill -0 "$dnsmasq_pid" 2>/dev/null || die "dnsmasq did not start"

pick_port
tftp_port="$(free_port)"
"$bin" serve --listen "127.0.0.1:$port" --tftp-listen "127.0.0.1:$tftp_port" --data-dir "$data" \
    --log-format json >"$work/server.log" 2>&1 &
server_pid=$!
bench_pids+=("$server_pid")
code=000
wait_for 10 "$server_pid" "the server" health_ok || die "GET /health did not answer 200 within 10 s (last: $code)"
curl -sf -o /dev/null -H "Authorization: Bearer $(tr -d '[:space:]' <"$data/admin.token")" \
    -T "$work/root/small.bin" "$base/boot/assets/small.bin" || die "the test file could not be uploaded"

# storm URL: one storm of $CLIENTS transfers; prints how many arrived whole.
storm() {
    local url="$1" dir="$work/dl" args=() i
    rm -rf "$dir" && mkdir -p "$dir"
    for ((i = 0; i < CLIENTS; i++)); do args+=(-o "$dir/$i.bin" "$url"); done
    curl --no-progress-meter --parallel --parallel-immediate --parallel-max 250 --tftp-blksize 1468 \
        --max-time 60 "${args[@]}" 2>>"$work/client.log" || true
    (cd "$dir" && sha256sum -- *.bin 2>/dev/null | awk -v h="$want" '$1 == h' | wc -l)
}

declare -A ticks=() seconds=() verified=()
for server in ours dnsmasq; do ticks[$server]=0 seconds[$server]=0 verified[$server]=0; done
for ((round = 0; round < ROUNDS; round++)); do
    for server in ours dnsmasq; do
        if [[ "$server" == ours ]]; then
            pid="$server_pid" url="tftp://127.0.0.1:$tftp_port/small.bin"
        else
            pid="$dnsmasq_pid" url="tftp://$DNSMASQ_ADDR:69/small.bin"
        fi
        before="$(cpu_ticks "$pid")"
        started="$(now)"
        arrived="$(storm "$url")"
        seconds[$server]="$(python3 -c "print(${seconds[$server]} + $(now) - $started)")"
        ticks[$server]=$((ticks[$server] + $(cpu_ticks "$pid") - before))
        verified[$server]=$((verified[$server] + arrived))
    done
done

HZ="$(getconf CLK_TCK)" ROUNDS="$ROUNDS" CLIENTS="$CLIENTS" \
    OURS="${ticks[ours]} ${seconds[ours]} ${verified[ours]}" \
    DNSMASQ="${ticks[dnsmasq]} ${seconds[dnsmasq]} ${verified[dnsmasq]}" py <<'PY'
hz, rounds, clients = int(env["HZ"]), int(env["ROUNDS"]), int(env["CLIENTS"])
rows = {}
for name in ("OURS", "DNSMASQ"):
    ticks, seconds, verified = env[name].split()
    rows[name] = (int(ticks) / hz * 1e6 / max(int(verified), 1), int(verified) / float(seconds), int(verified))
print(f"{rounds} storms of {clients} TFTP clients x 100 KiB per server, interleaved")
print(f"{'server':10} {'CPU per transfer':>17} {'transfers/s':>12} {'verified':>9}")
for name, label in (("OURS", "zos"), ("DNSMASQ", "dnsmasq")):
    cpu_us, rate, verified = rows[name]
    print(f"{label:10} {cpu_us:14.0f} us {rate:12.0f} {verified:9}")
print(f"dnsmasq's CPU per transfer / ours: {rows['DNSMASQ'][0] / rows['OURS'][0]:.2f}x;"
      f" transfer rate ours / dnsmasq: {rows['OURS'][1] / rows['DNSMASQ'][1]:.2f}x")
total = rounds * clients
sys.exit(0 if rows["OURS"][2] == total and rows["DNSMASQ"][2] == total else 2)
PY
