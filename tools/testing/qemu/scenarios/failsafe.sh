# L2 scenario (issue 15): each kind of guest failure on its own vGPU, made by gvt-vfio-client
# over VFIO a number of times (a flood): a command the scanner refuses, a page table outside
# guest RAM, a refused command in a PPGTT batch (with scan_nonprivbb on), hostile ELSP writes. For each: the host log names the vGPU and the reason, once
# per entry and rate-limited; debugfs shows the failsafe cause and the counters that moved;
# the trace events fired and read back through tracefs. Then the debugfs files are read while
# their vGPUs are destroyed.
. /lib.sh
kmemleak_reset
load mdev gvt kvmgt

D=/sys/kernel/debug/gvt
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T 2>/dev/null || T=/sys/kernel/debug/tracing
check "gvt trace events in tracefs" test -d $T/events/gvt
write $T/buffer_size_kb 16384

# The GPU's file: facts, types, partition map.
G=$D/gvt_sim.0/info
cat $G
check "gpu info: platform" grep -qE '^platform: (bxt|skl|kbl|cfl|cml)$' $G
check "gpu info: type V5_16 with availability" grep -qE '^  GVTg_V5_16: low_gm 32 MiB .* available [0-9]+$' $G
check "gpu info: host partition" grep -qE '^  host: low_gm 0x0\+0x[0-9a-f]+ ' $G

# val FILE KEY: the value of the line "KEY: value" in FILE.
val() { sed -n "s/^$2: //p" "$1"; }
# moved FILE_BEFORE FILE_AFTER KEY: the change of counter KEY.
moved() { echo $(( $(val "$2" "$3") - $(val "$1" "$3") )); }

# provoke KIND N: a fresh V5_16 vGPU whose guest does KIND N times with every gvt event on;
# sets id, u (its mdev), d (its debugfs directory); its log lines in /tmp/KIND.log, its trace
# in /tmp/KIND.trace, its stats before and after in /tmp/KIND.before and /tmp/KIND.after.
provoke() {
    kind=$1; n=$2
    u=$(cat /proc/sys/kernel/random/uuid)
    check "$kind: create V5_16" write $TYPES/i915-GVTg_V5_16/create "$u"
    id=$(cat /sys/bus/mdev/devices/$u/intel_vgpu/vgpu_id)
    d=$D/vgpu$id
    equals "$kind: status before: not in failsafe" none val $d/status failsafe
    # snp: the scan_nonprivbb switch to set first (upstream's, read-write).
    if [ -n "$snp" ]; then
        equals "$kind: scan_nonprivbb off by default" 0x0 cat $d/scan_nonprivbb
        fails "$kind: scan_nonprivbb refuses 0x100" write $d/scan_nonprivbb 0x100
        check "$kind: scan_nonprivbb set to $snp" write $d/scan_nonprivbb $snp
        equals "$kind: scan_nonprivbb reads back" $snp cat $d/scan_nonprivbb
    fi
    cp $d/stats /tmp/$kind.before
    write $T/trace ""
    check "$kind: enable gvt trace events" write $T/events/gvt/enable 1
    # The client holds the device open (closing resets the vGPU) until fd 3 closes.
    mkfifo /tmp/$kind.go
    (gvt-vfio-client failsafe $kind $u $n --tag "$kind" < /tmp/$kind.go > /tmp/$kind.out 2>&1
     echo $? > /tmp/$kind.rc) &
    exec 3> /tmp/$kind.go
    i=0
    while ! grep -qE "provoked|gvt-vfio-client: " /tmp/$kind.out && [ $i -lt 120 ]; do
        sleep 1; i=$((i + 1))
    done
    check "$kind: disable gvt trace events" write $T/events/gvt/enable 0
    cp $d/status /tmp/$kind.status
    cp $d/stats /tmp/$kind.after
    cp $d/mmio_diff /tmp/$kind.mmio_diff
    cp $d/kvmgt_dma_cache /tmp/$kind.dma
    cat $T/trace > /tmp/$kind.trace
    exec 3>&-
    wait
    cat /tmp/$kind.out
    equals "$kind: client exit status" 0 cat /tmp/$kind.rc
    dmesg | grep -F "vGPU $id (kvmgt, mdev $u) entered failsafe: " > /tmp/$kind.log
    echo "== $kind: vgpu$id: the log"; cat /tmp/$kind.log
    echo "== $kind: vgpu$id/status"; cat /tmp/$kind.status
    echo "== $kind: vgpu$id/kvmgt_dma_cache"; cat /tmp/$kind.dma
    check "$kind: kvmgt_dma_cache: entries and pinned pages" grep -qE '^entries: [1-9][0-9]*$' /tmp/$kind.dma
    echo "== $kind: trace events"
    for e in mmio_trap workload_submit workload_complete gvt_command spt_alloc spt_free spt_change oos_change oos_sync inject_msi write_ir propagate_event; do
        echo "  $e: $(grep -c " $e: vgpu$id " /tmp/$kind.trace)"
    done
}
# logged KIND COUNT TEXT: the log has COUNT "entered failsafe" lines of the vGPU, the first with TEXT.
logged() {
    equals "$1: log: entered failsafe $2 time(s)" "$2" sh -c "wc -l < /tmp/$1.log"
    check "$1: log: vGPU identity and reason" sh -c "head -n 1 /tmp/$1.log | grep -qF '$3'"
}
# shows KIND CLASS CAUSE: debugfs status showed failsafe CLASS and a cause starting with CAUSE.
shows() {
    s=/tmp/$1.status
    equals "$1: status: failsafe" "$2" val $s failsafe
    check "$1: status: cause" sh -c "sed -n 's/^failsafe_cause: //p' $s | grep -qF '$3'"
    check "$1: status: backend identity" grep -qF "vgpu: vGPU $id (kvmgt, mdev $u)" $s
    check "$1: status: type" grep -qE '^type: GVTg_V5_16: low_gm 32 MiB' $s
}
# counts KIND KEY DELTA: counter KEY of the vGPU's stats moved by DELTA.
counts() { equals "$1: stats: $2 moved by $3" "$3" moved /tmp/$1.before /tmp/$1.after $2; }
# traced KIND NAME PATTERN: the vGPU's trace has a line matching PATTERN.
traced() { check "$1: trace: $2" grep -qE "$3" /tmp/$1.trace; }

