#!/usr/bin/env bash
# bench: the report — nanobenchmarks under every engine this host has (btvmm BT per --de mode, btvmm --accel kvm, QEMU TCG and KVM, native) and the macro workloads, as Markdown, CSV and a PNG plot.
#
# Each rep runs every runner once, in turn (interleaved: other load on the
# machine spreads over all of them); the nanobenchmark guest
# (bench/nanoguest.c) times all its operations in one boot and prints
# cycles and ns per operation; the native runner (bench/nanonative.c) does
# the same for the operations a host process has. A runner that cannot
# start here (no compatibility mode for --de on, no /dev/kvm, an option
# this btvmm lacks) becomes a column "unavailable: <its last stderr line>".
# Then the macro workloads, through their own scripts: run-loops.sh (ring-0
# loops) always, run-os.sh (Linux workloads, with its plot) with --linux.
# Nothing here passes or fails on time.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
. "$here/lib.sh"

usage() {
	cat <<EOF
usage: $0 [--quick] [--reps R] [--iters N] [--build DIR] [--out DIR] [options]
  --quick        each runner once, small counts (CI: checks the report is whole)
  --reps R       interleaved repetitions, min/median/max over them (default 5)
  --iters N      nanobenchmark iterations per op and run (default 20000)
  --loop-iters N run-loops.sh's --iters (default 100000000)
  --build DIR    a configured and built btvmm tree (default: configure and
                 build one in a temporary directory)
  --out DIR      where the report goes (default bench/results/<date>-<host>)
  --linux DIR    also run run-os.sh on this scripts/make-linux-guest.sh output
  --qemu PATH    qemu-system-i386 (default: from PATH)
  --timeout S    give up on one run after S seconds (default 600)
EOF
}

quick=0 reps=5 iters=20000 loop_iters=100000000 build="" out="" linux=""
qemu=qemu-system-i386 run_timeout=600
reps_set=0 iters_set=0 loop_iters_set=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) quick=1; shift ;;
	--reps) reps=${2:?}; reps_set=1; shift 2 ;;
	--iters) iters=${2:?}; iters_set=1; shift 2 ;;
	--loop-iters) loop_iters=${2:?}; loop_iters_set=1; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--linux) linux=${2:?}; shift 2 ;;
	--qemu) qemu=${2:?}; shift 2 ;;
	--timeout) run_timeout=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
die() { echo "run.sh: $*" >&2; exit 1; }
if ((quick)); then
	((reps_set)) || reps=1
	((iters_set)) || iters=2000
	((loop_iters_set)) || loop_iters=1000000
fi
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive integer"
[[ $iters =~ ^[1-9][0-9]{0,8}$ ]] || die "--iters takes an integer in [1, 10^9)"
[[ $loop_iters =~ ^[1-9][0-9]{0,9}$ ]] || die "--loop-iters takes a positive integer"
[[ $run_timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout takes a positive integer"
[[ -z $linux || -r $linux/vmlinuz ]] || die "--linux $linux: no vmlinuz there"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM # through the EXIT trap

# Without --build, a tree of our own, as a fresh clone would make it.
if [[ -z $build ]]; then
	build=$work/build
	echo "run.sh: building btvmm into $build" >&2
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/cmake.log" 2>&1 ||
		die "cmake failed (see the README's set-up): $(tail -n 3 "$work/cmake.log")"
	cmake --build "$build" -j"$(nproc)" --target btvmm guest-nano nanonative \
		bench-loop-binaries >>"$work/cmake.log" 2>&1 ||
		die "build failed: $(tail -n 5 "$work/cmake.log")"
fi
btvmm=$build/monitor/btvmm
guest=$build/tests/guests/nano.elf
native=$build/bench/nanonative
for f in "$btvmm" "$guest" "$native"; do
	[[ -e $f ]] || die "$f missing: build the btvmm, guest-nano and nanonative targets in $build"
done
if [[ -z $out ]]; then
	out=$src/bench/results/$(date -u +%Y-%m-%d)-$(hostname -s)
fi
mkdir -p "$out"

# The runners, in column order, and the command line of each (one word a
# line); the exit status a good run ends with: 1 for a guest (its
# isa-debug-exit 0), 0 for native.
runners=(btvmm-de-auto btvmm-de-off btvmm-de-on btvmm-kvm qemu-tcg qemu-kvm native)
declare -A label=(
	[btvmm-de-auto]="btvmm BT, --de auto" [btvmm-de-off]="btvmm BT, --de off"
	[btvmm-de-on]="btvmm BT, --de on" [btvmm-kvm]="btvmm --accel kvm"
	[qemu-tcg]="QEMU TCG" [qemu-kvm]="QEMU KVM" [native]="native (x86-64 process)")
runner_cmd() {
	local r=$1 n=$2 qemu_args=(-display none -nodefaults -no-reboot -m 64 -serial stdio
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$guest" -append "iters=$n")
	case $r in
	btvmm-de-*) printf '%s\n' "$btvmm" --de "${r#btvmm-de-}" -m 64 -kernel "$guest" -append "iters=$n" ;;
	btvmm-kvm) printf '%s\n' "$btvmm" --accel kvm -m 64 -kernel "$guest" -append "iters=$n" ;;
	qemu-tcg) printf '%s\n' "$qemu" -accel tcg "${qemu_args[@]}" ;;
	qemu-kvm) printf '%s\n' "$qemu" -accel kvm -cpu host "${qemu_args[@]}" ;;
	native) printf '%s\n' "$native" "iters=$n" ;;
	esac
}
ok_status() { [[ $1 == native ]] && echo 0 || echo 1; }

