#!/bin/bash
# bench: the Popek–Goldberg laboratory — the pglab guest under trap-emulate, BT, DE and QEMU TCG, one table row per instruction and CPL (Markdown and CSV).
#
# usage: pglab.sh [--btvmm PATH] [--guest pglab.elf] [--qemu PATH]
#                 [--runners LIST] [--csv FILE] [--doc FILE] [--iters N]
#
# Defaults: build/monitor/btvmm and build/tests/guests/pglab.elf under the
# repository's root, qemu-system-i386, all four runners (te, bt, de, qemu:
# --mode=trap-emulate, --de off, --de on, QEMU TCG). Prints the table in
# Markdown, then the same table as CSV (--csv FILE: the CSV goes there
# instead). A runner this host cannot offer fills its column with
# "unavailable: <btvmm's reason>". A run that stops in a case (trap-emulate
# may end the VM: an escape is exit 14) gets "stopped: exit S" in that
# case's row and is started again at the next case (the guest's from=N).
#
# --doc FILE: also rewrite the generated part of FILE (between the
# "BEGIN pglab.sh" and "END pglab.sh" comment lines; docs/popek-goldberg.md)
# with the table, the translated code of each snippet (btvmm --de off
# --trace bt) and the cost of each instruction (the guest's "cost" mode,
# --iters N times each, in guest TSC ticks beyond a NOP) under each runner.
#
# Exit status: 0 with the table printed; 1 if the BT run does not give a
# row for every case; 2 bad usage.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
btvmm=$root/build/monitor/btvmm
guest=$root/build/tests/guests/pglab.elf
qemu="qemu-system-i386"
runners="te bt de qemu"
csv="" doc="" iters=10000
while [ $# -gt 0 ]; do
    case $1 in
    --btvmm) btvmm=$2; shift 2 ;;
    --guest) guest=$2; shift 2 ;;
    --qemu) qemu=$2; shift 2 ;;
    --runners) runners=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    --doc) doc=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    *) echo "pglab.sh: unknown option '$1' (see the usage at the top of $0)" >&2; exit 2 ;;
    esac
done
for f in "$btvmm" "$guest"; do
    [ -f "$f" ] || { echo "pglab.sh: no $f (build first: cmake --build build)" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/pglab.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM
TIMEOUT=${PGLAB_TIMEOUT:-60}

# What each runner is, for the table's header.
declare -A title=([te]="trap-emulate" [bt]="btvmm BT (--de off)" [de]="btvmm DE (--de on)"
                  [qemu]="QEMU TCG")

# run_guest RUNNER APPEND: the guest's serial output on stdout, btvmm's
# stderr in $work/err; returns the exit status.
run_guest() {
    local r=$1 append=$2
    case $r in
    te) timeout "$TIMEOUT" "$btvmm" -kernel "$guest" -m 64 --mode=trap-emulate -append "$append" ;;
    bt) timeout "$TIMEOUT" "$btvmm" -kernel "$guest" -m 64 --de off -append "$append" ;;
    de) timeout "$TIMEOUT" "$btvmm" -kernel "$guest" -m 64 --de on -append "$append" ;;
    qemu) timeout "$TIMEOUT" "$qemu" -accel tcg -display none -nodefaults -no-reboot -m 64 \
              -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
              -kernel "$guest" -append "$append" ;;
    esac </dev/null 2>"$work/err"
}

# Why a runner cannot run here (empty: it can): btvmm's own one line when
# it exits 10 at once, or QEMU missing.
unavailable() {
    local r=$1
    if [ "$r" = qemu ]; then
        command -v "$qemu" >/dev/null || echo "no $qemu"
        return
    fi
    if [ "$r" = te ] || [ "$r" = de ]; then
        run_guest "$r" "from=9999" >/dev/null
        # btvmm's line without the option it names and the advice after
        # the reason: "this host cannot run 32-bit code natively (...)".
        [ $? -eq 10 ] && sed -n '$s/^btvmm: //; $s/^--[^:]*: //; $s/\(natively ([^)]*)\).*/\1/p' "$work/err"
    fi
}

# collect RUNNER: $work/RUNNER.rows, one "insn cpl|class|fault|observed|expected|ok"
# per case in order; a case in which the run stopped says so and the run
# goes on from the next one.
collect() {
    local r=$1 from=0 status out total=${2:-}
    : >"$work/$r.rows"
    while :; do
        out=$(run_guest "$r" "from=$from")
        status=$?
        printf '%s\n' "$out" >"$work/$r.out"
        printf '%s\n' "$out" | sed -n 's/^pg insn=\([^ ]*\) cpl=\([0-3]\) class=\([^ ]*\) fault=\([^ ]*\) observed=\([^ ]*\) expected=\([^ ]*\) ok=\([a-z]*\)$/\1 \2|\3|\4|\5|\6|\7/p' \
            >>"$work/$r.rows"
        local got
        got=$(wc -l <"$work/$r.rows")
        if [ -z "$total" ] || [ "$got" -ge "$total" ] || [ "$status" -eq 1 ] || [ "$status" -eq 3 ]; then
            break
        fi
        # Stopped in case number $got: say how, then go on after it.
        local why
        why=$(sed -n '$s/^btvmm: //p' "$work/err" | tr '|' '/' | tr -d '"' | cut -c1-120)
        echo "$(sed -n "$((got + 1))p" "$work/cases")|-|stopped|stopped: exit $status${why:+ ($why)}||no" \
            >>"$work/$r.rows"
        from=$((got + 1))
    done
}

