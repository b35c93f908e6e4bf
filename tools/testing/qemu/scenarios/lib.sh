# Helpers for scenario scripts (busybox sh inside the QEMU guest).

# check NAME COMMAND...: runs COMMAND; PASS if it succeeds.
check() {
    name=$1; shift
    if out=$("$@" 2>&1); then
        echo "GVT-CHECK: PASS $name"
    else
        echo "GVT-CHECK: FAIL $name: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
    fi
}

# fails NAME COMMAND...: runs COMMAND; PASS if it fails.
fails() {
    name=$1; shift
    if out=$("$@" 2>&1); then
        echo "GVT-CHECK: FAIL $name: succeeded but should have failed"
    else
        echo "GVT-CHECK: PASS $name"
    fi
}

# equals NAME WANT COMMAND...: PASS if COMMAND prints exactly WANT.
equals() {
    name=$1; want=$2; shift 2
    got=$("$@" 2>&1)
    if [ "$got" = "$want" ]; then
        echo "GVT-CHECK: PASS $name"
    else
        echo "GVT-CHECK: FAIL $name: want '$want' got '$got'"
    fi
}

# write FILE TEXT: writes TEXT to FILE in one write(2) (printf, no trailing newline added).
write() { printf '%s' "$2" > "$1"; }

# kmemleak_scan: no leak reported since the last kmemleak_reset.
KMEMLEAK=/sys/kernel/debug/kmemleak
kmemleak_reset() { echo clear > $KMEMLEAK; }
kmemleak_scan() {
    [ -w $KMEMLEAK ] || { echo "kmemleak is not available"; return 1; }
    # Objects must be older than 5 s and unreferenced in a scan to be reported.
    sleep 6; echo scan > $KMEMLEAK; sleep 1; echo scan > $KMEMLEAK
    leaks=$(cat $KMEMLEAK)
    [ -z "$leaks" ] || { echo "$leaks" | head -n 30; return 1; }
}

MODS=/lib/modules
SIM=/sys/devices/platform/gvt_sim.0
TYPES=$SIM/mdev_supported_types
CONTROL=/sys/kernel/gvt/control/create_gvt_instance

# load MODULE...: insmod each, as a check; gvt with $GVT_PARAMS (run.sh: the sim's platform).
load() {
    for m in "$@"; do
        if [ "$m" = gvt ]; then
            # shellcheck disable=SC2086 # GVT_PARAMS is a list of module parameters
            check "load gvt ($GVT_PARAMS)" insmod $MODS/gvt.ko $GVT_PARAMS
        else
            check "load $m" insmod $MODS/$m.ko
        fi
    done
}
