#!/usr/bin/env bash
# bench: checks a bench/run.sh output directory is whole (the bench.quick test); never looks at how fast anything was.
#
# usage: check-report.sh OUT BUILD
#
# Passes when OUT has report.md, runners.csv, nano.csv and a PNG nano.png
# (where gnuplot is installed; else the report must say there is no plot),
# at least one guest runner ran, and every runner that ran has a row with
# numeric figures for every op it should have: the guest's ops as its
# check mode lists them ("ok NAME", under QEMU TCG, or under btvmm if QEMU
# is missing), nanonative's as it lists them itself (iters=0).
set -euo pipefail
out=${1:?usage: $0 OUT BUILD}
build=${2:?usage: $0 OUT BUILD}
fail() { echo "check-report: FAIL: $*" >&2; exit 1; }

for f in report.md nano.csv runners.csv; do
	[[ -s $out/$f ]] || fail "no $out/$f"
done
# run.sh --quick installs nothing: without gnuplot, the report says so.
if command -v gnuplot >/dev/null; then
	[[ $(head -c 8 "$out/nano.png" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
		fail "nano.png is missing or not a PNG"
else
	grep -q '^(no plot: gnuplot' "$out/report.md" || fail "no gnuplot, and the report does not say so"
fi

guest=$build/tests/guests/nano.elf
if command -v qemu-system-i386 >/dev/null; then
	listing=$(qemu-system-i386 -accel tcg -display none -nodefaults -no-reboot -m 64 \
		-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$guest" || true)
else
	listing=$("$build/monitor/btvmm" -m 64 -kernel "$guest" 2>/dev/null || true)
fi
mapfile -t guest_ops < <(printf '%s\n' "$listing" | tr -d '\r' | sed -n 's/^ok //p')
((${#guest_ops[@]} >= 10)) || fail "the guest listed ${#guest_ops[@]} ops: $listing"
mapfile -t native_ops < <("$build/bench/nanonative" iters=0 | sed -n 's/^nano op=\([^ ]*\) .*/\1/p')
((${#native_ops[@]} > 0)) || fail "nanonative listed no ops"

mapfile -t ran < <(awk -F, 'NR > 1 && $(NF - 1) == "ok" { print $1 }' "$out/runners.csv")
guest_runners=0
num='[0-9]+(\.[0-9]+)?'
for r in "${ran[@]}"; do
	if [[ $r == native ]]; then
		# nanonative's syscall stands in the guest's syscall-* rows.
		want=()
		for op in "${native_ops[@]}"; do
			[[ $op == syscall ]] && want+=(syscall-int80 syscall-sysenter) || want+=("$op")
		done
	else
		want=("${guest_ops[@]}")
		guest_runners=$((guest_runners + 1))
	fi
	for op in "${want[@]}"; do
		grep -Eq "^$op,$r,[0-9]+,[0-9]+,$num,$num,$num,$num,$num,$num\$" "$out/nano.csv" ||
			fail "nano.csv has no numeric row for $op under $r"
	done
done
for op in "${guest_ops[@]}"; do
	grep -q "^| $op |" "$out/report.md" || fail "report.md has no row for $op"
done
((guest_runners > 0)) || fail "no guest runner ran (runners.csv: $(cat "$out/runners.csv"))"
echo "check-report: $out is whole: ${#ran[@]} runners (${ran[*]}), ${#guest_ops[@]} guest ops"
