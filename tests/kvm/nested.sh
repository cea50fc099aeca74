#!/bin/sh
# --accel kvm on real KVM where this host has no /dev/kvm: Debian's x86-64 kernel with kvm-amd inside QEMU TCG (which emulates AMD SVM) runs btvmm --accel kvm on the test guests.
#
# usage: nested.sh BTVMM INIT.c HOSTDIR [--linux DIR] [GUEST.elf[=STATUS|=term]...]
#
# HOSTDIR is made (or reused) by make-kvm-host.sh; INIT.c is nested-init.c,
# built here as a static PID 1. Inside, btvmm --check-host must find
# /dev/kvm usable, and each guest must end with STATUS (default 1, the
# guest's isa-debug-exit 0) and, when STATUS is 1, print the guest's own
# "ALL OK" line and no FAIL; =term: the guest is sent SIGTERM after a
# few seconds and must end with status 12. (On a host with /dev/kvm, guest.*-kvm compare
# the same guests with QEMU byte for byte.) --linux DIR: also boot DIR's
# vmlinuz and initrd.gz (scripts/make-linux-guest.sh) with busybox as init
# running a few commands and `poweroff -f`: the marker line must come and
# btvmm must end with the guest's ACPI power-off (status 0).
#
# Exits 77 (skipped) when the nested host cannot be had: no
# qemu-system-x86_64, no static libc, no kernel package, or an emulated
# CPU whose SVM kvm-amd refuses.
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 BTVMM INIT.c HOSTDIR [--linux DIR] [GUEST.elf[=STATUS]...]" >&2
    exit 2
fi
btvmm=$1 init_src=$2 host=$3
shift 3
linux=""
if [ "${1:-}" = --linux ]; then
    linux=$2
    shift 2
fi
here=$(dirname "$0")
QEMU64=${QEMU64:-qemu-system-x86_64}
TIMEOUT=${NESTED_TIMEOUT:-800}

skip() { echo "kvm.nested: skipped: $*"; exit 77; }
command -v "$QEMU64" >/dev/null 2>&1 || skip "no $QEMU64"
sh "$here/make-kvm-host.sh" "$host" >/dev/null
case $? in
    0) ;;
    77) skip "no Debian x86-64 kernel package to run KVM in" ;;
    *) echo "kvm.nested: FAIL: make-kvm-host.sh failed" >&2; exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/kvm-nested.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root
mkdir -p "$root/g" "$root/dev" "$root/proc" "$root/tmp"
gcc -static -O2 -o "$root/init" "$init_src" 2>"$work/cc.err" ||
    skip "cannot build a static init (libc.a missing?): $(head -1 "$work/cc.err")"
cp -r "$host/modules" "$root/modules"
# btvmm and the shared libraries it loads, at the same paths.
cp "$btvmm" "$root/btvmm"
ldd "$btvmm" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]*ld-linux/ { print $1 }' |
while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

# Run 0 is --check-host; run i (1..) the i-th guest; then Linux. One line
# per run, its arguments separated by tabs.
tab=$(printf '\t')
echo "--check-host" >"$root/runs.txt"
for spec in "$@"; do
    elf=${spec%%=*}
    cp "$elf" "$root/g/"
    [ "${spec#*=}" = term ] && printf 'term\t' >>"$root/runs.txt"
    echo "--accel${tab}kvm${tab}--stats${tab}-m${tab}64${tab}-serial${tab}stdio${tab}-kernel${tab}/g/$(basename "$elf")" >>"$root/runs.txt"
done
LINUX_MARK="nested-linux: up"
if [ -n "$linux" ]; then
    cp "$linux/vmlinuz" "$root/g/vmlinuz"
    cp "$linux/initrd.gz" "$root/g/initrd.gz"
    script="busybox mount -t proc proc /proc; echo $LINUX_MARK \$(busybox uname -m);"
    script="$script busybox grep -E 'timer|LOC' /proc/interrupts; busybox poweroff -f"
    printf '%s\n' "--accel${tab}kvm${tab}--stats${tab}-m${tab}256${tab}-serial${tab}stdio${tab}-kernel${tab}/g/vmlinuz${tab}-initrd${tab}/g/initrd.gz${tab}-append${tab}console=ttyS0 rdinit=/bin/busybox -- sh -c \"$script\"" >>"$root/runs.txt"
