#!/bin/bash
# bench: Linux boot to the shell prompt (btvmm vs QEMU TCG) and a CPU-bound guest workload vs native.
#
# usage: run-boot.sh --btvmm PATH --guest DIR [--reps R]
# DIR from scripts/make-linux-guest.sh. The workload is busybox sha256sum
# over 64 MiB in the guest's tmpfs, timed by the guest's own clock, against
# the same i386 busybox binary run natively on the host; then dd moving the
# same file in 4 KiB calls, for the cost of one system call, and
# bench/trapfloor (if built), for the part of it this host imposes. Medians.
set -eu
. "$(dirname "$0")/lib.sh"
btvmm="" dir="" reps=3
while [ $# -gt 0 ]; do
    case $1 in
    --btvmm) btvmm=$2; shift 2 ;;
    --guest) dir=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    *) echo "run-boot.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$btvmm" ] && [ -n "$dir" ] || { echo "usage: $0 --btvmm PATH --guest DIR" >&2; exit 2; }
APPEND="console=ttyS0 noapic nolapic acpi=off tsc=reliable"
# QEMU's CPU is qemu32 with NX, as btvmm's has: the 686-pae kernel
# (make-linux-guest.sh --pae) then runs with NX under both; the 686 one
# cannot use it.
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $vm 2>/dev/null || true' EXIT

# boot RUNNER [SCRIPT]: seconds to the prompt; runs SCRIPT in the guest
# and leaves its output in $work/out.
boot() {
    local runner=$1 script=${2:-} s e
    rm -f "$work/in" "$work/out"
    mkfifo "$work/in"
    s=$(now)
    if [ "$runner" = btvmm ]; then
        "$btvmm" -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -m 256 -append "$APPEND" \
            < "$work/in" > "$work/out" 2>&1 &
    else
        qemu-system-i386 -accel tcg -cpu qemu32,+nx -display none -nodefaults -no-reboot -m 256 -serial stdio \
            -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -append "$APPEND" \
            < "$work/in" > "$work/out" 2>&1 &
    fi
    vm=$!
    exec 3> "$work/in"
    until grep -aq '/ # ' "$work/out"; do sleep 0.01; done
    e=$(now)
    if [ -n "$script" ]; then
        printf '%s; echo @@DONE@@\n' "$script" >&3
        until grep -aq '^@@DONE@@' "$work/out"; do sleep 0.05; done
    fi
    printf 'poweroff -f\n' >&3
    exec 3>&-
    for i in $(seq 1 100); do kill -0 $vm 2>/dev/null || break; grep -aq 'System halted' "$work/out" && break; sleep 0.05; done
    kill $vm 2>/dev/null || true
    wait $vm 2>/dev/null || true
    echo "$e - $s" | bc -l
}

bt=() qm=() gs=() ns=() gd=() nd=()
# Timed by the shell's `time` in the guest (10 ms resolution): the
# process alone, as `now` around it natively.
# (busybox's `time` is a program: a redirection would silence it too.)
SHA='dd if=/dev/zero of=/tmp/f bs=1M count=64 2>/dev/null; time sha256sum /tmp/f; time dd if=/tmp/f of=/dev/null bs=4k'
# real<TAB>XmY.YYs -> seconds, the Nth such line of the guest's output
real_n() { grep -a '^real' "$work/out" | tr -d '\r' | sed -n "${1}p" |
           awk '{ split($2, m, "m"); print m[1] * 60 + $3 }'; }
for r in $(seq 1 "$reps"); do
    bt+=("$(boot btvmm)")
    qm+=("$(boot qemu)")
    boot btvmm "$SHA" >/dev/null
    gs+=("$(real_n 1)")
    gd+=("$(real_n 2)")
    dd if=/dev/zero of="$work/f" bs=1M count=64 2>/dev/null
    busybox=$work/busybox # busybox picks the applet by argv[0]
    dpkg-deb --fsys-tarfile "$(ls ~/.cache/btvmm/debs/busybox-static_*_i386.deb | tail -1)" |
        tar -xO ./bin/busybox > "$busybox"
    chmod +x "$busybox"
    # Native runs are short and this host is noisy: three of each per rep;
    # none on a host that cannot run 32-bit programs.
    ln -sf busybox "$work/dd"
    native=1
    "$busybox" true 2>/dev/null || native=0
    [ "$native" = 1 ] || { ns+=(0) nd+=(0); }
    for i in $([ "$native" = 1 ] && echo 1 2 3); do
        s=$(now); "$busybox" sha256sum "$work/f" > /dev/null; e=$(now)
        ns+=("$(echo "$e - $s" | bc -l)")
        s=$(now); "$work/dd" if="$work/f" of=/dev/null bs=4k 2>/dev/null; e=$(now)
        nd+=("$(echo "$e - $s" | bc -l)")
    done
    echo "rep $r/$reps: prompt btvmm ${bt[-1]} s, qemu ${qm[-1]} s; sha256sum 64 MiB guest ${gs[-1]} s, native ${ns[-1]} s; dd guest ${gd[-1]} s, native ${nd[-1]} s" >&2
done
b=$(printf '%s\n' "${bt[@]}" | median); q=$(printf '%s\n' "${qm[@]}" | median)
g=$(printf '%s\n' "${gs[@]}" | median); n=$(printf '%s\n' "${ns[@]}" | median)
printf '\nseconds to the shell prompt (median of %s): btvmm %.2f, QEMU TCG %.2f: btvmm %.2fx faster\n' "$reps" "$b" "$q" "$(echo "$q / $b" | bc -l)"
if [ "$native" = 0 ]; then
    printf 'busybox sha256sum over 64 MiB (median): guest under btvmm %.2f s; native i386: this host does not run 32-bit programs (btvmm --check-host: compat-mode)\n' "$g"
    exit 0
fi
printf 'busybox sha256sum over 64 MiB (median): guest under btvmm %.2f s, native i386 %.2f s: %.2fx native\n' "$g" "$n" "$(echo "$g / $n" | bc -l)"
# What one guest system call costs: dd moves the same 64 MiB in 4 KiB
# reads and writes (32768 calls) with almost no work of its own.
gdm=$(printf '%s\n' "${gd[@]}" | median); ndm=$(printf '%s\n' "${nd[@]}" | median)
printf 'system calls (dd bs=4k of 64 MiB to /dev/null, 32768 calls, median): guest %.3f s, native %.3f s: %.2f us more per call\n' \
    "$gdm" "$ndm" "$(echo "($gdm - $ndm) / 32768 * 1000000" | bc -l)"
# The part of that no implementation of this design can avoid here.
floor=$(dirname "$btvmm")/../bench/trapfloor
if [ -x "$floor" ]; then
    fl=$("$floor")
    f=$(printf '%s\n' "$fl" | sed -n 's/^floor per guest system call.*: \([0-9.]*\) us$/\1/p')
    printf '%s\n' "$fl" | sed 's/^/host: /'
    # sha256sum reads 64 MiB in 4 KiB: 16384 reads and a few more calls.
    printf 'so sha256sum cannot take less than native + 16400 x %s us = %.3f s (%.2fx native) under direct execution on this host\n' \
        "$f" "$(echo "$n + 16400 * $f / 1000000" | bc -l)" "$(echo "($n + 16400 * $f / 1000000) / $n" | bc -l)"
fi
echo "targets: boot >= 2x faster than QEMU; sha256sum within 10% of native (reference, not tests)"
