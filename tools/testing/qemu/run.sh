#!/usr/bin/env bash
# Boots the cached kernel under QEMU (TCG) with gvt-rs's modules in a busybox initramfs, runs one
# scenario script as init, and turns the console into results.
#
#   tools/testing/qemu/run.sh SCENARIO[@PLATFORM] [--show]
#
# SCENARIO is a file in scenarios/. PLATFORM (bxt, skl, kbl, cfl, cml; bxt if none) is the GPU
# the sim presents: scenarios load gvt.ko with $GVT_PARAMS, which says so. A scenario prints
# "GVT-CHECK: PASS|FAIL name[: why]" lines; KUnit suites of the modules it loads print KTAP.
# Exit status 0 if every check and KUnit case passed, the scenario finished, and the kernel
# logged no warning, oops or leak. The console log is kept in build/qemu/SCENARIO[@PLATFORM].log
# (and shown on failure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/lib.sh"

run=${1:?usage: run.sh SCENARIO[@PLATFORM] [--show]}
scenario=${run%@*}
platform=bxt
[ "$run" = "$scenario" ] || platform=${run#*@}
case $platform in bxt|skl|kbl|cfl|cml) ;; *) die "no platform $platform" ;; esac
show=${2:-}
# Tests keep every kernel message on the console (KTAP is KERN_INFO); --show is for people and
# keeps only warnings and worse, which the log check still sees.
loglevel=7
[ "$show" = --show ] && loglevel=5
script=$here/scenarios/$scenario.sh
[ -f "$script" ] || die "no scenario $script"
out=$GVT_ROOT/build/qemu
work=$out/initramfs-$run
log=$out/$run.log
rm -rf "$work"; mkdir -p "$work"/{bin,dev,proc,sys,tmp,lib/modules} "$out"

cp /bin/busybox "$work/bin/busybox"
for ko in gvt kvmgt acrngt vhm_sim; do
    [ -f "$GVT_ROOT/$ko.ko" ] || die "$ko.ko is not built (make modules)"
    cp "$GVT_ROOT/$ko.ko" "$work/lib/modules/"
done
cp "$KDIR/drivers/vfio/mdev/mdev.ko" "$work/lib/modules/"
if [ -d "$GVT_ROOT/build/bin" ]; then cp -r "$GVT_ROOT/build/bin/." "$work/bin/"; fi
# Real clients from Debian, with the shared libraries they need.
add_binary() {
    cp "$1" "$work/bin/"
    ldd "$1" | grep -oE '/[^ ]+\.so[^ ]*' | while read -r lib; do
        mkdir -p "$work$(dirname "$lib")"; cp -L "$lib" "$work$lib"
    done
}
add_binary /usr/bin/mdevctl
mkdir -p "$work/etc/mdevctl.d/scripts.d/callouts" "$work/etc/mdevctl.d/scripts.d/notifiers"
cp "$here/scenarios/lib.sh" "$work/lib.sh"
cp "$script" "$work/scenario.sh"
# A scenario may need more in its initramfs (the L3 rung carries QEMU and a guest): a
# scenarios/NAME.payload script fills the tree it is given.
if [ -f "$here/scenarios/$scenario.payload" ]; then
    bash "$here/scenarios/$scenario.payload" "$work" || die "payload for $scenario failed"
fi
cat > "$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
export GVT_PARAMS="sim_platform=$(cat /etc/gvt-platform)"
echo "GVT-SCENARIO: START"
sh /scenario.sh
echo "GVT-SCENARIO: END $?"
reboot -f
INIT
chmod +x "$work/init"
mkdir -p "$work/etc"; echo "$platform" > "$work/etc/gvt-platform"
(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/$run.cpio.gz"

# A scenario may need a bigger machine or more time (scenarios/NAME.conf sets mem, timeout).
mem=2048 timeout=600
if [ -f "$here/scenarios/$scenario.conf" ]; then . "$here/scenarios/$scenario.conf"; fi
log "qemu: booting scenario $scenario on $platform"
t0=$SECONDS
timeout "${GVT_QEMU_TIMEOUT:-$timeout}" qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp 2 -m "$mem" \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$out/$run.cpio.gz" \
    -append "console=ttyS0 panic=-1 oops=panic kmemleak=on loglevel=$loglevel" </dev/null >"$log" 2>&1 || true
log "qemu: $run ran for $((SECONDS - t0)) s"
# For people: the scenario's own lines, without a nested guest's log or a picture's base64.
[ "$show" = --show ] && sed -n '/GVT-SCENARIO: START/,/GVT-SCENARIO: END/p' "$log" | tr -d '\r' |
    grep -v -E '^GVT-SCENARIO|^(L2|QEMU)\| |GVT-PNG|GVT-TRACE' || true
# Pictures a scenario sent over the console (GVT-PNG blocks) land beside the log.
if grep -q 'GVT-PNG-BEGIN' "$log"; then
    python3 "$here/extract-png.py" "$log" "$GVT_ROOT/build" || die "a picture in $log is damaged"
fi
# A scenario's trace events (GVT_L3_TRACE=1), unpacked beside the log.
if grep -q '^GVT-TRACE-BEGIN' "$log"; then
    tr -d '\r' < "$log" | sed -n 's/^GVT-TRACE: //p' | base64 -d | gunzip > "$GVT_ROOT/build/$run-trace.txt" ||
        die "the trace block in $log is damaged"
    log "trace: build/$run-trace.txt, $(wc -l < "$GVT_ROOT/build/$run-trace.txt") events"
fi
python3 "$here/results.py" "$log"
