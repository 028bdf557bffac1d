#!/usr/bin/env bash
# Fuzz the zcimport stream decoder (src/stream.c) with libFuzzer.
#
#   ./test/fuzz/run.sh [SECONDS]     default 30
#
# Builds test/fuzz/fuzz_stream (clang, -fsanitize=fuzzer,address,undefined,
# the same command as the Makefile's target) if it is missing or stale, has
# it write a seed corpus of valid streams (every wire type, null encoding,
# sentinels, dictionaries, several batches, zero-row batch, empty stream)
# into a temporary directory, and fuzzes for SECONDS seconds.  The last line
# is a one-line summary; the exit status is non-zero on a crash, which is
# saved under test/fuzz/corpus-run/.
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

CLANG=${CLANG:-clang}
bin=test/fuzz/fuzz_stream
sources=(test/fuzz/fuzz_stream.c test/c/streambuild.c test/c/streambuild.h src/stream.c src/stream.h)

stale=0
if [ ! -x "$bin" ]; then
	stale=1
else
	for f in "${sources[@]}"; do
		if [ "$f" -nt "$bin" ]; then
			stale=1
		fi
	done
fi
if [ "$stale" = 1 ]; then
	"$CLANG" -std=c11 -g -O1 -Isrc -Itest/c -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o "$bin" \
		test/fuzz/fuzz_stream.c test/c/streambuild.c src/stream.c
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/seeds" "$work/corpus"
ZC_FUZZ_WRITE_SEEDS="$work/seeds" "./$bin" >/dev/null

artifacts=test/fuzz/corpus-run
mkdir -p "$artifacts"

status=0
"./$bin" -max_total_time="$seconds" -max_len=8192 -timeout=20 \
	-rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
	-artifact_prefix="$artifacts/" \
	"$work/corpus" "$work/seeds" >"$work/log" 2>&1 || status=$?

rmdir "$artifacts" 2>/dev/null || true

if [ "$status" != 0 ]; then
	# show the report from its start (ASan, UBSan or a failed REQUIRE)
	first=$(grep -n -m 1 -E '^==[0-9]+==ERROR|runtime error|^fuzz_stream: |deadly signal|ERROR: libFuzzer' "$work/log" | cut -d: -f1 || true)
	sed -n "${first:-1},\$p" "$work/log" | head -n 80 >&2
	echo "fuzz_stream: CRASH (exit status $status); the input is saved in $artifacts/" >&2
	exit 1
fi

runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -n 1)
runs=${runs:-0}
secs=${secs:-$seconds}
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1 | cut -d' ' -f2)
if [ "$secs" -gt 0 ]; then
	rate=$((runs / secs))
else
	rate=$runs
fi
echo "fuzz_stream: $runs runs in $secs s ($rate runs/s, coverage ${cov:-?} edges, $(ls "$work/seeds" | wc -l) seeds), no crashes"
