#!/usr/bin/env bash
# Where the CPU goes per invocation: weir and the function processes, each as
# process CPU time (/proc/<pid>/stat) over a closed loop,
# divided by the invocations it completed.
#
#   bench/cpu-split.sh [BOOTSTRAP_BINARY] [CONCURRENCY...]
#
# BOOTSTRAP_BINARY defaults to weir-testfn (a no-op lambda_runtime function);
# concurrency levels default to "1 8 64". Extra server flags go in
# WEIR_SERVE_FLAGS (e.g. "--worker-threads 2").
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p weir -p weir-bench -p weir-testfns
RELEASE="$CARGO_TARGET_DIR/release"
BOOTSTRAP="${1:-$RELEASE/weir-testfn}"
shift || true
LEVELS=("${@:-1 8 64}")
SECONDS_PER_POINT="${SECONDS_PER_POINT:-6}"

WORK=$(mktemp -d)
mkdir "$WORK/fn" && cp "$BOOTSTRAP" "$WORK/fn/bootstrap"
(cd "$WORK/fn" && python3 -c "import zipfile; z=zipfile.ZipFile('../fn.zip','w'); z.write('bootstrap')")

# shellcheck disable=SC2086
"$RELEASE/weir" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" ${WEIR_SERVE_FLAGS:-} > "$WORK/weir.out" 2> "$WORK/weir.log" &
WEIR_PID=$!
trap 'kill $WEIR_PID 2>/dev/null || true; wait $WEIR_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$WORK/weir.out" && break; sleep 0.05; done
ENDPOINT=$(grep -o 'http://[0-9.:]*' "$WORK/weir.out" | head -1)

python3 - "$ENDPOINT" "$WORK/fn.zip" <<'PY'
import base64, json, sys, urllib.request
endpoint, zip_path = sys.argv[1], sys.argv[2]
body = json.dumps({
    "FunctionName": "split", "Runtime": "provided.al2023", "Handler": "bootstrap",
    "Role": "arn:aws:iam::000000000000:role/bench", "Timeout": 30,
    "Code": {"ZipFile": base64.b64encode(open(zip_path, "rb").read()).decode()},
}).encode()
request = urllib.request.Request(f"{endpoint}/2015-03-31/functions", body, {"content-type": "application/json"})
urllib.request.urlopen(request).read()
PY

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
function_ticks() {
  local total=0 child
  for child in $(pgrep -P "$WEIR_PID"); do total=$((total + $(cpu_ticks "$child"))); done
  echo "$total"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

echo "# $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), bootstrap $(basename "$BOOTSTRAP")"
for c in ${LEVELS[*]}; do
  "$RELEASE/invoke_load" --endpoint "$ENDPOINT" --function split --concurrency "$c" --seconds 1 --warmup-seconds 1 > /dev/null
  weir0=$(cpu_ticks "$WEIR_PID"); fn0=$(function_ticks)
  "$RELEASE/invoke_load" --endpoint "$ENDPOINT" --function split --concurrency "$c" \
    --seconds "$SECONDS_PER_POINT" --warmup-seconds 0 > "$WORK/load.out"
  weir1=$(cpu_ticks "$WEIR_PID"); fn1=$(function_ticks)
  requests=$(grep -o '([0-9]* requests' "$WORK/load.out" | grep -o '[0-9]*')
  rate=$(grep -o '[0-9]* req/s' "$WORK/load.out")
  printf 'c=%-3s %12s  CPU per invocation: weir %4d µs, function processes %4d µs\n' "$c" "$rate" \
    $(((weir1 - weir0) * TICK_US / requests)) $(((fn1 - fn0) * TICK_US / requests))
done
