#!/bin/bash
# bench: ring-3 costs in one run: null system calls and a CPU-bound loop, btvmm (DE and --de off) vs QEMU TCG vs native i386.
#
# usage: run-user.sh --btvmm PATH --guest userbench.elf --native-dir DIR
#                    [--iters N] [--loop-iters N] [--reps R] [--qemu PATH] [--hogs]
#
# DIR holds syscallnative and loopnative (bench/CMakeLists.txt builds them
# -m32 -static). Each figure is (median time with N - median time with 0)
# over R interleaved repetitions; QEMU makes 50 N calls (its calls are
# cheap, and its start-up noise would swamp N). Tests never assert on these.
# --hogs: everything again with a CPU-bound hog per host CPU, same run.
# On a host that cannot run 32-bit code (btvmm --check-host: compat-mode)
# the native and direct-execution columns print "-".
set -eu
. "$(dirname "$0")/lib.sh"
btvmm="" guest="" ndir="" iters=100000 liters=1000000000 reps=5 qemu=qemu-system-i386 hogs=0
while [ $# -gt 0 ]; do
    case $1 in
    --btvmm) btvmm=$2; shift 2 ;;
    --guest) guest=$2; shift 2 ;;
    --native-dir) ndir=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --loop-iters) liters=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --qemu) qemu=$2; shift 2 ;;
    --hogs) hogs=1; shift ;;
    *) echo "run-user.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$btvmm" ] && [ -n "$guest" ] && [ -n "$ndir" ] ||
    { echo "usage: $0 --btvmm PATH --guest userbench.elf --native-dir DIR [--iters N] [--reps R]" >&2; exit 2; }


# run RUNNER OP N -> seconds
run() {
    local runner=$1 op=$2 n=$3 t0 t1 status=0 out
    t0=$(now)
    case $runner in
    de) out=$("$btvmm" -kernel "$guest" -m 64 -append "op=$op iters=$n" 2>&1) || status=$? ;;
    bt) out=$("$btvmm" -kernel "$guest" -m 64 --de off -append "op=$op iters=$n" 2>&1) || status=$? ;;
    qemu) out=$("$qemu" -accel tcg -display none -nodefaults -no-reboot -m 64 -serial stdio \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$guest" \
        -append "op=$op iters=$n" 2>&1) || status=$? ;;
    native)
        if [ "$op" = loop ]; then out=$("$ndir/loopnative" loop=reg "iters=$n" 2>&1) || status=$?
        else out=$("$ndir/syscallnative" "op=$op" "iters=$n" 2>&1) || status=$?; fi
        status=$((status == 0 ? 1 : status)); out="$out ALL OK" ;;
    esac
    t1=$(now)
    if [ "$status" -ne 1 ] || ! printf '%s\n' "$out" | grep -q "ALL OK"; then
        echo "run-user.sh: $runner op=$op iters=$n failed (status $status): $out" >&2
        exit 1
    fi
    echo "$t1 - $t0" | bc -l
}


compat=1
"$btvmm" --check-host 2>/dev/null | grep -q '^compat-mode *ok' || compat=0
hog_pids=""
stop_hogs() { [ -n "$hog_pids" ] && kill $hog_pids 2>/dev/null; wait $hog_pids 2>/dev/null || true; hog_pids=""; }
trap stop_hogs EXIT

declare -A samples
cases="bt:int80 qemu:int80 bt:sysenter qemu:sysenter bt:loop qemu:loop"
[ $compat = 1 ] && cases="native:int80 de:int80 $cases native:sysenter de:sysenter native:loop de:loop"
loads="idle"
[ $hogs = 1 ] && loads="idle hogs"
for load in $loads; do
    if [ $load = hogs ]; then
        for c in $(seq 1 "$(nproc)"); do (while :; do :; done) & hog_pids="$hog_pids $!"; done
    fi
    for rep in $(seq 1 "$reps"); do
        for c in $cases; do
            r=${c%%:*} op=${c#*:}
            n=$iters
            [ "$r" = qemu ] && n=$((iters * 50)) # cheap calls: more of them, above the noise
            [ "$op" = loop ] && n=$liters
            samples[$load:$c:0]+="$(run "$r" "$op" 0) "
            samples[$load:$c:n]+="$(run "$r" "$op" "$n") "
        done
        echo "$load: rep $rep/$reps done" >&2
    done
    stop_hogs
done

corrected() { # load:case -> seconds for N operations, start-up removed
    local z n
    [ -n "${samples[$1:0]:-}" ] || { echo -; return; }
    z=$(printf '%s\n' ${samples[$1:0]} | median)
    n=$(printf '%s\n' ${samples[$1:n]} | median)
    echo "$n - $z" | bc -l
}
per_op_us() { local c; c=$(corrected "$1"); [ "$c" = - ] && { echo -; return; }; echo "$c * 1000000 / $2" | bc -l; }
num() { [ "$1" = - ] && printf ' %12s' - || printf " %12.${2:-2}f" "$1"; }

for load in $loads; do
    printf '\nNull system call round trip, microseconds, %s host (median of %s reps, %s calls)\n' \
        "$load" "$reps" "$iters"
    printf '%-10s %12s %12s %12s %12s\n' call native btvmm-DE btvmm-BT qemu-TCG
    for op in int80 sysenter; do
        printf '%-10s%s%s%s%s\n' "$op" "$(num "$(per_op_us $load:native:$op "$iters")")" \
            "$(num "$(per_op_us $load:de:$op "$iters")")" "$(num "$(per_op_us $load:bt:$op "$iters")")" \
            "$(num "$(per_op_us $load:qemu:$op $((iters * 50)))")"
    done
done
[ $compat = 1 ] || echo "native and DE: this host does not run 32-bit code (btvmm --check-host)"
n=$(corrected idle:native:loop); d=$(corrected idle:de:loop); b=$(corrected idle:bt:loop)
q=$(corrected idle:qemu:loop)
printf '\nCPU-bound ring-3 loop (loops.S loop_reg, %s iterations), seconds, idle\n' "$liters"
printf '%-10s %12s %12s %12s %12s\n' loop native btvmm-DE btvmm-BT qemu-TCG
printf '%-10s%s%s%s%s\n' reg "$(num "$n" 3)" "$(num "$d" 3)" "$(num "$b" 3)" "$(num "$q" 3)"
echo "target: DE within 5% of native (reference, not a test)"
