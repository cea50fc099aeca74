#!/bin/bash
# Checks of the Popek–Goldberg laboratory: the exact rows trap-emulate gets wrong, and bench/pglab.sh's table.
#
# usage: pglab-check.sh trap-emulate|report BTVMM PGLAB.elf
#
# trap-emulate: the rows of the pglab guest that --mode=trap-emulate gets
# wrong (ok=no, or the run stopped in them) must be exactly WRONG_UNDER_TE
# below; skipped (77) where the host cannot run 32-bit code.
# report: bench/pglab.sh prints a Markdown and a CSV table with one row per
# case of the guest; BT is right on every row and agrees with QEMU; a
# runner this host lacks says "unavailable:" and why; --doc fills a copy
# of docs/popek-goldberg.md with the table, a translated block per snippet
# and a cost per instruction.
set -u
[ $# -eq 3 ] || { echo "usage: $0 trap-emulate|report BTVMM PGLAB.elf" >&2; exit 2; }
mode=$1 btvmm=$2 guest=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pglab-check.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM

# What naive trap-and-emulate must get wrong ("insn cpl"), and why. Every
# other row (privileged instructions, which trap, HLT at CPL 0 among them,
# woken by the PIT as the monitor delivers the interrupt; INT n, whose gate the
# monitor delivers; RDTSC; VERW, false on the host's descriptor as on the
# guest's; POPF's IOPL at CPL 3, ignored on both) must be right.
WRONG_UNDER_TE="
sgdt 0
sgdt 3
sidt 0
sidt 3
sldt 0
sldt 3
str 0
str 3
smsw 0
smsw 3
pushf 0
pushf 3
popf-if 0
popf-if 3
popf-iopl 0
lar 0
lar 3
lsl 0
lsl 3
verr 0
verr 3
push-cs 0
push-cs 3
pop-seg 0
pop-seg 3
mov-from-seg 0
mov-from-seg 3
mov-to-seg 0
mov-to-seg 3
far-call 0
far-call 3
far-jmp 0
far-jmp 3
far-ret 0
far-ret 3
cpuid-lm 0
cpuid-lm 3
"
# register/descriptor-table reads: the host's GDTR, IDTR, LDTR, TR, CR0
# (or Linux's UMIP stand-ins); PUSHF: the host's IF (always 1) and IOPL;
# POPF: IF and IOPL changes dropped; LAR/LSL/VERR: the host's GDT; segment
# instructions: the user world's selectors, and the host's descriptors for
# the guest's selectors (a far transfer to 0x30 lands in the host's 64-bit
# code segment); CPUID: the host's long mode.

compat_ok() {
    "$btvmm" --check-host 2>/dev/null | grep -Eq '^compat-mode +ok'
}

# The CSV's data rows. Observed values and reasons are quoted (they may hold
# commas): split on the quotes for them, on commas once they are replaced.
csv_rows() { tail -n +2 "$1"; }

case $mode in
trap-emulate)
    if ! compat_ok; then
        echo "SKIP: this host cannot run 32-bit code natively (btvmm --check-host: compat-mode), so --mode=trap-emulate cannot run here"
        exit 77
    fi
    "$root/bench/pglab.sh" --btvmm "$btvmm" --guest "$guest" --runners "te" \
        --csv "$work/t.csv" >"$work/out" || { cat "$work/out"; exit 1; }
    # te_ok is the 7th field: insn,cpl,class,expected,te_fault,te_observed,te_ok
    csv_rows "$work/t.csv" | sed 's/"[^"]*"/Q/g' | awk -F, '$7 != "yes" { print $1, $2 }' |
        sort >"$work/got"
    echo "$WRONG_UNDER_TE" | grep . | sort >"$work/want"
    cat "$work/out"
    if ! cmp -s "$work/got" "$work/want"; then
        echo "pglab trap-emulate: FAIL: the rows it gets wrong differ from the expected set (- expected, + got):"
        diff -u --label expected --label got "$work/want" "$work/got"
        exit 1
    fi
    echo "pglab trap-emulate: PASS ($(wc -l <"$work/got") rows wrong, as expected)" ;;
