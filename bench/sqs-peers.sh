#!/usr/bin/env bash
# weir's SQS against LocalStack's and moto's, in the same run, with the same
# client (the shared bench's sqs_bench.py: boto3, AWS JSON 1.0, 4 threads,
# SendMessageBatch x10, then ReceiveMessage(10, wait 1 s) + DeleteMessageBatch,
# loss/duplicate checks). Prints each system's median of 3 runs and weir's
# ratio to each peer at the same message count.
#
#   bench/sqs-peers.sh                 # weir + every installed peer
#   PEERS="moto" bench/sqs-peers.sh    # choose peers (moto localstack)
#
# Peers are installed once with the shared scripts, outside the (read-only)
# shared folder:
#   PEERS_WORK=$HOME/.cache/weir-peers /work/shared/bench/install_peers.sh clients moto localstack
# (LocalStack needs a Python >= 3.12; install_peers.sh finds pyenv's.)
#
# moto's SQS costs time proportional to the queue length per call: 20,000
# messages would take hours (and hit the bench's 300 s receive deadline), so
# moto gets MOTO_MESSAGES (default 1,000, as in the shared baseline) and weir is
# run a second time at that count for its moto ratio.
#
# Env: PEERS_WORK (default $HOME/.cache/weir-peers), BENCH (shared bench dir),
# MESSAGES (20000), MOTO_MESSAGES (1000), THREADS (4), REPEAT (3).
set -euo pipefail
cd "$(dirname "$0")/.."
export PEERS_WORK="${PEERS_WORK:-$HOME/.cache/weir-peers}"
BENCH="${BENCH:-/work/shared/bench}"
MESSAGES="${MESSAGES:-20000}"; MOTO_MESSAGES="${MOTO_MESSAGES:-1000}"
THREADS="${THREADS:-4}"; REPEAT="${REPEAT:-3}"
PY="$PEERS_WORK/venv-clients/bin/python"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

[ -x "$PY" ] || { echo "no client venv at $PY: run install_peers.sh clients (see the header)"; exit 2; }
if [ -z "${PEERS+x}" ]; then
  PEERS=""
  [ -x "$PEERS_WORK/venv-moto/bin/moto_server" ] && PEERS="$PEERS moto"
  [ -x "$PEERS_WORK/venv-localstack/bin/python" ] && PEERS="$PEERS localstack"
fi
for p in $PEERS; do case "$p" in moto|localstack) ;; *) echo "unknown peer $p"; exit 2 ;; esac; done

cargo build --locked --release -q -p weir

WORK=$(mktemp -d)
WEIR_PID=""; STARTED_PEERS=""
cleanup() {
  if [ -n "$WEIR_PID" ]; then kill "$WEIR_PID" 2>/dev/null || true; wait "$WEIR_PID" 2>/dev/null || true; fi
  # shellcheck disable=SC2086
  [ -n "$STARTED_PEERS" ] && "$BENCH/stop_peers.sh" $STARTED_PEERS > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$CARGO_TARGET_DIR/release/weir" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" > "$WORK/weir.out" 2> "$WORK/weir.log" &
WEIR_PID=$!
for _ in $(seq 200); do grep -q '^weir listening on http://' "$WORK/weir.out" && break; sleep 0.05; done
WEIR=$(sed -n 's/^weir listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/weir.out" | head -1)
[ -n "$WEIR" ] || { echo "weir did not start:"; cat "$WORK/weir.log"; exit 1; }

if [ -n "$PEERS" ]; then
  STARTED_PEERS="$PEERS"
  # shellcheck disable=SC2086
  "$BENCH/start_peers.sh" $PEERS > "$WORK/peers.out" 2>&1 || { cat "$WORK/peers.out"; exit 1; }
fi
endpoint() { case "$1" in weir*) echo "$WEIR" ;; moto) echo http://127.0.0.1:5000 ;; localstack) echo http://127.0.0.1:4566 ;; esac; }

RESULTS="$WORK/results.jsonl"; FAILED=""
run() {  # run LABEL SYSTEM MESSAGES
  local label="$1" system="$2" n="$3"
  echo "## $label: $n messages, $THREADS threads, $REPEAT runs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$PY" "$BENCH/sqs_bench.py" --endpoint "$(endpoint "$system")" --messages "$n" --threads "$THREADS" \
    --repeat "$REPEAT" --label "$label" --json-out "$RESULTS" | grep -v '^RESULT ' || FAILED="$FAILED $label"
}

echo "# $(date -u +%FT%TZ), $(nproc) cores, weir $(git rev-parse --short HEAD), peers:${PEERS:- none}"
run weir weir "$MESSAGES"
for p in $PEERS; do
  case "$p" in
    localstack) run localstack localstack "$MESSAGES" ;;
    moto)
      [ "$MOTO_MESSAGES" = "$MESSAGES" ] || run "weir@$MOTO_MESSAGES" weir "$MOTO_MESSAGES"
      run moto moto "$MOTO_MESSAGES" ;;
  esac
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$RESULTS" "$("$PEERS_WORK/venv-moto/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')" \
  "$("$PEERS_WORK/venv-localstack/bin/pip" show localstack-core 2>/dev/null | sed -n 's/^Version: //p')" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows[d["args"]["label"]] = d
versions = {"moto": sys.argv[2], "localstack": sys.argv[3]}
client = next(iter(rows.values()))["client"] if rows else {}
print(f"\nSQS, sqs_bench.py, boto3 {client.get('boto3')} ({client.get('sqs_protocol')}), "
      "median of runs; ratio = weir / peer at the same message count")
print(f"| system | messages | sends/s | receive+delete/s | weir sends ratio | weir recv+del ratio | ok |")
print(f"|---|---|---|---|---|---|---|")
def med(d, k):
    return d["median"].get(k) or 0.0
for label, d in rows.items():
    n = d["args"]["messages"]
    name = label if label.startswith("weir") else f"{label} {versions.get(label, '')}".strip()
    s, r = med(d, "send_msgs_per_s"), med(d, "recv_delete_msgs_per_s")
    ok = "yes" if all(run["ok"] for run in d["runs"]) else "NO"
    if label.startswith("weir"):
        rs = rr = "—"
    else:
        w = next((w for l, w in rows.items() if l.startswith("weir") and w["args"]["messages"] == n), None)
        rs = f"{med(w, 'send_msgs_per_s') / s:.1f}×" if w and s else "?"
        rr = f"{med(w, 'recv_delete_msgs_per_s') / r:.1f}×" if w and r else "?"
    print(f"| {name} | {n:,} | {s:,.0f} | {r:,.0f} | {rs} | {rr} | {ok} |")
PY
[ -z "$FAILED" ] || { echo "failed checks:$FAILED"; exit 1; }
