#!/usr/bin/env bash
# Fails if a module as shipped can panic. In kernel Rust a panic is BUG(), and every panic path
# shows up as an undefined reference to core's panic machinery (core is linked into vmlinux), so
# the undefined symbols of each .ko are a complete list of the ways it could panic.
#
# It scans a production build: the sources copied to build/prod and built without the KUnit
# suites (test code may assert; it never handles guest input). Allowed exceptions live in
# tools/testing/panic-allowlist.txt, one regex per line with a comment saying why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
prod=$GVT_ROOT/build/prod
rm -rf "$prod"
mkdir -p "$prod"
# Sources only: the test build's objects and .cmd files must not leak into this one.
(cd "$GVT_ROOT" && tar cf - --exclude='*.o' --exclude='.*.cmd' --exclude='*.ko' --exclude='*.mod*' \
    Kbuild include mpt gvt kvmgt acrngt tools/testing/vhm_sim) | tar xf - -C "$prod"
# vhm_sim stands in for the ACRN kernel's VHM, whose symbols acrngt links against.
kmake M="$prod" CONFIG_GVT_RS=m CONFIG_GVT_RS_SIM=y CONFIG_GVT_RS_KVMGT=m CONFIG_GVT_RS_ACRNGT=m \
    CONFIG_GVT_RS_VHM_SIM=m GVT_RS_WERROR=y modules >"$prod/build.log" 2>&1 || { tail -n 30 "$prod/build.log"; die "production build failed"; }

allow=$GVT_ROOT/tools/testing/panic-allowlist.txt
pattern='4core9panicking|panic_bounds_check|unwrap_failed|expect_failed|_len_fail|_order_fail|panic_already_borrowed|panic_const|slice_index_fail|5panic[^a-z_]'
status=0
for ko in gvt kvmgt acrngt; do
    hits=$(nm -u "$prod/$ko.ko" | awk '{print $2}' | grep -E "$pattern" || true)
    if [ -n "$hits" ]; then
        hits=$(printf '%s\n' "$hits" | grep -vEf <(grep -vE '^\s*(#|$)' "$allow") || true)
    fi
    if [ -n "$hits" ]; then
        echo "panic-scan: $ko.ko can panic through:"
        printf '  %s\n' $hits
        status=1
    else
        echo "panic-scan: $ko.ko has no panic path"
    fi
done
exit $status