# A refused command, twenty times: one entry, one line.
provoke command 20
logged command 1 "command refused on rcs0: MI_LOAD_REGISTER_IMM (header 0x11000001) at ring offset 0x"
shows command guest_error "command refused on rcs0: MI_LOAD_REGISTER_IMM (header 0x11000001)"
counts command scan_refusals 1
counts command submissions_rejected 1
traced command "gvt_command refused" " gvt_command: vgpu$id engine 0 ring_bytes [1-9][0-9]* result 1 .* command MI_LOAD_REGISTER_IMM header 0x11000001 "
traced command "mmio_trap of the ELSP write" " mmio_trap: vgpu$id write offset 0x2230 "
check "command: mmio_diff lists what the guest changed" grep -qE '^Total: [1-9][0-9]*, Diff: [1-9][0-9]*$' /tmp/command.mmio_diff

# A page table outside guest RAM, twenty times: one entry, one line.
provoke page-table 20
logged page-table 1 "page table outside guest RAM: gfn 0x20000000 (level 1, PT; "
shows page-table guest_error "page table outside guest RAM: gfn 0x20000000"
counts page-table submissions_rejected 1
counts page-table scan_refusals 0
traced page-table "mmio_trap of the ELSP write" " mmio_trap: vgpu$id write offset 0x2230 "

# A refused command in a PPGTT (non-privileged) batch, on a vGPU whose scan_nonprivbb switch
# names the render engine (off, as by default, the hardware runs such batches unprivileged).
snp=0x1
provoke ppgtt-batch 5
snp=
logged ppgtt-batch 1 "command refused on rcs0: MI_LOAD_REGISTER_IMM (header 0x11000001) at offset 0x4 of the PPGTT batch at 0x"
shows ppgtt-batch guest_error "command refused on rcs0: MI_LOAD_REGISTER_IMM (header 0x11000001) at offset 0x4 of the PPGTT batch"
counts ppgtt-batch scan_refusals 1
traced ppgtt-batch "gvt_command refused" " gvt_command: vgpu$id engine 0 ring_bytes [1-9][0-9]* result 1 .* command MI_LOAD_REGISTER_IMM header 0x11000001 "

# Hostile ELSP writes, each round after a full GPU reset that leaves failsafe: thirty entries,
# of which the rate limit (10 lines per 5 s, with the guest-reset lines) lets few through.
provoke elsp 30
check "elsp: log: rate-limited (1 to 10 lines for 30 entries)" sh -c "n=\$(wc -l < /tmp/elsp.log); [ \$n -ge 1 ] && [ \$n -le 10 ]"
check "elsp: log: vGPU identity and reason" sh -c "head -n 1 /tmp/elsp.log | grep -qF 'submission refused on rcs0: context descriptor 0xffffffff00001001 is not valid'"
shows elsp guest_error "submission refused on rcs0: context descriptor 0xffffffff00001001"
counts elsp failsafe_guest_resets 29
traced elsp "mmio_trap of the hostile ELSP write" " mmio_trap: vgpu$id write offset 0x2230 bytes 4 value 0xdeadbeef ret 0$"
write $T/buffer_size_kb 1408

# Every file read over and over while the vGPUs are destroyed: reads end with an error, never
# with a fault (the kernel log is judged too).
for v in $(ls /sys/bus/mdev/devices); do
    vd=$D/vgpu$(cat /sys/bus/mdev/devices/$v/intel_vgpu/vgpu_id)
    (while cat $vd/status $vd/stats $vd/mmio_diff $vd/kvmgt_dma_cache $G > /dev/null 2>&1; do :; done) &
    check "remove $v while its files are read" write /sys/bus/mdev/devices/$v/remove 1
    wait
    fails "its debugfs directory is gone" test -e $vd
done
check "gpu info: no vGPU left in the partition map" sh -c "! grep -q '^  vgpu' $G"
for m in kvmgt gvt mdev; do check "unload $m" rmmod $m; done
fails "debugfs gvt gone with gvt.ko" test -e $D
check "kmemleak clean" kmemleak_scan