# The BT run defines the cases (it must give them all: the guest's last
# line says how many there are).
collect bt
total=$(wc -l <"$work/bt.rows")
cut -d'|' -f1 "$work/bt.rows" >"$work/cases"
cases=$(sed -n 's/^pglab: \([0-9]*\) cases, .*/\1/p' "$work/bt.out")
if [ "$total" -eq 0 ] || [ "$total" != "$cases" ]; then
    echo "pglab.sh: the BT run ($btvmm --de off) gave $total rows of ${cases:-?} cases" >&2
    exit 1
fi
declare -A why_not
for r in $runners; do
    [ "$r" = bt ] && continue
    why_not[$r]=$(unavailable "$r")
    [ -z "${why_not[$r]}" ] && collect "$r" "$total"
done

# How classify.def (the translator's one table) classes each case's instruction.
classify() {
    local m
    case $1 in
    pushf) m=PUSHFD ;; popf-*) m=POPFD ;; push-cs) m=PUSH ;; pop-seg) m=POP ;;
    mov-from-seg|mov-to-seg|mov-cr) m=MOV ;; far-call) m=CALL ;; far-jmp) m=JMP ;;
    far-ret) m=RET ;; int-n) m=INT ;; cpuid-lm) m=CPUID ;; in-out) m=IN ;;
    *) m=$(echo "$1" | tr "[:lower:]" "[:upper:]") ;;
    esac
    local c
    c=$(grep -o "BT_INSN($m, [A-Z]*)" "$root/bt/classify.def" | sed 's/.*, //; s/)//')
    case $1 in
    # The operand checks make these EMULATE whatever the mnemonic's class.
    push-cs|pop-seg|mov-from-seg|mov-to-seg|mov-cr|far-*) c="$c→EMULATE (operand)" ;;
    esac
    echo "$m: ${c:-EMULATE (absent)}"
}

# cell RUNNER "INSN CPL": one runner's result for one case.
cell() {
    local r=$1 key=$2 line
    if [ -n "${why_not[$r]:-}" ]; then
        echo "unavailable: ${why_not[$r]}"
        return
    fi
    line=$(grep -F "$key|" "$work/$r.rows" | head -1)
    [ -z "$line" ] && { echo "missing"; return; }
    IFS='|' read -r _ _ fault observed _ ok <<<"$line"
    if [ "$fault" = stopped ]; then
        echo "$observed"
    else
        echo "$fault · $observed · $([ "$ok" = yes ] && echo right || echo WRONG)"
    fi
}