fi
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"

timeout "$TIMEOUT" "$QEMU64" -accel tcg -cpu EPYC -smp 1 -m 1024 -display none \
    -nodefaults -no-reboot -serial stdio -kernel "$host/vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 loglevel=0 panic=-1" </dev/null >"$work/console" 2>"$work/qemu.err"
qemu_status=$?
tr -d '\r' <"$work/console" >"$work/out"

# The console between "@@ begin N" and "@@ end N S"; S in $status.
section() {
    awk -v n="$1" '$1 == "@@" && $2 == "begin" && $3 == n { on = 1; next }
                   $1 == "@@" && $2 == "end" && $3 == n { on = 0 } on' "$work/out"
}
end_status() {
    awk -v n="$1" '$1 == "@@" && $2 == "end" && $3 == n { print $4 }' "$work/out"
}

if ! grep -q '^@@ done' "$work/out"; then
    echo "kvm.nested: FAIL: the nested host did not finish (QEMU status $qemu_status):" >&2
    tail -30 "$work/out" >&2
    sed 's/^/  qemu stderr: /' "$work/qemu.err" | grep -v 'TCG doesn.t support' | head >&2
    exit 1
fi
grep '^@@ module' "$work/out"
grep -q '^@@ module kvm-amd ok' "$work/out" ||
    skip "kvm-amd does not load on QEMU's emulated SVM ($(grep '^@@ module kvm-amd' "$work/out"))"

fail=0
section 0 | grep -E '^kvm '
if ! section 0 | grep -Eq '^kvm +ok '; then
    echo "kvm.nested: FAIL: --check-host does not find the nested /dev/kvm usable" >&2
    fail=1
fi
n=0
for spec in "$@"; do
    n=$((n + 1))
    name=$(basename "${spec%%=*}" .elf)
    want=1
    [ "$spec" != "${spec#*=}" ] && want=${spec#*=}
    [ "$want" = term ] && want=12
    got=$(end_status $n)
    section $n >"$work/$name.out"
    why=""
    [ "$got" = "$want" ] || why="exit status ${got:-none}, want $want"
    ! grep -q '^@@ watchdog' "$work/$name.out" || why="$why (hung: stopped by the watchdog)"
    if [ "$want" -eq 1 ]; then
        grep -q '^ALL OK$' "$work/$name.out" || why="${why:+$why; }no ALL OK line"
        ! grep -q FAIL "$work/$name.out" || why="${why:+$why; }it reports failures"
    fi
    if [ -n "$why" ]; then
        echo "kvm.nested: $name: FAIL: $why" >&2
        sed 's/^/  | /' "$work/$name.out" | tail -20 >&2
        fail=1
    else
        echo "kvm.nested: $name: ok (status $got)"
    fi
done
if [ -n "$linux" ]; then
    n=$((n + 1))
    got=$(end_status $n)
    section $n >"$work/linux.out"
    why=""
    [ "$got" = 0 ] || why="exit status ${got:-none}, want 0"
    ! grep -q '^@@ watchdog' "$work/linux.out" || why="$why (hung: stopped by the watchdog)"
    grep -q "^$LINUX_MARK i686" "$work/linux.out" || why="${why:+$why; }no '$LINUX_MARK i686' line"
    grep -q '^btvmm: guest powered off (ACPI S5)' "$work/linux.out" ||
        why="${why:+$why; }no ACPI power-off"
    if [ -n "$why" ]; then
        echo "kvm.nested: linux: FAIL: $why" >&2
        sed 's/^/  | /' "$work/linux.out" | tail -30 >&2
        fail=1
    else
        grep -E "^($LINUX_MARK| *0:|LOC:)" "$work/linux.out"
        echo "kvm.nested: linux: ok (status $got)"
    fi
fi
[ "$fail" -eq 0 ] && echo "kvm.nested: PASS"
exit $fail
