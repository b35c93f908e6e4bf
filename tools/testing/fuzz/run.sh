#!/bin/sh
# Builds the fuzz targets with libFuzzer's coverage instrumentation (stable rustc flags, as
# cargo-fuzz passes them) and runs each for RUNS executions (default 10 million), or MAX_TIME
# seconds if that comes first.
set -eu
cd "$(dirname "$0")"
RUNS=${RUNS:-10000000}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation out of build scripts.
TARGET=$(rustc -vV | sed -n "s/^host: //p")
cargo build --release --bins --target "$TARGET"
for t in ${TARGETS:-cfg mmio ggtt scan elsp ppgtt display}; do
	mkdir -p corpus/$t
	# The execution targets run a whole GPU per input: shorter inputs, more of them.
	case $t in elsp | ppgtt) len=512 ;; *) len=4096 ;; esac
	./target/$TARGET/release/$t -runs="$RUNS" ${MAX_TIME:+-max_total_time=$MAX_TIME} \
		-max_len=$len corpus/$t 2>&1 | tail -n 3
done