markdown_table() {
    local header="| instruction | CPL | class | traps deprivileged | classify.def | expected |"
    local rule="|---|---|---|---|---|---|"
    for r in $runners; do
        header="$header ${title[$r]} |"
        rule="$rule---|"
    done
    echo "$header"
    echo "$rule"
    while IFS='|' read -r key class _ _ expected _; do
        local insn=${key% *} cpl=${key#* } row
        row="| $insn | $cpl | $class | $([ "$class" = privileged ] && echo yes '(#GP)' || echo no) | $(classify "$insn") | $expected |"
        for r in $runners; do
            row="$row $(cell "$r" "$key") |"
        done
        echo "$row"
    done <"$work/bt.rows"
    echo
    echo "Each runner's cell: the fault the guest saw · what it observed · whether that is architecturally right."
}

csv_table() {
    local header="insn,cpl,class,expected"
    for r in $runners; do
        header="$header,${r}_fault,${r}_observed,${r}_ok"
    done
    echo "$header"
    while IFS='|' read -r key class _ _ expected _; do
        local row="${key% *},${key#* },$class,$expected"
        for r in $runners; do
            if [ -n "${why_not[$r]:-}" ]; then
                row="$row,unavailable,\"unavailable: ${why_not[$r]//\"/\'}\",unavailable"
                continue
            fi
            local line fault observed ok
            line=$(grep -F "$key|" "$work/$r.rows" | head -1)
            IFS='|' read -r _ _ fault observed _ ok <<<"${line:-|||missing||missing}"
            row="$row,$fault,\"$observed\",${ok:-missing}"
        done
        echo "$row"
    done <"$work/bt.rows"
}

# The translated code of each case's snippet, from --trace bt (the first
# translation of the block at the snippet's address: the CPL-0 one), cut
# after 60 lines (the inline segment loads run to hundreds).
traces() {
    "$btvmm" -kernel "$guest" -m 64 --de off --trace bt -serial none </dev/null 2>"$work/trace" >/dev/null
    nm "$guest" | sed -n 's/^\([0-9a-f]*\) T pg_s_\(.*\)$/\1 \2/p' | sort >"$work/snippets"
    while read -r addr name; do
        awk -v want="bt: block 0x$addr " '
            on && /^bt: block / { on = 0; done = 1 }
            index($0, want) == 1 && !done { on = 1 }
            on { print }' "$work/trace" >"$work/block.$name"
    done <"$work/snippets"
    forms
    while read -r addr name; do
        echo "#### $name"
        echo
        echo '```'
        head -60 "$work/block.$name"
        local n
        n=$(wc -l <"$work/block.$name")
        [ "$n" -gt 60 ] && echo "      ... ($((n - 60)) more lines)"
        echo '```'
        echo
    done <"$work/snippets"
}

# The form each case's instruction took in its snippet's block: "exit to
# the emulator" when the host code at the instruction's offset (after the
# block's first line) is the exit stub that stores its EIP, else "inline".
forms() {
    echo "| case | guest instruction (CPL 0) | translated form |"
    echo "|---|---|---|"
    local insn snippet pattern
    while read -r insn snippet pattern; do
        [ -f "$work/block.$snippet" ] || continue
        awk -v insn="$insn" -v pat="$pattern" '
            /^  [0-9a-f]+  / && !found && index($0, pat) {
                found = 1; eip = toupper($1); sub(/^0+/, "", eip); off = substr($NF, 2) + 0
                text = $0; sub(/^  [0-9a-f]+  /, "", text); sub(/ +[+][0-9]+$/, "", text)
                next
            }
            found && !form && $1 == "host" && substr($2, 2) + 0 >= off &&
            index($0, "mov r11d, [r15-0x1000]") == 0 {
                form = index($0, "[r15+0x20], 0x" eip) ? "exit to the emulator" : "inline"
            }
            END { if (found) printf "| %s | `%s` | %s |\n", insn, text, form ? form : "?" }
        ' "$work/block.$snippet"
    done <<'EOF2'
sgdt sgdt sgdt
sidt sidt sidt
sldt sldt sldt
str str str eax
smsw smsw smsw
pushf pushf pushfd
popf-if popf_if0 popfd
popf-iopl popf_iopl popfd
lar lar lar
lsl lsl lsl
verr verr verr
verw verw verw
push-cs push_cs push cs
pop-seg pop_seg pop fs
mov-from-seg mov_from_seg mov eax, ss
mov-to-seg mov_to_seg mov gs, cx
far-call far_call call far
far-jmp far_jmp jmp far
far-ret far_ret ret far
int-n int_n int 0x40
cpuid-lm cpuid_lm cpuid
rdtsc rdtsc rdtsc
cli cli cli
hlt hlt0 hlt
mov-cr mov_cr cr0
lgdt lgdt lgdt
in-out in_out out dx
EOF2
    echo
}

# The cost of each instruction under each runner that can run here.
costs() {
    local r
    for r in bt de te qemu; do
        case " $runners " in *" $r "*) ;; *) continue ;; esac
        [ -n "${why_not[$r]:-}" ] && continue
        run_guest "$r" "cost iters=$iters" |
            sed -n "s/^pgcost insn=\([^ ]*\) tenths=\([0-9]*\)$/\1 \2/p" >"$work/cost.$r"
    done
    local header="| instruction (as timed) |" rule="|---|"
    for r in bt de te qemu; do
        [ -s "$work/cost.$r" ] || continue
        header="$header ${title[$r]} |"
        rule="$rule---|"
    done
    echo "$header"
    echo "$rule"
    while read -r insn _; do
        local row="| $insn |"
        for r in bt de te qemu; do
            [ -s "$work/cost.$r" ] || continue
            local t
            t=$(awk -v i="$insn" '$1 == i { printf "%.1f", $2 / 10 }' "$work/cost.$r")
            row="$row ${t:-?} |"
        done
        echo "$row"
    done <"$work/cost.bt"
}

markdown_table >"$work/table.md"
csv_table >"$work/table.csv"
cat "$work/table.md"
echo
if [ -n "$csv" ]; then
    cp "$work/table.csv" "$csv"
else
    cat "$work/table.csv"
fi

if [ -n "$doc" ]; then
    {
        echo "Generated by \`bench/pglab.sh --doc\` on $(uname -m) $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(date -u +%Y-%m-%d)."
        echo
        echo "### The table"
        echo
        cat "$work/table.md"
        echo
        echo "### The translated code (\`btvmm --de off --trace bt\`, CPL 0)"
        echo
        traces
        echo "### The cost of each translated form"
        echo
        echo "Guest TSC ticks per instruction beyond a NOP: the fastest of five timed loops of $iters"
        echo "(pglab guest, \`-append \"cost iters=$iters\"\`, CPL 0, paging on)."
        echo
        costs
    } >"$work/generated"
    awk -v gen="$work/generated" '
        /^<!-- BEGIN pglab.sh/ { print; while ((getline l < gen) > 0) print l; skip = 1; next }
        /^<!-- END pglab.sh/ { skip = 0 }
        !skip { print }' "$doc" >"$work/doc" && cp "$work/doc" "$doc"
fi
exit 0
