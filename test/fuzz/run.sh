#!/usr/bin/env bash
# Fuzz the zcimport stream decoder (src/stream.c) with libFuzzer.
#
#   ./test/fuzz/run.sh [SECONDS]     default 30
#
# Builds test/fuzz/fuzz_stream (the Makefile's target: clang,
# -fsanitize=fuzzer,address,undefined, coverage on the decoder only) if it
# is missing or stale, has it write a seed corpus of valid streams (every
# wire type, null encoding, sentinels, dictionaries with every index type,
# batches of 0 to 100 rows, nonzero first offsets, empty stream, and the
# Arrow types: bitbool, 32-bit and based offsets, date64, time32/time64,
# decimals, unsigned dictionary codes, in batches of 16 to 48 rows) into a
# temporary directory, and fuzzes for SECONDS seconds.
#
# The last line is a one-line summary:
#   fuzz_stream: RUNS runs in S s (R execs/s), E edges, N seeds, 0 crashes
# The exit status is non-zero on a crash (or a timeout or out-of-memory),
# whose input is saved under test/fuzz/corpus-run/; the summary then says
# "1 crash" and names the file.  With ZC_FUZZ_CORPUS=dir, the corpus the run
# grows is kept in dir (test/fuzz/coverage.sh measures its coverage).
set -euo pipefail

seconds=${1:-30}
case $seconds in
	'' | *[!0-9]*)
		echo "usage: $0 [seconds]" >&2
		exit 2
		;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

bin=test/fuzz/fuzz_stream
# keep in step with FUZZ_MAX_LEN in fuzz_stream.c
max_len=8192

"${MAKE:-make}" -s "$bin" >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/zc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
corpus=${ZC_FUZZ_CORPUS:-$work/corpus}
mkdir -p "$work/seeds" "$corpus"
ZC_FUZZ_WRITE_SEEDS="$work/seeds" "./$bin" >/dev/null
nseeds=$(find "$work/seeds" -type f | wc -l)

artifacts=test/fuzz/corpus-run
mkdir -p "$artifacts"
before=$(find "$artifacts" -type f | wc -l)

status=0
started=$(date +%s%N)
"./$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=20 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$artifacts/" \
	"$corpus" "$work/seeds" >"$work/log" 2>&1 || status=$?
elapsed_ms=$((($(date +%s%N) - started) / 1000000))

# what libFuzzer reports; a run that crashes early may have no stats yet
runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1 || true)
edges=$( (grep -o 'cov: [0-9]*' "$work/log" || true) | tail -n 1 | cut -d' ' -f2)
runs=${runs:-0}
[ "$elapsed_ms" -gt 0 ] || elapsed_ms=1
rate=$((runs * 1000 / elapsed_ms))
secs=$((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100))
summary="fuzz_stream: $runs runs in $secs s ($rate execs/s), ${edges:-?} edges, $nseeds seeds"

if [ "$status" != 0 ]; then
	# show the report from its start (ASan, UBSan or a failed REQUIRE)
	first=$(grep -n -m 1 -E '^==[0-9]+==ERROR|runtime error|^fuzz_stream: |deadly signal|ERROR: libFuzzer' "$work/log" | cut -d: -f1 || true)
	sed -n "${first:-1},\$p" "$work/log" | head -n 80 >&2
	saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n 1 || true)
	crashes=$(($(find "$artifacts" -type f | wc -l) - before))
	[ "$crashes" -ge 1 ] || crashes=1
	echo "$summary, $crashes crash$([ "$crashes" = 1 ] || echo es) (exit status $status; input saved as ${saved:-$artifacts/})"
	exit 1
fi

rmdir "$artifacts" 2>/dev/null || true
echo "$summary, 0 crashes"