# run_nano RUNNER N: run it; its "nano op=..." lines into $work/last;
# nonzero with why= set (the last stderr line, or what went wrong) if not.
run_nano() {
	local r=$1 n=$2 cmd rc=0
	mapfile -t cmd < <(runner_cmd "$r" "$n")
	timeout "$run_timeout" "${cmd[@]}" </dev/null >"$work/out" 2>"$work/err" || rc=$?
	why=""
	if ((rc == 124)); then
		why="timed out after ${run_timeout}s"
	elif grep -q 'FAIL' "$work/out"; then
		why="the guest's checks failed: $(grep -m1 FAIL "$work/out")"
	elif ((rc != $(ok_status "$r"))) || ! grep -q '^nano op=' "$work/out"; then
		# QEMU that cannot start also ends with status 1, the guest's
		# success: its last stderr line says why.
		why=$(grep -v '^$' "$work/err" | tail -n 1 || true)
		why="exit status $rc${why:+: $why}"
	fi
	[[ -z $why ]] || return 1
	tr -d '\r' <"$work/out" | grep '^nano op=' >"$work/last"
}

# Probe every runner with a short run: those that fail are reported, not run.
declare -A unavailable
avail=()
for r in "${runners[@]}"; do
	if run_nano "$r" 10; then
		avail+=("$r")
	else
		unavailable[$r]=$why
		echo "run.sh: ${label[$r]} unavailable: $why" >&2
	fi
