#!/bin/sh
# Differential run of one test guest: QEMU TCG is the reference, btvmm must match it byte for byte.
#
# usage: run-guest.sh [--qemu-only] [--qemu-args "ARGS"] BTVMM GUEST.elf [extra btvmm args...]
#
# --qemu-args: more QEMU arguments, split at blanks (e.g. a -drive for a
# guest that needs a disk; btvmm's own go after GUEST.elf).
#
# Skips (status 77) a run with --de on on a host without 32-bit
# compatibility mode, or with --accel kvm where this host's /dev/kvm cannot
# run 32-bit guests.
#
# Passes when: QEMU exits with status 1 (the guest wrote 0 to isa-debug-exit),
# the serial output has the guest's "ALL OK" line and no "FAIL", and (unless
# --qemu-only) btvmm exits with QEMU's status and prints the same bytes.
set -u

QEMU=${QEMU:-qemu-system-i386}
TIMEOUT=${GUEST_TIMEOUT:-60}
SUCCESS_LINE="ALL OK"

qemu_only=0
qemu_args=""
while :; do
    case "${1:-}" in
        --qemu-only) qemu_only=1; shift ;;
        --qemu-args) qemu_args=${2:-}; shift 2 ;;
        *) break ;;
    esac
done
if [ $# -lt 2 ]; then
    echo "usage: $0 [--qemu-only] [--qemu-args \"ARGS\"] BTVMM GUEST.elf [extra btvmm args...]" >&2
    exit 2
fi
btvmm=$1
guest=$2
shift 2
name=$(basename "$guest" .elf)

if [ ! -f "$guest" ]; then
    echo "$name: FAIL: no guest image $guest" >&2
    exit 2
fi

# Under --accel kvm on a host whose /dev/kvm cannot run 32-bit guests
# (none, or a backend that refuses them): skipped (77), with the reason
# btvmm --check-host gives.
wants_kvm=0 prev=""
for a in "$@"; do
    case "$prev $a" in
        "--accel kvm"|"-accel kvm"|*" --accel=kvm"|*" -accel=kvm") wants_kvm=1 ;;
    esac
    prev=$a
done
if [ "$qemu_only" -eq 0 ] && [ "$wants_kvm" -eq 1 ]; then
    kvm_line=$("$btvmm" --check-host 2>/dev/null | grep -E '^kvm ')
    if ! echo "$kvm_line" | grep -Eq '^kvm +ok '; then
        echo "$name: skipped: --accel kvm cannot run here:" \
             "$(echo "$kvm_line" | sed 's/^kvm *missing *--accel kvm exits 10 here ([^)]*): //')"
        exit 77
    fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/run-guest.$name.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM

# Explain what timeout's and QEMU's statuses mean, for the failure messages.
describe_status() {
    case $1 in
        124) echo "$1 (killed after ${TIMEOUT}s: hung)" ;;
        126|127) echo "$1 (could not be run)" ;;
        1) echo "$1 (guest exit code 0)" ;;
        *) if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then
               echo "$1 (killed by signal $(($1 - 128)))"
           elif [ $(($1 % 2)) -eq 1 ]; then
               echo "$1 (guest exit code $((($1 - 1) / 2)))"
           else
               echo "$1"
           fi ;;
    esac
}

# Checks one serial log for the verdict lines; prints what is wrong.
check_output() {
    who=$1 log=$2 ok=0
    if ! grep -q "^$SUCCESS_LINE\$" "$log"; then
        echo "$name: FAIL: $who output lacks the final \"$SUCCESS_LINE\" line" >&2
        ok=1
    fi
    if grep -q "FAIL" "$log"; then
        echo "$name: FAIL: $who output reports failures:" >&2
        grep "FAIL" "$log" | head -20 >&2
        ok=1
    fi
    return $ok
}

# Direct execution asked for where the host cannot run 32-bit code:
# nothing to compare (ctest: SKIP_RETURN_CODE 77).
case " $* " in
    *" --de on "*)
        if "$btvmm" --check-host 2>/dev/null | grep -q '^compat-mode  *missing'; then
            echo "$name: SKIP: --de on needs a host that runs 32-bit code natively (btvmm --check-host: compat-mode missing)"
            exit 77
        fi ;;
esac

fail=0

timeout "$TIMEOUT" "$QEMU" -accel tcg -display none -nodefaults -no-reboot -m 64 \
    -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 $qemu_args \
    -kernel "$guest" </dev/null >"$work/qemu.out" 2>"$work/qemu.err"
qemu_status=$?
if [ "$qemu_status" -ne 1 ]; then
    echo "$name: FAIL: QEMU exit status $(describe_status "$qemu_status"), want 1 (guest exit code 0)" >&2
    [ -s "$work/qemu.err" ] && sed 's/^/  qemu stderr: /' "$work/qemu.err" | head -20 >&2
    fail=1
fi
check_output QEMU "$work/qemu.out" || fail=1

if [ "$qemu_only" -eq 0 ]; then
    timeout "$TIMEOUT" "$btvmm" -kernel "$guest" -m 64 -serial stdio "$@" \
        </dev/null >"$work/btvmm.out" 2>"$work/btvmm.err"
    btvmm_status=$?
    if [ "$btvmm_status" -ne "$qemu_status" ]; then
        echo "$name: FAIL: btvmm exit status $(describe_status "$btvmm_status")," \
             "QEMU's $(describe_status "$qemu_status")" >&2
        [ -s "$work/btvmm.err" ] && sed 's/^/  btvmm stderr: /' "$work/btvmm.err" | tail -30 >&2
        fail=1
    fi
    if ! cmp -s "$work/qemu.out" "$work/btvmm.out"; then
        echo "$name: FAIL: serial output differs from QEMU's (- qemu, + btvmm):" >&2
        diff -u --label qemu --label btvmm -a "$work/qemu.out" "$work/btvmm.out" | head -60 >&2
        fail=1
    fi
    check_output btvmm "$work/btvmm.out" || fail=1
fi

# The guest's own report is the most useful thing to see, pass or fail.
if [ "$qemu_only" -eq 0 ]; then
    cat "$work/btvmm.out"
else
    cat "$work/qemu.out"
fi
if [ "$fail" -eq 0 ]; then
    echo "$name: PASS$( [ "$qemu_only" -eq 1 ] && echo ' (QEMU only)')"
fi
exit $fail
