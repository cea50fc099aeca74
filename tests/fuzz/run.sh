#!/bin/sh
# Differential translator fuzzer: random ring-0 integer sequences under QEMU TCG and btvmm, compared state for state.
#
# usage: run.sh [--minutes N | --seconds N] [--seed S] [--count N] [--keep-going]
#               [--btvmm PATH] [--gen PATH] [--guest PATH] [--qemu PATH]
#
# Each round takes the next seed (the first is --seed, else one from the
# clock, printed), has fuzzgen write --count sequences (default 1000) into
# a copy of the fuzz guest, and runs that image under both: at CPL 0 for
# even seeds, at CPL 3 for odd ones (btvmm runs with --de off: this tests
# the translator, U blocks included; direct execution runs the host's
# instruction set, see docs/fidelity.md). A sequence
# whose end state differs is a divergence: the script reruns it alone,
# cuts it to the shortest prefix that still diverges, drops every other
# instruction it can, and prints that minimal sequence with both end
# states and the command line that reproduces it.
#
# Exit status: 0 no divergence in the time given; 1 a divergence (or a
# run that failed: a crash, a hang, a guest that did not finish); 2 bad
# usage or a missing tool.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${BTVMM_BUILD:-$here/../../build}
btvmm=$build/monitor/btvmm
gen=$build/tests/fuzz/fuzzgen
guest=$build/tests/guests/fuzzguest.elf
qemu=${QEMU:-qemu-system-i386}
seconds=120
seed=""
count=1000
keep_going=0
timeout_s=${FUZZ_TIMEOUT:-120}

usage() {
    sed -n '4,5p' "$0" | sed 's/^# //' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --minutes) seconds=$(($2 * 60)); shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --count) count=$2; shift 2 ;;
        --keep-going) keep_going=1; shift ;;
        --btvmm) btvmm=$2; shift 2 ;;
        --gen) gen=$2; shift 2 ;;
        --guest) guest=$2; shift 2 ;;
        --qemu) qemu=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
for f in "$btvmm" "$gen"; do
    [ -x "$f" ] || { echo "run.sh: no executable $f (build first, or pass its path)" >&2; exit 2; }
done
[ -r "$guest" ] || { echo "run.sh: no fuzz guest $guest" >&2; exit 2; }
command -v "$qemu" >/dev/null || { echo "run.sh: no $qemu" >&2; exit 2; }
case $seconds in ''|*[!0-9]*) usage ;; esac
[ -n "$seed" ] || seed=$(date +%s)
case $seed in ''|*[!0-9]*) usage ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/btvmm-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# run_both IMAGE: the serial output of each in $work/q and $work/b; fails
# (with a line on stderr) if either did not run the whole image.
run_both() {
    timeout "$timeout_s" "$qemu" -accel tcg -display none -nodefaults -no-reboot \
        -m 64 -serial "file:$work/q" -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -kernel "$1" </dev/null >/dev/null 2>"$work/q.err"
    qs=$?
    timeout "$timeout_s" "$btvmm" -kernel "$1" -m 64 --de off -serial "file:$work/b" \
        </dev/null >/dev/null 2>"$work/b.err"
    bs=$?
    if [ $qs -ne 1 ] || ! grep -q '^ALL OK' "$work/q"; then
        echo "fuzz: QEMU did not finish the image (status $qs): $(tail -n 2 "$work/q" "$work/q.err" | tr '\n' ' ')" >&2
        return 2
    fi
    if [ $bs -ne 1 ] || ! grep -q '^ALL OK' "$work/b"; then
        echo "fuzz: btvmm did not finish the image (status $bs): $(tail -n 3 "$work/b" "$work/b.err" | tr '\n' ' ')" >&2
        return 1
    fi
    return 0
}

# diverges INDEX KEEPLIST: does sequence INDEX with these items still
# differ? (1: no, 0: yes; an invalid list counts as no)
diverges() {
    "$gen" --seed "$s" $r3 --only "$1" ${2:+--keep "$2"} --image "$guest" --out "$work/one.elf" \
        >/dev/null 2>&1 || return 1
    run_both "$work/one.elf" 2>/dev/null
    rc=$?
    [ $rc -eq 2 ] && return 1 # QEMU itself cannot run it: not ours
    [ $rc -ne 0 ] && return 0 # btvmm failed where QEMU did not
    ! cmp -s "$work/q" "$work/b"
}

items_of() { # INDEX: the item count of the whole sequence
    "$gen" --seed "$s" --only "$1" --print | grep -o 'item *[0-9]*' | awk '{print $2}' | sort -un | tail -n 1
}

minimise() {
    i=$1
    last=$(items_of "$i")
    # The shortest prefix that still diverges.
    k=0
    keep=""
    while [ "$k" -le "$last" ]; do
        keep=$(seq -s, 0 "$k")
        diverges "$i" "$keep" && break
        k=$((k + 1))
    done
    # Then every earlier item that is not needed.
    j=0
    while [ "$j" -lt "$k" ]; do
        try=$(echo "$keep" | tr ',' '\n' | grep -vx "$j" | paste -sd, -)
        if [ -n "$try" ] && diverges "$i" "$try"; then
            keep=$try
        fi
        j=$((j + 1))
    done
    echo "minimal sequence (seed $s, sequence $i, items $keep${r3:+, at CPL 3}):"
    "$gen" --seed "$s" --only "$i" --keep "$keep" --print
    "$gen" --seed "$s" $r3 --only "$i" --keep "$keep" --verbose --image "$guest" \
        --out "$work/min.elf" >/dev/null
    run_both "$work/min.elf"
    echo "QEMU's end state:"; grep -v '^ALL OK' "$work/q" | tr -d '\r'
    echo "btvmm's end state:"; grep -v '^ALL OK' "$work/b" | tr -d '\r'
    echo "reproduce: $gen --seed $s $r3 --only $i --keep $keep --verbose --image $guest --out x.elf; $btvmm -kernel x.elf -m 64 --de off"
}

echo "fuzz: translator vs QEMU TCG, $count sequences a round, for ${seconds}s from seed $seed"
start=$(date +%s)
s=$seed
rounds=0
total=0
failures=0
while [ $(($(date +%s) - start)) -lt "$seconds" ] || [ $rounds -eq 0 ]; do
    r3=""
    [ $((s % 2)) -eq 1 ] && r3=--ring3
    n=$("$gen" --seed "$s" $r3 --count "$count" --image "$guest" --out "$work/img.elf") || {
        echo "fuzz: fuzzgen failed for seed $s" >&2; exit 2; }
    run_both "$work/img.elf"
    rc=$?
    if [ $rc -eq 2 ]; then
        echo "fuzz: seed $s: QEMU could not run the image; skipped" >&2
    elif [ $rc -ne 0 ] || ! cmp -s "$work/q" "$work/b"; then
        failures=$((failures + 1))
        if [ $rc -ne 0 ]; then
            # btvmm stopped: the first sequence it did not report is the culprit
            i=$(grep -c '^s[0-9]' "$work/b")
        else
            i=$(diff "$work/q" "$work/b" | grep -m1 '^< s' | sed 's/^< s\([0-9]*\).*/\1/')
        fi
        echo "fuzz: DIVERGENCE: seed $s, sequence $i"
        minimise "$i"
        [ $keep_going -eq 1 ] || { echo "fuzz: FAIL after $total sequences"; exit 1; }
    fi
    total=$((total + n))
    rounds=$((rounds + 1))
    s=$((s + 1))
done
echo "fuzz: $total sequences in $rounds rounds (seeds $seed..$((s - 1))), $failures divergent rounds"
[ $failures -eq 0 ]
