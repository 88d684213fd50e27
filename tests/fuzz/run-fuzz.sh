#!/usr/bin/env bash
# Runs one libFuzzer target for HB_FUZZ_SECONDS (default 15) on its corpus in
# tests/fuzz/corpus/<name>/. New inputs go to a scratch folder, so the
# checked-in corpus only changes when someone copies findings in on purpose.
set -euo pipefail
bin=$1 name=$2 corpus=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$bin" -max_total_time="${HB_FUZZ_SECONDS:-15}" -max_len=8192 -timeout=10 \
  -rss_limit_mb=1024 -print_final_stats=1 "$scratch" "$corpus"
