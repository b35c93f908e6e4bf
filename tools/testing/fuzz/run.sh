#!/bin/sh
# Builds the fuzz targets with libFuzzer's coverage instrumentation (stable rustc flags, as
# cargo-fuzz passes them) and runs each for RUNS executions (default 10 million), or MAX_TIME
# seconds if that comes first. libFuzzer's whole output goes to target/$t.log.
#
# elsp and ppgtt run a whole GPU (three vGPUs, guests, the sim engines) per input. The machine
# is built once and every input starts from a snapshot of it (src/snapshot.rs: userfaultfd
# write tracking on Linux 6.7+, else a private memfd mapping; GVT_FUZZ_SNAPSHOT=cow forces the
# latter, GVT_FUZZ_VERIFY=1 checks every restore byte for byte). On the 2-core dev VM (QEMU on
# the other core, nice 19), 10k runs from a ~1000-input corpus, CPU seconds:
#   elsp   39.0 -> 20.7 (176 -> 394 exec/s)    ppgtt  24.7 -> 20.4 (260 -> 297 exec/s)
# The rest is the work itself (sim engine fetching every command dword through the PPGTT,
# context images copied per submission, device resets): the median corpus input takes 2 ms.
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
		-max_len=$len corpus/$t 2>&1 | tee target/$t.log | tail -n 3
done
