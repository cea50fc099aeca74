#!/usr/bin/env bash
# bench: times the two ring-0 loops natively, under btvmm and under QEMU TCG, interleaved, and prints medians and ratios.
#
# Whole processes are timed, so every figure includes start-up; an
# iters=0 run of each runner in every rep measures that cost, and the
# "corrected" rows subtract its median. Runs are interleaved (each rep runs
# every runner once per loop) so that load from other jobs on the machine
# spreads over all runners instead of landing on one. This prints numbers;
# it never passes or fails on them.
set -euo pipefail
export LC_ALL=C # "." as decimal point in EPOCHREALTIME, printf and awk

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<EOF
usage: $0 [--iters N] [--reps R] [--btvmm PATH] [options]
  --iters N      loop iterations per run (default 1000000000)
  --reps R       interleaved repetitions; medians over these (default 5)
  --btvmm PATH   btvmm binary; without it only native and QEMU are timed
  --qemu PATH    qemu-system-i386 binary (default: from PATH)
  --guest PATH   loopguest.elf (default: built from $here into a temp dir)
  --native PATH  loopnative (default: built likewise)
  --timeout S    give up on one run after S seconds (default 900)
EOF
}

iters=1000000000
reps=5
btvmm=""
qemu="qemu-system-i386"
guest=""
native=""
run_timeout=900

while [[ $# -gt 0 ]]; do
	case $1 in
	--iters) iters=${2:?}; shift 2 ;;
	--reps) reps=${2:?}; shift 2 ;;
	--btvmm) btvmm=${2:?}; shift 2 ;;
	--qemu) qemu=${2:?}; shift 2 ;;
	--guest) guest=${2:?}; shift 2 ;;
	--native) native=${2:?}; shift 2 ;;
	--timeout) run_timeout=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run-loops: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done

die() { echo "run-loops: $*" >&2; exit 1; }

