#!/bin/bash
# bench: per-operation MMU costs under btvmm and QEMU TCG, from the same guest in one run.
#
# usage: run-mmu.sh --btvmm PATH --guest PATH [--iters N] [--reps R] [--qemu PATH]
#
# Each figure is (median time with N iterations - median time with 0) / N,
# over R interleaved repetitions: the cost of one guest page fault handled
# by the guest kernel (pgfault), one store to a page table in use (ptemod:
# btvmm's adaptive callout, and with --adaptive off its trap path), one
# CR3 switch followed by a read (cr3), and CR0.WP cleared and set again
# followed by a write (wp). Tests never assert on these.
set -eu
. "$(dirname "$0")/lib.sh"
btvmm="" guest="" iters=20000 reps=5 qemu=qemu-system-i386
while [ $# -gt 0 ]; do
    case $1 in
    --btvmm) btvmm=$2; shift 2 ;;
    --guest) guest=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --qemu) qemu=$2; shift 2 ;;
    *) echo "run-mmu.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$btvmm" ] && [ -n "$guest" ] || { echo "usage: $0 --btvmm PATH --guest PATH [--iters N] [--reps R]" >&2; exit 2; }


# run RUNNER OP N -> seconds on stdout; aborts the bench if the guest fails
run() {
    local runner=$1 op=$2 n=$3 t0 t1 status out
    t0=$(now)
    case $runner in
    btvmm) out=$("$btvmm" -kernel "$guest" -m 64 -append "op=$op iters=$n" 2>&1) && status=0 || status=$? ;;
    trap) out=$("$btvmm" -kernel "$guest" -m 64 --adaptive off -append "op=$op iters=$n" 2>&1) && status=0 || status=$? ;;
    qemu) out=$("$qemu" -accel tcg -display none -nodefaults -no-reboot -m 64 -serial stdio \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$guest" \
        -append "op=$op iters=$n" 2>&1) && status=0 || status=$? ;;
    esac
    t1=$(now)
    if [ "$status" -ne 1 ] || ! printf '%s\n' "$out" | grep -q "ALL OK"; then
        echo "run-mmu.sh: $runner op=$op iters=$n failed (status $status): $out" >&2
        exit 1
    fi
    echo "$t1 - $t0" | bc -l
}


declare -A samples
cases="btvmm:pgfault qemu:pgfault btvmm:ptemod trap:ptemod qemu:ptemod btvmm:cr3 qemu:cr3 btvmm:wp qemu:wp"
for rep in $(seq 1 "$reps"); do
    for c in $cases; do
        r=${c%%:*} op=${c#*:}
        samples[$c:0]+="$(run "$r" "$op" 0) "
        samples[$c:n]+="$(run "$r" "$op" "$iters") "
    done
    echo "rep $rep/$reps done" >&2
done

cost() { # case -> microseconds per operation
    local z n
    z=$(printf '%s\n' ${samples[$1:0]} | median)
    n=$(printf '%s\n' ${samples[$1:n]} | median)
    echo "($n - $z) * 1000000 / $iters" | bc -l
}

printf '\nMMU costs, microseconds per operation (median of %s reps, %s iterations)\n' "$reps" "$iters"
printf '%-34s %10s %10s %10s\n' operation btvmm qemu qemu/btvmm
row() { # label btvmm-case qemu-case
    local b q
    b=$(cost "$2"); q=$(cost "$3")
    printf '%-34s %10.2f %10.2f %9.2fx\n' "$1" "$b" "$q" "$(echo "$q / $b" | bc -l)"
}
row "guest page fault (#PF round trip)" btvmm:pgfault qemu:pgfault
row "PTE write, adaptive callout" btvmm:ptemod qemu:ptemod
row "PTE write, trap path" trap:ptemod qemu:ptemod
row "CR3 switch + one access" btvmm:cr3 qemu:cr3
row "CR0.WP off and on + one write" btvmm:wp qemu:wp
