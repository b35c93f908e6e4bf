#!/usr/bin/env bash
# The whole verification ladder (make test). Ends with one line: "N passed, N failed".
#   L0  cargo test over the workspace; the whole-stack tests again on each big-core platform;
#       rustfmt --check; clippy with the panic lints; the core tested with the kernel's rustc
#       1.85; the tables generated from upstream's C checked current; no bare register offset in
#       the core; the fuzz targets for a short run.
#   build  the modules against the kernel, strict (kernel clippy, warnings are errors), a
#       scan of each .ko for panic paths, and gvt.ko with the i915 host (built only: no Intel
#       GPU here).
#   L1+L2  QEMU: the modules' KUnit suites (run at insmod) and the end-to-end scenarios.
#   L3  nested QEMU: an unmodified i915 guest on a vGPU, judged by its own log; on Broxton,
#       then on Coffee Lake.
# Logs of every step are in build/test/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$GVT_ROOT"
logs=$GVT_ROOT/build/test
mkdir -p "$logs"

bash scripts/setup.sh || die "setup failed"

passed=0
failed=0
failures=()
t_start=$SECONDS

# step NAME COUNTER CMD...: runs CMD with its output in build/test/NAME.log. COUNTER names how
# to count it: "one" (a single check) or "cargo"/"qemu" (the runner's own pass/fail counts).
step() {
    local name=$1 counter=$2; shift 2
    local log=$logs/$name.log t0=$SECONDS rc
    "$@" >"$log" 2>&1; rc=$?
    local p=0 f=0
    case $counter in
        one) if [ $rc = 0 ]; then p=1; else f=1; fi ;;
        cargo)
            p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
            f=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
            if [ $rc != 0 ] && [ "$f" = 0 ]; then f=1; fi ;;
        qemu)
            read -r p f < <(sed -nE 's/^qemu: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -n 1)
            p=${p:-0}; f=${f:-0}
            if [ $rc != 0 ] && [ "$f" = 0 ]; then f=1; fi ;;
    esac
    passed=$((passed + p)); failed=$((failed + f))
    if [ $rc = 0 ] && [ "$f" = 0 ]; then
        printf '%-28s ok    %4d passed  (%ds)\n' "$name" "$p" $((SECONDS - t0))
    else
        printf '%-28s FAIL  %4d passed, %d failed  (%ds); log: %s\n' "$name" "$p" "$f" $((SECONDS - t0)) "$log"
        tail -n 40 "$log" | sed 's/^/    /'
        failures+=("$name")
    fi
    return $rc
}

step l0-cargo-test cargo cargo test --workspace
# The guest model's whole-stack tests ran on Broxton above; the sim as each big core (issue 17).
step l0-platforms cargo sh -c 'rc=0; for p in skl kbl cfl cml; do echo "== $p"; GVT_PLATFORM=$p cargo test -p guest-model --no-fail-fast || rc=1; done; exit $rc'
step l0-fmt one bash scripts/fmt-check.sh
step l0-clippy one cargo clippy --workspace --all-targets -- -D warnings
step l0-kernel-rustc cargo env RUSTC="$KRUSTC" RUSTDOC="$KRUSTDOC" \
    CARGO_TARGET_DIR="$GVT_ROOT/target/kernel-rustc" cargo test -p gvt -p acrngt -p kvmgt -p guest-model
step l0-generated-tables one bash scripts/check-generated.sh
step l0-reg-names one python3 scripts/check-reg-names.py
# The fuzz targets, briefly: 200k executions or 15 s each (make fuzz runs 10 M per target).
step l0-fuzz-smoke one env RUNS=200000 MAX_TIME=15 sh tools/testing/fuzz/run.sh
if step build-modules one env GVT_RS_STRICT=1 bash scripts/modules.sh; then
    step panic-scan one bash scripts/panic-scan.sh
    # gvt.ko with the i915 host, in its own copy of the sources (nothing here can run it).
    step build-i915-host one bash scripts/i915-build.sh
    step qemu-modules qemu bash tools/testing/qemu/run.sh modules
    if step build-vfio-client one bash scripts/static-client.sh vfio-client gvt-vfio-client; then
        step qemu-vfio qemu bash tools/testing/qemu/run.sh vfio
        # Guest failures: the host log, debugfs and trace events that show them (issue 15).
        step qemu-failsafe qemu bash tools/testing/qemu/run.sh failsafe
        # The same scenario with the sim as a big core: Coffee Lake (issue 17).
        step qemu-vfio-cfl qemu bash tools/testing/qemu/run.sh vfio@cfl
        # L3: the stock i915 in a nested guest on an mdev, through Debian's QEMU and vfio-pci.
        step qemu-l3 qemu bash tools/testing/qemu/run.sh l3
        # The stock guest again, with the sim as a Coffee Lake (issue 17).
        step qemu-l3-cfl qemu bash tools/testing/qemu/run.sh l3@cfl
    fi
    if step build-acrn-client one bash scripts/static-client.sh acrn-dm-client gvt-acrn-client; then
        step qemu-acrn qemu bash tools/testing/qemu/run.sh acrn
    fi
fi

echo "ladder took $((SECONDS - t_start)) s${failures[*]:+; failed: ${failures[*]}}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