done
((${#avail[@]} > 0)) || die "no runner works on this host"

# Samples: one line "runner op cycles ns" per op and run.
: >"$work/samples"
for ((rep = 1; rep <= reps; rep++)); do
	printf 'nano rep %d/%d:' "$rep" "$reps" >&2
	for r in "${avail[@]}"; do
		run_nano "$r" "$iters" || die "${label[$r]} failed after its probe passed: $why"
		sed -n "s/^nano op=\([^ ]*\) iters=$iters cycles=\([0-9.]*\) ns=\([0-9.]*\)$/$r \1 \2 \3/p" \
			"$work/last" >>"$work/samples"
		printf ' %s' "$r" >&2
	done
	echo >&2
done

# The guest's ops, in its order (the first guest runner's list), then any
# only native has; nanonative's "syscall" stands in both syscall rows.
mapfile -t ops < <(awk '$1 != "native" && !seen[$2]++ { print $2 }' "$work/samples")
[[ ${#ops[@]} -gt 0 ]] || mapfile -t ops < <(awk '!seen[$2]++ { print $2 }' "$work/samples")
native_op() { case $1 in syscall-*) echo syscall ;; *) echo "$1" ;; esac; }

# stats RUNNER OP FIELD(3 cycles, 4 ns) -> "min median max", or nothing.
stats() {
	local vals
	vals=$(awk -v r="$1" -v o="$2" -v f="$3" '$1 == r && $2 == o { print $f }' "$work/samples")
	[[ -n $vals ]] || return 0
	printf '%s\n' "$vals" | sort -g | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f %.1f %.1f\n", v[1], m, v[NR] }'
}
op_for() { [[ $1 == native ]] && native_op "$2" || echo "$2"; }

# CSV: one row per op and runner that ran it.
csv=$out/nano.csv
echo "op,runner,iters,runs,cycles_min,cycles_median,cycles_max,ns_min,ns_median,ns_max" >"$csv"
for op in "${ops[@]}"; do
	for r in "${avail[@]}"; do
		c=$(stats "$r" "$(op_for "$r" "$op")" 3)
		[[ -n $c ]] || continue
		t=$(stats "$r" "$(op_for "$r" "$op")" 4)
		echo "$op,$r,$iters,$reps,${c// /,},${t// /,}" >>"$csv"
	done
done
{
	echo "runner,label,status,reason"
	for r in "${runners[@]}"; do
		if [[ -n ${unavailable[$r]:-} ]]; then
			echo "$r,\"${label[$r]}\",unavailable,\"${unavailable[$r]//\"/\'}\""
		else
			echo "$r,\"${label[$r]}\",ok,"
		fi
	done
} >"$out/runners.csv"

# Adams & Agesen, ASPLOS 2006 (../shared/REFERENCES.md): cycles on a
# 3.8 GHz Pentium 4, "native / BT / VT-x", for the ops that correspond.
paper() {
	case $1 in
	syscall-int80|syscall-sysenter) echo "~242 / native+~2000 / ≈native" ;;
	in) echo "3209 / ~216 / 15826 (port 0x80)" ;;
	call-ret) echo "11 / 51 / 11" ;;
	pgfault) echo "1093 / 3927 / 11242" ;;
	divzero) echo "889 / 3223 / 1014" ;;
	ptemod) echo "~1 / 391 / 12733" ;;
	*) echo "-" ;;
	esac
}

# The machine, as the report's header describes it.
cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //' || echo unknown)
hyp=$(grep -qw hypervisor /proc/cpuinfo && echo "yes (hypervisor CPUID flag)" || echo "no hypervisor CPUID flag")
if command -v systemd-detect-virt >/dev/null; then
	hyp="$hyp; systemd-detect-virt: $(systemd-detect-virt 2>/dev/null || true)"
fi
compat=$("$btvmm" --check-host 2>&1 | awk '$1 == "compat-mode" { s = $2; $1 = $2 = ""; sub(/^ +/, ""); print s ": " $0 }' || true)
if [[ -e /dev/kvm ]]; then
	kvm="present; btvmm --accel kvm: ${unavailable[btvmm-kvm]:-accepts the 32-bit guest}; QEMU -accel kvm: ${unavailable[qemu-kvm]:-accepts it}"
else
	kvm="absent"
fi

md=$out/report.md
{
	echo "# btvmm nanobenchmarks and workloads, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- CPU: $cpu, $(nproc) CPUs; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- kernel: $(uname -srm)"
	echo "- host is a VM: $hyp"
	echo "- 32-bit compatibility mode (btvmm --check-host): ${compat:-unknown}"
	echo "- /dev/kvm: $kvm"
	echo "- QEMU: $("$qemu" --version 2>/dev/null | head -n 1 || echo "not found")"
	echo "- btvmm: $(git -C "$src" describe --always --dirty 2>/dev/null || echo "unknown revision"), built in $build"
	echo "- run: bench/run.sh$( ((quick)) && echo " --quick") --reps $reps --iters $iters$([[ -n $linux ]] && echo " --linux ...")"
	echo
	echo "## Runners"
	echo
	for r in "${runners[@]}"; do
		if [[ -n ${unavailable[$r]:-} ]]; then
			echo "- ${label[$r]}: unavailable: ${unavailable[$r]}"
		else
			echo "- ${label[$r]}: ran"
		fi
	done
	echo
	echo "## Nanobenchmarks"
	echo
	echo "Per operation, $iters iterations per run, $reps run(s) each: median TSC cycles"
	echo "(min-max), loop overhead included (docs/benchmarks.md says what each op does)."
	echo "Native rows are a 64-bit process: \`syscall\` is getppid by SYSCALL in both"
	echo "syscall rows; \`pgfault\` a minor fault; \`divzero\` a SIGFPE round trip."
	echo "The last column is Adams & Agesen's: 2006, Pentium 4 3.8 GHz, cycles"
	echo "native / BT / VT-x, from the paper (ASPLOS 2006)."
	echo
	hdr="| op |" sep="| --- |"
	for r in "${avail[@]}"; do hdr="$hdr ${label[$r]} |"; sep="$sep ---: |"; done
	echo "$hdr 2006, Pentium 4 (paper) |"
	echo "$sep --- |"
	for op in "${ops[@]}"; do
		line="| $op |"
		for r in "${avail[@]}"; do
			read -r lo me hi <<<"$(stats "$r" "$(op_for "$r" "$op")" 3)"
			if [[ -n ${me:-} ]]; then line="$line $me ($lo-$hi) |"; else line="$line - |"; fi
		done
		echo "$line $(paper "$op") |"
	done
	echo
	echo "The same in nanoseconds (median):"
	echo
	echo "$hdr"
	echo "$sep"
	for op in "${ops[@]}"; do
		line="| $op |"
		for r in "${avail[@]}"; do
			read -r lo me hi <<<"$(stats "$r" "$(op_for "$r" "$op")" 4)"
			line="$line ${me:--} |"
		done
		echo "$line"
	done
	echo
	echo "Plot: nano.png (median ns per operation, log scale). Data: nano.csv, runners.csv."
} >"$md"

