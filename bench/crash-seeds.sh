#!/usr/bin/env bash
# The crash tests with many seeds: async invokes (SIGKILL during 4 clients
# of Event invokes) and SQS sends. Each seed picks a different moment to kill
# weir; every acknowledged event or message must be delivered after restart.
#
#   bench/crash-seeds.sh [FIRST] [LAST]
set -euo pipefail
cd "$(dirname "$0")/.."
first="${1:-1}"; last="${2:-20}"
for seed in $(seq "$first" "$last"); do
  echo "== seed $seed"
  WEIR_CRASH_SEED="$seed" cargo test -q -p weir --test it crash::every_acknowledged_event_survives_a_sigkill -- --nocapture 2>&1 | grep -E "crash test|test result|panicked"
  WEIR_SQS_CRASH_SEED="$seed" cargo test -q -p weir --test it sqs_crash -- --nocapture 2>&1 | grep -E "seed|test result|panicked" | tail -2
done