if ! [[ $iters =~ ^[0-9]{1,10}$ ]] || ((10#$iters > 4294967295)); then
	die "--iters must be an integer in [0, 2^32)"
fi
iters=$((10#$iters)) # the runners print it without leading zeros
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"
[[ $run_timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive integer"

work=$(mktemp -d "${TMPDIR:-/tmp}/run-loops.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Without prebuilt binaries, build them the way bench/CMakeLists.txt does
# (keep the two in step) so the script also runs from a bare checkout.
build_binaries() {
	local cflags=(-m32 -march=i686 -ffreestanding -fno-pic -fno-pie
		      -fno-stack-protector -fcf-protection=none -nostdlib -O2
		      -std=gnu11 -Wall -Wextra -Werror
		      -fno-asynchronous-unwind-tables)
	if [[ -z $guest ]]; then
		local f
		for f in start.S loops.S loopguest.c; do
			gcc "${cflags[@]}" -c "$here/$f" -o "$work/${f%.*}.o" ||
				die "cannot build loopguest.elf (is gcc-multilib installed?)"
		done
		ld -m elf_i386 -T "$here/loopguest.ld" -o "$work/loopguest.elf" \
			"$work/start.o" "$work/loops.o" "$work/loopguest.o" ||
			die "cannot link loopguest.elf"
		guest=$work/loopguest.elf
	fi
	if [[ -z $native ]]; then
		gcc -m32 -march=i686 -static -O2 -std=gnu11 -Wall -Wextra -Werror \
			"$here/loopnative.c" "$here/loops.S" -o "$work/loopnative" ||
			die "cannot build loopnative (is gcc-multilib installed?)"
		native=$work/loopnative
	fi
}
build_binaries
[[ -r $guest ]] || die "no guest kernel at $guest"
[[ -x $native ]] || die "no native runner at $native"

now() {
	if [[ -n ${EPOCHREALTIME:-} ]]; then
		echo "$EPOCHREALTIME" # bash 5 builtin: no fork inside the timed span
	else
		date +%s.%N
	fi
}

# Print the command line of runner $1 for loop $2 and $3 iterations, one
# word a line; and the exit status a successful run ends with.
runner_cmd() {
	local runner=$1 loop=$2 n=$3
	case $runner in
	native) printf '%s\n' "$native" "loop=$loop" "iters=$n" ;;
	btvmm) printf '%s\n' "$btvmm" -kernel "$guest" \
		-append "loop=$loop iters=$n" -m 64 -serial stdio ;;
	qemu) printf '%s\n' "$qemu" -accel tcg -display none -nodefaults \
		-no-reboot -m 64 -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$guest" -append "loop=$loop iters=$n" ;;
	esac
}
# isa-debug-exit turns the guest's "out 0xf4, 0" into status (0 << 1) | 1.
runner_ok_status() { [[ $1 == native ]] && echo 0 || echo 1; }

# Run one process and time it. Sets run_secs and run_line (the
# "loop=... result=0x..." line); returns nonzero with run_why set when the
# process fails, times out or prints no result.
run_once() {
	local runner=$1 loop=$2 n=$3 cmd t0 t1 rc
	mapfile -t cmd < <(runner_cmd "$runner" "$loop" "$n")
	t0=$(now)
	rc=0
	timeout "$run_timeout" "${cmd[@]}" </dev/null >"$work/out" 2>"$work/err" || rc=$?
	t1=$(now)
	run_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	run_line=$(grep -a -o -m1 "loop=$loop iters=$n result=0x[0-9a-f]\{8\}" \
		"$work/out" || true)
	run_why=""
	if ((rc == 124)); then
		run_why="timed out after ${run_timeout}s"
	elif [[ $rc != "$(runner_ok_status "$runner")" ]]; then
		run_why="exit status $rc"
	elif [[ -z $run_line ]]; then
		run_why="no result line"
	fi
	if [[ -n $run_why ]]; then
		local tail_out
		tail_out=$(cat "$work/out" "$work/err" | tr -d '\r' | tail -n 3 |
			sed 's/^/    | /')
		run_why="$run_why from: $(printf '%q ' "${cmd[@]}")${tail_out:+$'\n'$tail_out}"
		return 1
	fi
}

# The result each loop must give, by iteration count; the first runner's
# run sets it (native's, where the host can run 32-bit programs).
declare -A expected
loops=(reg mem spill)

# Time one run and check its result against the first runner's; abort on a
# mismatch, since timing a runner that computes something else means nothing.
timed_run() {
	local runner=$1 loop=$2 n=$3 key="$2.$3"
	run_once "$runner" "$loop" "$n" || die "$runner $loop iters=$n failed: $run_why"
	if [[ -z ${expected[$key]:-} ]]; then
		[[ $runner == "${runners[0]}" ]] ||
			die "internal: $runner ran before ${runners[0]}"
		expected[$key]=$run_line
	elif [[ $run_line != "${expected[$key]}" ]]; then
		die "result mismatch: ${runners[0]} printed '${expected[$key]}'," \
			"$runner printed '$run_line'"
	fi
	echo "$run_secs" >>"$work/times.$runner.$loop.$n"
	printf ' %s %s %.3fs' "$runner" "$( ((n == 0)) && echo start || echo "$loop")" \
		"$run_secs" >&2
}

runners=(native)
notes=()
# A host without 32-bit compatibility mode (some nested or PVM guests)
# cannot run loopnative: then QEMU's result is the reference.
if ! "$native" loop=reg iters=1 >/dev/null 2>&1; then
	runners=()
	notes+=("native not run: this host cannot run 32-bit programs")
fi

if ! command -v "$qemu" >/dev/null; then
	notes+=("QEMU not run: '$qemu' not found")
else
	runners+=(qemu)
fi

# A runner that cannot run the guest at all is left out with a note (btvmm
# is young); one that runs it and gets a different answer stops the bench.
if [[ -z $btvmm ]]; then
	notes+=("btvmm not run: no --btvmm given")
elif [[ ! -x $btvmm ]]; then
	notes+=("btvmm not run: '$btvmm' is not an executable")
else
	if [[ ${runners[0]:-} == native ]]; then
		runners=(native btvmm "${runners[@]:1}")
	else
		runners+=(btvmm) # after QEMU, whose result is then the reference
	fi
fi
((${#runners[@]} > 0)) || die "nothing to run: no native, no QEMU, no btvmm"

for loop in "${loops[@]}"; do
	ref=${runners[0]}
	run_once "$ref" "$loop" 1000 || die "$ref probe failed: $run_why"
	expected[$loop.1000]=$run_line
	for runner in "${runners[@]:1}"; do
		if ! run_once "$runner" "$loop" 1000; then
			if [[ $runner == btvmm ]]; then
				notes+=("btvmm not run: probe loop=$loop iters=1000 failed: $run_why")
				mapfile -t runners < <(printf '%s\n' "${runners[@]}" | grep -vx btvmm)
				continue
			fi
			die "$runner probe failed: $run_why"
		fi
		[[ $run_line == "${expected[$loop.1000]}" ]] ||
			die "result mismatch in probe: $ref printed" \
				"'${expected[$loop.1000]}', $runner printed '$run_line'"
	done
done

cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //' || true)
echo "ring-0 loop benchmark: iters=$iters reps=$reps runners: ${runners[*]}"
echo "host: ${cpu:-unknown CPU}, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
[[ " ${runners[*]} " == *" qemu "* ]] && echo "qemu: $("$qemu" --version | head -n1)"
[[ " ${runners[*]} " == *" btvmm "* ]] && echo "btvmm: $btvmm"

for ((rep = 1; rep <= reps; rep++)); do
	printf 'rep %d/%d:' "$rep" "$reps" >&2
	for runner in "${runners[@]}"; do
		timed_run "$runner" reg 0
	done
	for loop in "${loops[@]}"; do
		for runner in "${runners[@]}"; do
			timed_run "$runner" "$loop" "$iters"
		done
	done
	echo >&2
done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END {
	if (NR % 2) printf "%.6f", v[(NR + 1) / 2]
	else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A med
for runner in "${runners[@]}"; do
	med[$runner.start]=$(median "$work/times.$runner.reg.0")
	for loop in "${loops[@]}"; do
		med[$runner.$loop.raw]=$(median "$work/times.$runner.$loop.$iters")
		med[$runner.$loop.cor]=$(awk -v a="${med[$runner.$loop.raw]}" \
			-v b="${med[$runner.start]}" 'BEGIN { printf "%.6f", a - b }')
	done
done

# full RUNNER KEY: the median at full precision (ratios use these), or "-"
# for a runner that did not run; secs: the same rounded for the table.
full() { echo "${med[$1.$2]:--}"; }
secs() {
	local v
	v=$(full "$1" "$2")
	[[ $v == - ]] && echo - || printf '%.3f' "$v"
}
# ratio A B: A/B, or "-" when either is missing or too small to mean
# anything (a corrected figure at tiny --iters is mostly noise).
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || a + 0 < 0.0005 || b + 0 < 0.0005) print "-"
		else printf "%.2fx", a / b }'
}

echo
echo "median seconds over $reps reps; corrected = raw - median start-up (iters=0) time"
row() { printf '%-5s %-10s %9s %9s %9s  %12s %12s %11s\n' "$@"; }
row loop figure native btvmm qemu btvmm/native qemu/native qemu/btvmm
for loop in "${loops[@]}"; do
	for fig in raw cor; do
		n=$(full native $loop.$fig) b=$(full btvmm $loop.$fig)
		q=$(full qemu $loop.$fig)
		row "$loop" "$([[ $fig == raw ]] && echo raw || echo corrected)" \
			"$(secs native $loop.$fig)" "$(secs btvmm $loop.$fig)" \
			"$(secs qemu $loop.$fig)" \
			"$(ratio "$b" "$n")" "$(ratio "$q" "$n")" "$(ratio "$q" "$b")"
	done
done
row any start-up "$(secs native start)" "$(secs btvmm start)" \
	"$(secs qemu start)" "" "" ""
echo
echo "btvmm's goals: within 1.5x of native on reg and mem, 1.2x on spill (reference, not a test)."
for note in "${notes[@]}"; do
	echo "note: $note"
done