# Plot: median ns per op, one bar per runner, log scale.
{
	printf 'op'
	for r in "${avail[@]}"; do printf '\t"%s"' "${label[$r]}"; done
	echo
	for op in "${ops[@]}"; do
		printf '%s' "$op"
		for r in "${avail[@]}"; do
			read -r lo me hi <<<"$(stats "$r" "$(op_for "$r" "$op")" 4)"
			# A missing value, or 0 (below the resolution), is no bar.
			awk -v m="${me:-}" 'BEGIN { printf "\t%s", (m + 0 > 0) ? m : "?" }'
		done
		echo
	done
} >"$work/plot.dat"
# As run-os.sh does; not for --quick (CI installs nothing).
if ! command -v gnuplot >/dev/null && ((!quick)); then
	echo "run.sh: installing gnuplot-nox for the plot" >&2
	sudo_cmd=""; [[ $(id -u) -eq 0 ]] || sudo_cmd=sudo
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
		gnuplot-nox >/dev/null 2>&1 || true
fi
if command -v gnuplot >/dev/null; then
	gnuplot <<EOF || die "gnuplot failed"
set terminal png size 1200,560
set output "$out/nano.png"
set title "btvmm nanobenchmarks: ns per operation (median of $reps), $cpu"
set datafile missing "?"
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 10
set ylabel "ns per operation"
set xtics rotate by -35
set grid ytics
set key top left
plot for [c=2:$((${#avail[@]} + 1))] "$work/plot.dat" using c:xtic(1) title columnheader(c)
EOF
else
	echo "run.sh: no gnuplot: no plot" >&2
	echo "(no plot: gnuplot is not installed and could not be)" >>"$md"
fi

# The macro workloads, through their own scripts; their tables go into the
# report as they print them.
macro() { # title, then the command
	local title=$1 rc=0
	shift
	echo "macro: $title" >&2
	"$@" >"$work/macro.out" 2>"$work/macro.err" || rc=$?
	{
		echo
		echo "## $title"
		echo
		echo "\`$(printf '%q ' "${@#"$src"/}" | sed 's/ $//')\`"
		echo
		echo '```'
		cat "$work/macro.out"
		((rc == 0)) || { echo "(failed, status $rc)"; tail -n 3 "$work/macro.err"; }
		echo '```'
	} >>"$md"
}
macro "Ring-0 loops (run-loops.sh; btvmm's default mode)" \
	"$here/run-loops.sh" --iters "$loop_iters" --reps "$reps" --btvmm "$btvmm" \
	--qemu "$qemu" --guest "$build/bench/loopguest.elf" --native "$build/bench/loopnative"
if [[ -n $linux ]]; then
	macro "Linux workloads (run-os.sh; btvmm per --de mode and QEMU TCG)" \
		"$here/run-os.sh" --btvmm "$btvmm" --guest "$linux" --reps "$reps" \
		--qemu "$qemu" --no-hogs --png "$out/os.png"
fi

echo "report: $md" >&2
echo "$out"
