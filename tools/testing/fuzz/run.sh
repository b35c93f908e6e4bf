#!/bin/sh
# Builds the fuzz targets with libFuzzer's coverage instrumentation (stable rustc flags, as
# cargo-fuzz passes them) and runs each for RUNS executions (default 10 million), or MAX_TIME
# seconds if that comes first. libFuzzer's whole output goes to target/$t.log.
#
# Corpora: seeds/$t is committed, minimised with libFuzzer's -merge=1 (all targets together
# 0.84 MB in 5,583 files); libFuzzer reads it and writes what it finds to corpus/$t, an
# untracked working corpus that a machine keeps across runs. `run.sh seeds` re-minimises
# seeds/$t from both (commit the result when it covers more).
#
# Oracles: the targets assert, so a broken rule is a crash. cfg, mmio and ggtt (and vfio, acrn,
# which reach the same vGPU) write the host only inside the vGPU's partition (src/lib.rs
# Fenced); mmio reads a register back as its table mode says, ggtt an entry as the vGPU owns
# it, cfg keeps BARs, trapping, capabilities, MSI and ASLS consistent; vfio and acrn check
# kvmgt's and acrngt's decoders against references; elsp, ppgtt and batch check that the GPU
# goes idle and a vGPU in failsafe comes back with a reset, batch also that a hostile batch
# never reaches another vGPU's store (see each target's header).
#
# Last full run (issue 16): nice -n 19 on the 2-core dev VM shared with other work (load 5-7),
# one target at a time, from the seeds; exec/s is libFuzzer's wall-clock figure.
#   target   executions  exec/s   crashes
#   cfg      10 M        17.8k    0 (its oracle first found 4 config space bugs, now fixed)
#   mmio     10 M        92.6k    0
#   ggtt     10 M        189k     0
#   vfio     10 M        71.9k    0
#   acrn     10 M        244k     0
#   scan     10 M        175k     0
#   display  10 M        11.3k    0
#   elsp     221k        612      0 (6 minutes)
#   ppgtt    350k        970      0 (6 minutes)
#   batch    111k        307      0 (6 minutes)
# With a bug planted (a panic on a config write at 0x6c), the l0-fuzz-smoke command
# (RUNS=200000 MAX_TIME=15) exits 1 with "fuzz: failed: cfg vfio".
#
# elsp, ppgtt and batch run a whole GPU (three vGPUs, guests, the sim engines) per input; batch
# scans with the Gen9 scanner, so privileged batches are shadowed end to end. The machine
# is built once and every input starts from a snapshot of it (src/snapshot.rs: userfaultfd
# write tracking on Linux 6.7+, else a private memfd mapping; GVT_FUZZ_SNAPSHOT=cow forces the
# latter, GVT_FUZZ_VERIFY=1 checks every restore byte for byte). On the 2-core dev VM (other
# work on it, load ~3), 20k runs, -seed=1, CPU seconds (median of 3) before -> after the
# fuzz-speed work (sim engine prefetch, tracked vGPU resets, cheaper shadow PPGTT checks,
# snapshot that tracks only what inputs write):
#   from the ~1000-input corpus     elsp 20.4 -> 5.7 (980 -> 3530 exec/s)
#                                   ppgtt 25.2 -> 5.8 (790 -> 3480 exec/s)
#   512-byte inputs (an evolved     elsp 30.4 -> 9.4 (660 -> 2120 exec/s)
#   corpus, -len_control=0: where   ppgtt 29.5 -> 7.0 (680 -> 2840 exec/s)
#   a long run settles)
# RUNS=200000 from that corpus (load ~3, libFuzzer's wall-clock figure): elsp 2040, ppgtt
# 2410 exec/s, 0 crashes; most of such a run is spent at 512-byte inputs.
# Left: copying context images (4 x 84 KiB per workload), the snapshot's scan and page
# copies, libFuzzer's own work. Comparison tracing alone costs 1.6x (elsp, 512-byte inputs:
# 9.4 -> 5.9 s without -sanitizer-coverage-trace-compares); it stays.
set -eu
cd "$(dirname "$0")"
RUNS=${RUNS:-10000000}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation out of build scripts.
TARGET=$(rustc -vV | sed -n "s/^host: //p")
cargo build --release --bins --target "$TARGET"
# The execution targets run a whole GPU per input: shorter inputs, more of them.
max_len() { case $1 in elsp | ppgtt | batch) echo 512 ;; *) echo 4096 ;; esac; }
targets=${TARGETS:-cfg mmio ggtt vfio acrn scan elsp ppgtt batch display}
if [ "${1:-}" = seeds ]; then
	# Re-minimise: what the seeds and the working corpus cover, in as few inputs as libFuzzer
	# finds, replaces seeds/$t (then commit it). Seeds are cut to 1 KiB: for the 4 KiB targets
	# that keeps every coverage edge (within one) at half the size.
	for t in $targets; do
		rm -rf "target/seeds-$t" && mkdir -p "target/seeds-$t" "corpus/$t" "seeds/$t"
		len=$(max_len $t) && [ "$len" -le 1024 ] || len=1024
		./target/$TARGET/release/$t -merge=1 -max_len="$len" -timeout="${TIMEOUT:-20}" \
			-rss_limit_mb="${RSS_MB:-2048}" "target/seeds-$t" "seeds/$t" "corpus/$t" \
			>"target/$t-merge.log" 2>&1
		rm -rf "seeds/$t" && mv "target/seeds-$t" "seeds/$t"
		echo "$t: $(ls "seeds/$t" | wc -l) seeds, $(cat "seeds/$t"/* | wc -c) bytes"
	done
	exit 0
fi
# A crash (a panic: the targets' oracles assert), an input slower than TIMEOUT seconds or a
# process past RSS_MB (how a leak shows: these builds have no LeakSanitizer) fails the run:
# libFuzzer exits non-zero and keeps the input in target/. Every target still runs, and the
# failures are listed at the end.
failed=
for t in $targets; do
	mkdir -p "corpus/$t"
	if ./target/$TARGET/release/$t -runs="$RUNS" ${MAX_TIME:+-max_total_time=$MAX_TIME} \
		-max_len="$(max_len $t)" -timeout="${TIMEOUT:-20}" -rss_limit_mb="${RSS_MB:-2048}" \
		-artifact_prefix=target/$t- "corpus/$t" "seeds/$t" >target/$t.log 2>&1; then
		tail -n 3 target/$t.log
	else
		echo "fuzz target $t FAILED (libFuzzer exit status $?), the last of target/$t.log:"
		tail -n 40 target/$t.log
		failed="$failed $t"
	fi
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed"; exit 1; }
