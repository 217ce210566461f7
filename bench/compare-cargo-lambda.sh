#!/usr/bin/env bash
# weir and `cargo lambda watch` side by side: the same Rust lambda_runtime
# function binary (the shared bench fixture), the same load generator, the
# same run. Needs cargo-lambda (`cargo install cargo-lambda --locked`, ~20 min).
#
#   bench/compare-cargo-lambda.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_POINT="${1:-10}"
WORK="${WEIR_BENCH_WORK:-/tmp/weir-bench-peers}"
FIXTURE=/work/shared/bench/fixtures/rust-hello
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$WORK"
rm -rf "$WORK/rust-hello" && cp -r "$FIXTURE" "$WORK/rust-hello"

cargo build --release -q -p weir -p weir-bench
(cd "$WORK/rust-hello" && CARGO_TARGET_DIR="$WORK/rust-hello-target" cargo build --release -q)
BIN="$WORK/rust-hello-target/release/hello"

# cargo lambda watch on port 9000 (its own build of the same source).
(cd "$WORK/rust-hello" && CARGO_TARGET_DIR="$WORK/rust-hello-target" \
  setsid cargo lambda watch --release --ignore-changes -A 127.0.0.1 -P 9000 > "$WORK/cargo-lambda.log" 2>&1 & echo $! > "$WORK/cargo-lambda.pid")
# weir on a free port with the same binary as `bootstrap`.
"$CARGO_TARGET_DIR/release/weir" serve --listen 127.0.0.1:0 --data-dir "$WORK/weir-data" > "$WORK/weir.out" 2> "$WORK/weir.log" &
WEIR_PID=$!
cleanup() {
  kill "$WEIR_PID" 2>/dev/null || true
  kill -- -"$(cat "$WORK/cargo-lambda.pid")" 2>/dev/null || true
  rm -rf "$WORK/weir-data"
}
trap cleanup EXIT
until grep -q "listening" "$WORK/weir.out"; do sleep 0.1; done
WEIR=$(sed -n 's/weir listening on //p' "$WORK/weir.out")
(cd "$WORK" && rm -f hello.zip && cp "$BIN" bootstrap && python3 -c "import zipfile,os; z=zipfile.ZipFile('hello.zip','w'); i=zipfile.ZipInfo('bootstrap'); i.external_attr=0o755<<16; z.writestr(i, open('bootstrap','rb').read())")
python3 - "$WEIR" "$WORK/hello.zip" <<'PY'
import base64, json, sys, urllib.request
endpoint, zipfile = sys.argv[1], sys.argv[2]
body = json.dumps({"FunctionName": "hello", "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/x",
                   "Handler": "bootstrap", "Code": {"ZipFile": base64.b64encode(open(zipfile, "rb").read()).decode()}}).encode()
urllib.request.urlopen(urllib.request.Request(endpoint + "/2015-03-31/functions", data=body, headers={"content-type": "application/json"}))
PY
# Wait for cargo lambda watch to answer (it compiles on first start).
until curl -s -o /dev/null -X POST -d '{}' http://127.0.0.1:9000/2015-03-31/functions/hello/invocations; do sleep 1; done

echo "# $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$CARGO_TARGET_DIR/release/invoke_load" --endpoint http://127.0.0.1:9000 --function hello --seconds "$SECONDS_PER_POINT" --label "cargo lambda watch"
"$CARGO_TARGET_DIR/release/invoke_load" --endpoint "$WEIR" --function hello --seconds "$SECONDS_PER_POINT" --label "weir"
