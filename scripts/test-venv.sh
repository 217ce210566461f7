#!/usr/bin/env bash
# Creates (once) the Python virtual environment that weir's tests use for real AWS clients
# (boto3, awscli) and the official Python runtime client (awslambdaric), and prints its path.
#
# Idempotent: a stamp file records the pinned requirement set; when it matches, nothing is
# installed again. Safe to run concurrently: the work happens under an exclusive flock.
#
# Usage: scripts/test-venv.sh            -> prints the venv directory (default <repo>/.venv)
#        WEIR_TEST_VENV=/some/dir scripts/test-venv.sh   (use another location)
#        PYTHON=python3.12 scripts/test-venv.sh          (use another interpreter)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || dirname "$script_dir")"
venv_dir="${WEIR_TEST_VENV:-$repo_root/.venv}"
python="${PYTHON:-python3}"

# Pinned 2026-11-25 (the versions pip resolved that day for Python 3.11).
requirements=(
  "boto3==1.44.8"
  "botocore==1.44.8"
  "awscli==1.46.3"
  "awslambdaric==4.2.2"
)
stamp_file="$venv_dir/.weir-requirements"
wanted="$(printf '%s\n' "${requirements[@]}")"

lock_file="${TMPDIR:-/tmp}/weir-test-venv-$(printf '%s' "$venv_dir" | cksum | cut -d' ' -f1).lock"
exec 9>"$lock_file"
flock 9

if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$wanted" && -x "$venv_dir/bin/python" ]]; then
  echo "$venv_dir"
  exit 0
fi

echo "test-venv: creating $venv_dir with ${requirements[*]}" >&2
"$python" -m venv "$venv_dir" >&2
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
printf '%s\n' "$wanted" >"$stamp_file"
echo "$venv_dir"