report)
    timeout 60 "$btvmm" -kernel "$guest" -m 64 --de off -serial stdio </dev/null 2>/dev/null |
        grep -c '^pg insn=' >"$work/n"
    n=$(cat "$work/n")
    cp "$root/docs/popek-goldberg.md" "$work/doc.md"
    "$root/bench/pglab.sh" --btvmm "$btvmm" --guest "$guest" --csv "$work/t.csv" \
        --doc "$work/doc.md" --iters 1000 >"$work/md"
    status=$?
    cat "$work/md"
    fail=0
    bad() { echo "pglab report: FAIL: $*"; fail=1; }
    [ "$status" -eq 0 ] || bad "bench/pglab.sh exited $status"
    [ "$n" -ge 50 ] || bad "the guest printed $n rows under --de off, want 50 or more"
    rows=$(grep -Ec '^\| [a-z-]+ \| [03] \|' "$work/md")
    [ "$rows" -eq "$n" ] || bad "$rows Markdown rows, want $n (one per case)"
    head -1 "$work/md" | grep -q '| trap-emulate | btvmm BT (--de off) | btvmm DE (--de on) | QEMU TCG |$' ||
        bad "the Markdown header lacks a column per runner"
    [ "$(csv_rows "$work/t.csv" | wc -l)" -eq "$n" ] || bad "CSV rows: $(csv_rows "$work/t.csv" | wc -l), want $n"
    # BT: right on every row, its observation is the expectation, and
    # QEMU (where it runs) saw the same.
    while IFS= read -r line; do
        # insn,cpl,class,expected,te_fault,"te_obs",te_ok,bt_fault,"bt_obs",bt_ok,
        # de_fault,"de_obs",de_ok,qemu_fault,"qemu_obs",qemu_ok
        bt=$(echo "$line" | sed 's/"[^"]*"/Q/g')
        insn=$(echo "$bt" | cut -d, -f1,2 | tr , ' ')
        expected=$(echo "$bt" | cut -d, -f4)
        bt_ok=$(echo "$bt" | cut -d, -f10)
        bt_obs=$(echo "$line" | awk -F'"' '{ print $4 }')
        qemu_obs=$(echo "$line" | awk -F'"' '{ print $8 }')
        [ "$bt_ok" = yes ] || bad "$insn: BT not right"
        [ "$bt_obs" = "$expected" ] || bad "$insn: BT observed '$bt_obs', expected '$expected'"
        if command -v qemu-system-i386 >/dev/null; then
            [ "$qemu_obs" = "$bt_obs" ] || bad "$insn: QEMU observed '$qemu_obs', BT '$bt_obs'"
        fi
        te_obs=$(echo "$line" | awk -F'"' '{ print $2 }')
        de_obs=$(echo "$line" | awk -F'"' '{ print $6 }')
        if compat_ok; then
            case "$te_obs$de_obs" in *unavailable*) bad "$insn: a direct-execution runner unavailable on a host with compat mode" ;; esac
        else
            case "$te_obs" in "unavailable: this host cannot run 32-bit code natively"*) ;; *) bad "$insn: trap-emulate column '$te_obs', want unavailable and why" ;; esac
            case "$de_obs" in "unavailable: this host cannot run 32-bit code natively"*) ;; *) bad "$insn: DE column '$de_obs', want unavailable and why" ;; esac
        fi
    done < <(csv_rows "$work/t.csv")
    # The document: its hand-written half kept, the generated half redone.
    sed -n '/^<!-- BEGIN pglab.sh/,/^<!-- END pglab.sh/p' "$work/doc.md" >"$work/gen"
    grep -q '^## The three properties' "$work/doc.md" || bad "--doc lost the hand-written part"
    [ "$(grep -Ec '^\| [a-z-]+ \| [03] \|' "$work/gen")" -eq "$n" ] || bad "--doc: the table lacks rows"
    snippets=$(nm "$guest" | grep -c ' T pg_s_')
    blocks=$(grep -c '^bt: block ' "$work/gen")
    [ "$blocks" -eq "$snippets" ] || bad "--doc: $blocks translated blocks, want one per snippet ($snippets)"
    forms=$(grep -Ec '^\| [a-z-]+ \| `.+` \| (inline|exit to the emulator) \|$' "$work/gen")
    [ "$forms" -eq 27 ] || bad "--doc: $forms instructions with a translated form, want 27"
    costs=$(grep -Ec '^\| [a-z+()-]+ \| [0-9]+\.[0-9] \|' "$work/gen")
    [ "$costs" -ge 20 ] || bad "--doc: $costs cost rows, want 20 or more"
    [ "$fail" -eq 0 ] && echo "pglab report: PASS ($n rows)"
    exit $fail ;;
*)
    echo "usage: $0 trap-emulate|report BTVMM PGLAB.elf" >&2
    exit 2 ;;
esac
