#!/usr/bin/env bash
# Line coverage of the stream decoder (src/stream.c) by the fuzzer's corpus,
# measured with clang's source-based coverage.  Not part of make test.
#
#   ./test/fuzz/coverage.sh [SECONDS [CORPUS_DIR ...]]     default 30
#
# Fuzzes for SECONDS seconds with test/fuzz/run.sh, keeping the corpus the
# run grows; then builds the harness with -fprofile-instr-generate
# -fcoverage-mapping (no sanitizers) in a temporary directory, runs it once
# over the seeds, that corpus and any CORPUS_DIR given, and prints:
#   - llvm-cov's summary line of src/stream.c;
#   - the regions, lines and branches of the functions with O(rows) loops,
#     one line for each of the four DEFINE_CODES_VALID expansions, and how
#     many regions of the block loops never ran;
#   - every line of those loops (offsets_valid, DEFINE_CODES_VALID,
#     check_codes) with its execution count, summed over the macro's
#     expansions.  A for line whose body never ran may show the count of
#     the code around it: read the body lines;
#   - the lines of src/stream.c that never ran.
# SECONDS = 0 skips the fuzzing: then the CORPUS_DIRs alone are replayed (to
# measure another corpus, e.g. an older harness's), or the seeds if none.
# Uses clang, llvm-profdata and llvm-cov (the -14 names of Debian's clang-14
# if they exist); set CLANG, LLVM_PROFDATA or LLVM_COV to override.
set -euo pipefail

seconds=${1:-30}
case $seconds in
	'' | *[!0-9]*)
		echo "usage: $0 [seconds [corpus_dir ...]]" >&2
		exit 2
		;;
esac
shift || true

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

# the first of the names that exists
pick() {
	local name
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			echo "$name"
			return
		fi
	done
	echo "coverage.sh: none of $* found" >&2
	exit 1
}
CLANG=${CLANG:-$(pick clang-14 clang)}
LLVM_PROFDATA=${LLVM_PROFDATA:-$(pick llvm-profdata-14 llvm-profdata)}
LLVM_COV=${LLVM_COV:-$(pick llvm-cov-14 llvm-cov)}

work=$(mktemp -d "${TMPDIR:-/tmp}/zc-fuzzcov.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/seeds" "$work/corpus"

if [ "$seconds" -gt 0 ]; then
	ZC_FUZZ_CORPUS="$work/corpus" ./test/fuzz/run.sh "$seconds" | tail -n 1
fi

bin=$work/fuzz_stream_cov
"$CLANG" -std=c11 -g -O1 -Isrc -Itest/c -fsanitize=fuzzer \
	-fsanitize-coverage-allowlist=test/fuzz/instrument.txt \
	-fprofile-instr-generate -fcoverage-mapping -o "$bin" \
	test/fuzz/fuzz_stream.c test/c/streambuild.c src/stream.c
ZC_FUZZ_WRITE_SEEDS="$work/seeds" "$bin" >/dev/null

if [ "$seconds" -eq 0 ] && [ $# -gt 0 ]; then
	dirs=("$@")
else
	dirs=("$work/corpus" "$work/seeds" "$@")
fi
inputs=$(find "${dirs[@]}" -type f | wc -l)
LLVM_PROFILE_FILE="$work/run.profraw" "$bin" -runs=0 -max_len=8192 \
	"${dirs[@]}" >"$work/log" 2>&1 || {
	tail -n 20 "$work/log" >&2
	echo "coverage.sh: the coverage run failed" >&2
	exit 1
}
"$LLVM_PROFDATA" merge -sparse -o "$work/run.profdata" "$work/run.profraw"

echo
echo "== src/stream.c, $inputs inputs replayed"
"$LLVM_COV" report "$bin" -instr-profile="$work/run.profdata" src/stream.c |
	sed -n '1p;/stream\.c/p'

echo
echo "== the functions with O(rows) loops (one line per DEFINE_CODES_VALID expansion)"
"$LLVM_COV" report -show-functions "$bin" -instr-profile="$work/run.profdata" \
	src/stream.c |
	grep -E '^Name|:(offsets_valid|offsets_failure|codes(8|16|32|64)_valid|check_codes|decode_batch|decode_dictionary) ' |
	tee "$work/functions"
awk '$1 ~ /:(offsets_valid|codes(8|16|32|64)_valid)$/ { n += $2; miss += $3 }
	END { printf "block loops (offsets_valid, codes8/16/32/64_valid): %d of %d regions never ran\n", miss, n }' \
	"$work/functions"

# "   LINE|  COUNT|source" for every line of src/stream.c
"$LLVM_COV" show "$bin" -instr-profile="$work/run.profdata" \
	-show-line-counts -use-color=false src/stream.c >"$work/show"
awk -F'|' 'NF >= 3 && $1 ~ /^ *[0-9]+$/ {
	line = $1 + 0; count = $2; gsub(/ /, "", count);
	src = $0; sub(/^[^|]*\|[^|]*\|/, "", src);
	print line "\t" count "\t" src }' "$work/show" >"$work/lines"

# the line ranges of the O(rows) loops
range() {
	awk -v from="$1" -v to="$2" '
		!on && $0 ~ from { on = 1 }
		on { print NR }
		on && $0 ~ to { exit }' src/stream.c
}
{
	range '^offsets_valid\(' '^}'
	range '^#define DEFINE_CODES_VALID' '^DEFINE_CODES_VALID\(codes64_valid'
	range '^check_codes\(' '^}'
} >"$work/loop_lines"

echo
echo "== the O(rows) loops: line, times executed (blank: not executable)"
awk -F'\t' 'NR == FNR { want[$1] = 1; next }
	($1 in want) { src = $0; sub(/^[^\t]*\t[^\t]*\t/, "", src);
		gsub(/\t/, "    ", src);
		printf "%5d %8s  %s\n", $1, $2, src }' \
	"$work/loop_lines" "$work/lines"

echo
echo "== lines of src/stream.c never executed"
awk -F'\t' '$2 == "0" { src = $0; sub(/^[^\t]*\t[^\t]*\t/, "", src);
	gsub(/\t/, "    ", src); printf "%5d  %s\n", $1, src }' "$work/lines"
