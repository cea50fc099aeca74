#!/bin/bash
# Seeded random command lines: btvmm ends each with a documented status, bad usage with exit 2 and one line, never a crash or a hang.
#
# usage: fuzz-options.sh BTVMM GUEST.elf [RUNS [SEED]]
#
# GUEST is a kernel that ends at once (end-halt.elf): most command lines
# carry it, so the valid ones run and end too. Each run is drawn from
# options (all of btvmm's, QEMU spellings, unknown ones) and values
# (numbers of every size, empty, garbage, files that are no kernel). A run
# passes when it ends within 20 s with a status the README documents (0 2
# 4 6 8 10 12), prints exactly one line on stderr for status 2 (besides the
# note about a host without 32-bit code), and is not killed by a signal.
# (--perf-map is left out: its map file stays by design; cli.perf-map
# tests it.)
set -u
btvmm=$1 guest=$2 runs=${3:-200} seed=${4:-$(date +%s)}
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-options.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
mkdir "$work/dir"
printf 'not a kernel\n' >"$work/text"
RANDOM=$((seed % 32768))

opts=(-kernel -initrd -append -m -serial --tc-size --de --user-worlds --adaptive --mode --accel --accel=
      --stats --trace --help --version --check-host -smp -nographic
      -display --frobnicate -M -cpu -kernel= -m= --de= --tc-size= --trace= -
      -S -no-reboot -nodefaults -device -monitor -d -name -enable-kvm)
vals=("$guest" "$guest" "$guest" "$work/text" "$work/dir" /dev/null /nonexistent ""
      0 1 2 3 16 64 256 4095 4096 65536 -1 -64 18446744073709551615 99999999999999999999
      0x40 1e3 64M 64k 2G on off auto maybe stdio none null file:/dev/null trap-emulate
      "file:$work/out" bt io exc bt,io,exc "bt,,exc" garbage "$(printf 'x%.0s' {1..300})"
      "console=ttyS0" "a b c" "-m" "--de" "=" "==" kvm tcg)
pick() { local -n a=$1; echo "${a[$((RANDOM % ${#a[@]}))]}"; }

fail=0
for ((run = 0; run < runs; run++)); do
    args=()
    ((RANDOM % 5)) && args+=(-kernel "$guest")
    n=$((RANDOM % 5))
    for ((k = 0; k < n; k++)); do
        o=$(pick opts)
        case $o in
            *=) args+=("$o$(pick vals)") ;;
            --stats|--help|--version|--check-host|-nographic|-S|-no-reboot|-nodefaults|-enable-kvm)
                args+=("$o") ;;
            *) ((RANDOM % 8)) && args+=("$o" "$(pick vals)") || args+=("$o") ;;
        esac
    done
    timeout -s KILL 20 "$btvmm" "${args[@]}" </dev/null >"$work/stdout" 2>"$work/stderr"
    status=$?
    grep -v '^btvmm: this host cannot run 32-bit code natively' "$work/stderr" >"$work/lines"
    why=""
    case $status in
        0|4|6|8|10|12) ;;
        2) [ "$(wc -l <"$work/lines")" -eq 1 ] || why="status 2 with $(wc -l <"$work/lines") stderr lines" ;;
        137) why="hung (killed after 20 s)" ;;
        *) why="status $status" ;;
    esac
    if [ -n "$why" ]; then
        echo "fuzz-options: FAIL (seed $seed, run $run): $why: btvmm $(printf '%q ' "${args[@]}")"
        sed 's/^/    | /' "$work/lines" | head -n 5
        fail=1
    fi
done
echo "fuzz-options: $runs command lines from seed $seed: $([ $fail -eq 0 ] && echo ok || echo FAILED)"
exit $fail
