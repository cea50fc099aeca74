#!/bin/sh
# One case of btvmm's command-line contract: its exit status and its one-line diagnostic on stderr.
#
# usage: cli-test.sh BTVMM CASE [GUEST.elf]
#
# Bad input must end with exit status 2 and exactly one stderr line that
# names the problem (ARCHITECTURE.md §7.4). The guest cases run a guest from
# end-guest.S and check the status btvmm documents for how it ended (QEMU
# with -no-reboot exits 0 for both reset and triple fault, so there is no
# reference run: these are btvmm-only). GUEST.elf is that guest; the option
# cases use it as a kernel that is valid, so only the option is wrong.
set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 BTVMM CASE [GUEST.elf]" >&2
    exit 2
fi
btvmm=$1
case=$2
guest=${3:-}
TIMEOUT=${CLI_TIMEOUT:-60}

work=$(mktemp -d "${TMPDIR:-/tmp}/cli-test.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM

# Little-endian bytes of $1, $2 bytes long.
le() {
    n=$1 len=$2
    while [ "$len" -gt 0 ]; do
        # shellcheck disable=SC2059 # the format is the byte's octal escape
        printf "\\$(printf %03o $((n & 255)))"
        n=$((n >> 8))
        len=$((len - 1))
    done
}

# A multiboot v1 header with flags 0.
multiboot_header() {
    le 0x1badb002 4
    le 0 4
    le $(((-0x1badb002) & 0xffffffff)) 4
}

# make_elf32 FILE ENTRY [multiboot]: an ELF32 i386 executable with one
# loadable segment of HLTs at 1 MiB (12 KiB), entered at ENTRY, with a
# multiboot header right after its headers or none.
make_elf32() {
    {
        printf '\177ELF'; le 1 1; le 1 1; le 1 1; le 0 9  # ELFCLASS32, LSB, v1
        le 2 2; le 3 2; le 1 4                            # ET_EXEC, EM_386, version
        le "$2" 4; le 52 4; le 0 4; le 0 4                 # entry, phoff, shoff, flags
        le 52 2; le 32 2; le 1 2; le 40 2; le 0 2; le 0 2  # ehsize, phentsize, phnum, sh*
        le 1 4; le 0 4; le 0x100000 4; le 0x100000 4       # PT_LOAD, offset, vaddr, paddr
        le 12288 4; le 12288 4; le 5 4; le 4096 4          # filesz, memsz, R+X, align
        rest=$((12288 - 84))
        if [ "${3:-}" = multiboot ]; then
            multiboot_header
            rest=$((rest - 12))
        fi
        head -c "$rest" /dev/zero | tr '\0' '\364'        # hlt, hlt, ...
    } >"$1"
}

# An x86-64 ELF64 with a valid multiboot header at 4 KiB: only its class
# is wrong (multiboot v1 loads ELF32 images).
make_elf64_multiboot() {
    {
        printf '\177ELF'; le 2 1; le 1 1; le 1 1; le 0 9  # ELFCLASS64, LSB, v1
        le 2 2; le 62 2; le 1 4                           # ET_EXEC, EM_X86_64, version
        le 0x10100c 8; le 64 8; le 0 8; le 0 4            # entry, phoff, shoff, flags
        le 64 2; le 56 2; le 1 2; le 64 2; le 0 2; le 0 2  # ehsize, phentsize, phnum, sh*
        le 1 4; le 5 4; le 0 8                            # PT_LOAD, R+X, offset
        le 0x100000 8; le 0x100000 8                      # vaddr, paddr
        le 8192 8; le 8192 8; le 4096 8                   # filesz, memsz, align
        head -c $((4096 - 120)) /dev/zero
        multiboot_header
        head -c $((4096 - 12)) /dev/zero | tr '\0' '\364'
    } >"$1"
}

# The note btvmm prints (once, before the guest starts) when the host
# cannot run 32-bit code and --de was not given: it is about the host, not
# about how the guest ended, so the one-line rule below does not count it.
FALLBACK_NOTE='^btvmm: this host cannot run 32-bit code natively \(.+\); guest ring-3 code will be translated \(--de off\)$'

# Split $work/stderr.all into the fallback notes ($work/notes) and the rest
# ($work/stderr).
split_notes() {
    grep -E -e "$FALLBACK_NOTE" "$work/stderr.all" >"$work/notes"
    grep -Ev -e "$FALLBACK_NOTE" "$work/stderr.all" >"$work/stderr"
}

# expect STATUS REGEX [btvmm args...]: passes when btvmm exits with STATUS
# and prints exactly one stderr line matching REGEX (extended,
# case-insensitive), besides at most one fallback note. An empty REGEX
# checks the status alone. A case that gets through its checks falls
# out of the case statement and passes.
expect() {
    want=$1 pattern=$2
    shift 2
    timeout "$TIMEOUT" "$btvmm" "$@" </dev/null >"$work/stdout" 2>"$work/stderr.all"
    status=$?
    split_notes
    lines=$(awk 'END { print NR }' "$work/stderr")
    fail=0
    if [ "$status" -ne "$want" ]; then
        if [ "$status" -eq 124 ]; then
            echo "$case: FAIL: btvmm hung (killed after ${TIMEOUT}s), want exit status $want" >&2
        else
            echo "$case: FAIL: exit status $status, want $want" >&2
        fi
        fail=1
    fi
    if [ "$(awk 'END { print NR }' "$work/notes")" -gt 1 ]; then
        echo "$case: FAIL: the fallback note came more than once" >&2
        fail=1
    fi
    if [ -n "$pattern" ]; then
        if [ "$lines" -ne 1 ]; then
            echo "$case: FAIL: $lines lines on stderr, want exactly 1" >&2
            fail=1
        fi
        if ! grep -Eiq -e "$pattern" "$work/stderr"; then
            echo "$case: FAIL: stderr does not match /$pattern/ (case-insensitive)" >&2
            fail=1
        fi
    fi
    echo "$case: ran: btvmm $*" >&2
    sed 's/^/  stderr: /' "$work/stderr.all" | head -20 >&2
    return $fail
}

# baseline FILE ARGS...: btvmm's serial output for ARGS, into FILE.
baseline() {
    out=$1
    shift
    timeout "$TIMEOUT" "$btvmm" "$@" </dev/null >"$out" 2>/dev/null
    if [ ! -s "$out" ]; then
        echo "$case: FAIL: no serial output from btvmm $*" >&2
        return 1
    fi
}

# same_output FILE: the last run printed what FILE holds.
same_output() {
    if ! cmp -s "$1" "$work/stdout"; then
        echo "$case: FAIL: the guest's output differs from plain btvmm's:" >&2
        diff "$1" "$work/stdout" | head -10 >&2
        return 1
    fi
}

# The items btvmm --check-host reports, in order, and those it cannot run
# without (the others may be missing: it runs, maybe slower).
CHECK_ITEMS="x86-64 memfd-mmap seccomp compat-mode fsgsbase cpu-vendor mmap-min-addr max-map-count kvm"
REQUIRED_ITEMS="x86-64 memfd-mmap seccomp"

# Run btvmm --check-host into $work/check; its status in $check_status.
check_host() {
    timeout "$TIMEOUT" "$btvmm" --check-host </dev/null >"$work/check" 2>"$work/check.err"
    check_status=$?
}

# True if --check-host said this host cannot run 32-bit code.
compat_missing() {
    grep -Eq '^compat-mode +missing ' "$work/check"
}

# True if --check-host said /dev/kvm runs 32-bit guests (--accel kvm works).
kvm_works() {
    grep -Eq '^kvm +ok ' "$work/check"
}

need_guest() {
    if [ ! -f "$guest" ]; then
        echo "$case: FAIL: no guest image '$guest'" >&2
        exit 2
    fi
}

case $case in
    missing-kernel-file)
        expect 2 'no-such-kernel\.elf|no such file' -kernel "$work/no-such-kernel.elf" || exit 1 ;;
    not-elf)
        echo "this is a text file, not a kernel" >"$work/not-elf.txt"
        expect 2 'not-elf\.txt|elf' -kernel "$work/not-elf.txt" || exit 1 ;;
    empty-file)
        : >"$work/empty.elf"
        expect 2 'empty\.elf|empty|truncated|short|elf' -kernel "$work/empty.elf" || exit 1 ;;
    elf64)
        make_elf64_multiboot "$work/elf64.elf"
        expect 2 'elf64\.elf|64|elf ?32|class' -kernel "$work/elf64.elf" || exit 1 ;;
    elf32-no-multiboot)
        # no multiboot header anywhere: the only thing wrong with it
        make_elf32 "$work/no-multiboot.elf" 0x100054
        expect 2 'no-multiboot\.elf|multiboot' -kernel "$work/no-multiboot.elf" || exit 1 ;;
    entry-outside)
        # A valid multiboot ELF entered past everything it loads: refused
        # at load, not run as zero-filled RAM.
        make_elf32 "$work/entry-outside.elf" 0x200000 multiboot
        expect 2 'entry point 0x200000' -kernel "$work/entry-outside.elf" || exit 1
        # The same image entered inside its segment runs (it halts).
        make_elf32 "$work/entry-inside.elf" 0x100060 multiboot
        expect 0 'halted' -kernel "$work/entry-inside.elf" || exit 1 ;;
    mem-too-large)
        need_guest
        expect 2 '100000|3584' -kernel "$guest" -m 100000 || exit 1 ;;
    mem-zero)
        need_guest
        expect 2 '-m|mem|ram' -kernel "$guest" -m 0 || exit 1 ;;
    mem-not-a-number)
        need_guest
        expect 2 'abc' -kernel "$guest" -m abc || exit 1 ;;
    mem-missing-value)
        need_guest
        expect 2 '-m|mem|argument|value' -kernel "$guest" -m || exit 1 ;;
    drive-missing-file)
        need_guest
        expect 2 'no-such\.img' -kernel "$guest" -drive file="$work/no-such.img",format=raw || exit 1 ;;
    drive-bad-size)
        need_guest
        head -c 1000 /dev/zero >"$work/odd.img"
        expect 2 'odd\.img.*512' -kernel "$guest" -hda "$work/odd.img" || exit 1 ;;
    drive-bad-format)
        need_guest
        truncate -s 1M "$work/d.img"
        expect 2 'qcow2' -kernel "$guest" -drive file="$work/d.img",format=qcow2 || exit 1 ;;
    drive-unknown-key)
        need_guest
        truncate -s 1M "$work/d.img"
        expect 2 'bogus' -kernel "$guest" -drive file="$work/d.img",bogus=1 || exit 1 ;;
    drive-same-index)
        need_guest
        truncate -s 1M "$work/d.img"
        expect 2 'index|in use|busy' -kernel "$guest" -hda "$work/d.img" -drive file="$work/d.img",index=0 || exit 1 ;;
    unknown-option)
        need_guest
        expect 2 '--bogus' -kernel "$guest" --bogus || exit 1 ;;
    missing-kernel-option)
        expect 2 'kernel' -m 64 || exit 1 ;;
    triple-fault)
        need_guest
        expect 4 'triple fault: #UD at EIP 0x[0-9a-f]+ \(ud2\) -> #GP\(0x33\) -> #DF -> triple fault' -kernel "$guest" || exit 1 ;;
    halted)
        # HLT with interrupts off: nothing can wake the CPU: powered off.
        need_guest
        expect 0 'halted.*powered off' -kernel "$guest" || exit 1 ;;
    signal)
        # The sleep only gives btvmm time to enter the guest; nothing is
        # asserted about time. SIGTERM must stop it with status 12.
        need_guest
        "$btvmm" -kernel "$guest" </dev/null >"$work/stdout" 2>"$work/stderr.all" &
        pid=$!
        sleep 1
        kill -TERM "$pid"
        wait "$pid"
        status=$?
        split_notes
        if [ "$status" -eq 12 ] && [ "$(awk 'END { print NR }' "$work/stderr")" -eq 1 ] &&
           grep -q 'signal' "$work/stderr"; then
            echo "$case: PASS"
            exit 0
        fi
        echo "$case: FAIL: status $status, stderr:" >&2
        cat "$work/stderr" >&2
        exit 1 ;;
    serial-full)
        # A serial sink that fails (ENOSPC): said once, the guest runs on
        # to its own end (demo.elf: isa-debug-exit 0, status 1).
        need_guest
        expect 1 'serial output failed.*no space' -kernel "$guest" -serial file:/dev/full || exit 1 ;;
    trace-long)
        # A list of any length is read whole: the category at the end of
        # 400 characters counts, and a bad one there is refused.
        need_guest
        expect 1 '' -kernel "$guest" --trace "$(printf 'exc,%.0s' $(seq 1 100))io" || exit 1
        if ! grep -q '^io: ' "$work/stderr"; then
            echo "$case: FAIL: the last category (io) of a long --trace list was lost" >&2
            exit 1
        fi
        expect 2 "unknown trace category 'bogus'" -kernel "$guest" \
            --trace "$(printf 'io,%.0s' $(seq 1 100))bogus" || exit 1 ;;
    unsupported)
        need_guest
        expect 8 "unsupported instruction 'fld \\[bx\\]'.*neither translated nor emulated" -kernel "$guest" || exit 1 ;;
    reset)
        need_guest
        expect 0 'guest reset' -kernel "$guest" || exit 1 ;;
    perf-map)
        # --perf-map names each translated block in /tmp/perf-PID.map:
        # "HOST SIZE guest:EIP", the guest being loaded at 1 MiB.
        need_guest
        "$btvmm" --perf-map -kernel "$guest" </dev/null >"$work/stdout" 2>"$work/stderr" &
        pid=$!
        wait "$pid"
        status=$?
        map=/tmp/perf-$pid.map
        if [ "$status" -eq 0 ] && [ -f "$map" ] &&
           grep -Eq '^[0-9a-f]+ [0-9a-f]+ guest:001[0-9a-f]{5}$' "$map" &&
           ! grep -Evq '^[0-9a-f]+ [0-9a-f]+ guest:[0-9a-f]{8}$' "$map"; then
            rm -f "$map"
            echo "$case: PASS"
            exit 0
        fi
        echo "$case: FAIL: status $status, map $map:" >&2
        cat "$map" >&2 2>/dev/null
        rm -f "$map"
        exit 1 ;;
    equals-value)
        # --opt=value and -opt=value mean --opt value; an explicit
        # --de=off leaves no fallback note.
        need_guest
        expect 0 'halted.*powered off' --de=off -m=64 -kernel="$guest" || exit 1
        if [ -s "$work/notes" ]; then
            echo "$case: FAIL: fallback note despite --de=off" >&2
            exit 1
        fi ;;
    equals-bad-value)
        need_guest
        expect 2 "'abc'" -kernel "$guest" --m=abc || exit 1 ;;
    equals-empty-value)
        need_guest
        expect 2 'needs a value' -kernel "$guest" --de= || exit 1 ;;
    equals-on-flag)
        need_guest
        expect 2 "'--stats=1'.*no value" -kernel "$guest" --stats=1 || exit 1 ;;
    unknown-option-equals)
        need_guest
        expect 2 "unknown option '--bogus=1'" -kernel "$guest" --bogus=1 || exit 1 ;;
    check-host)
        # Every item, in order, each "NAME STATUS DETAIL"; status 10 exactly
        # when a required item is missing, else 0; nothing on stderr.
        check_host
        sed 's/^/  stdout: /' "$work/check" >&2
        fail=0
        names=$(awk '{ print $1 }' "$work/check" | tr '\n' ' ')
        if [ "$names" != "$CHECK_ITEMS " ]; then
            echo "$case: FAIL: items '$names', want '$CHECK_ITEMS '" >&2
            fail=1
        fi
        if grep -Evq '^[a-z0-9-]+ +(ok|info|warn|missing) +[^ ]' "$work/check"; then
            echo "$case: FAIL: a line is not 'NAME STATUS DETAIL'" >&2
            fail=1
        fi
        want=0
        for item in $REQUIRED_ITEMS; do
            if grep -Eq "^$item +missing +required: " "$work/check"; then
                want=10
            fi
        done
        # Only required items may say "required:"; a missing optional item
        # must say what btvmm does instead.
        if grep -Ev "^($(echo "$REQUIRED_ITEMS" | tr ' ' '|')) " "$work/check" |
           grep -q ' required: '; then
            echo "$case: FAIL: an optional item is marked required" >&2
            fail=1
        fi
        if compat_missing && ! grep -Eq '^compat-mode +missing +guest ring-3 code will be translated \(--de off\)' "$work/check"; then
            echo "$case: FAIL: missing compat mode does not say what btvmm does instead" >&2
            fail=1
        fi
        if ! kvm_works && ! grep -Eq '^kvm +missing +--accel kvm exits 10 here .*: [^ ]' "$work/check"; then
            echo "$case: FAIL: unusable /dev/kvm does not say what --accel kvm does and why" >&2
            fail=1
        fi
        if [ "$check_status" -ne "$want" ]; then
            echo "$case: FAIL: exit status $check_status, want $want" >&2
            fail=1
        fi
        if [ -s "$work/check.err" ]; then
            echo "$case: FAIL: stderr not empty:" >&2
            cat "$work/check.err" >&2
            fail=1
        fi
        [ "$fail" -eq 0 ] && echo "$case: PASS"
        exit $fail ;;
    de-on)
        # --de on where the host cannot run 32-bit code: status 10, one
        # line; elsewhere the guest runs.
        need_guest
        check_host
        if compat_missing; then
            expect 10 'de on.*32-bit' --de on -kernel "$guest" || exit 1
        else
            expect 0 'halted.*powered off' --de on -kernel "$guest" || exit 1
        fi
        if [ -s "$work/notes" ]; then
            echo "$case: FAIL: fallback note despite --de on" >&2
            exit 1
        fi ;;
    trap-emulate)
        # --mode=trap-emulate needs a host that runs 32-bit code: status
        # 10 and one line elsewhere; where it runs, it says first that it
        # is unfaithful by design. It cannot be had without direct
        # execution, and --mode takes nothing else.
        need_guest
        check_host
        if compat_missing; then
            expect 10 'trap-emulate.*cannot run 32-bit code' --mode=trap-emulate -kernel "$guest" || exit 1
        else
            expect 0 '' --mode=trap-emulate -kernel "$guest" || exit 1
            if ! head -1 "$work/stderr" | grep -q '^btvmm: --mode=trap-emulate: .*unfaithful by design'; then
                echo "$case: FAIL: no 'unfaithful by design' line first on stderr" >&2
                exit 1
            fi
        fi
        expect 2 "trap-emulate runs guest code natively: not with --de off" \
            --mode trap-emulate --de off -kernel "$guest" || exit 1
        expect 2 "--mode takes bt or trap-emulate, not 'naive'" --mode naive -kernel "$guest" || exit 1
        expect 0 '' --mode=bt --de off -kernel "$guest" || exit 1 ;;
    de-fallback)
        # By default a host without compat mode gets one note and the
        # guest still runs; a host with it gets no note.
        # --de auto is the default spelled out; --de takes nothing else.
        need_guest
        check_host
        for how in "" "--de auto"; do
            # shellcheck disable=SC2086 # $how is zero or two words
            expect 0 'halted.*powered off' $how -kernel "$guest" || exit 1
            notes=$(awk 'END { print NR }' "$work/notes")
            if compat_missing && [ "$notes" -ne 1 ]; then
                echo "$case: FAIL: $notes fallback notes with '$how', want 1 (compat mode is missing)" >&2
                exit 1
            fi
            if ! compat_missing && [ "$notes" -ne 0 ]; then
                echo "$case: FAIL: fallback note with '$how' on a host with compat mode" >&2
                exit 1
            fi
        done
        expect 2 "--de takes auto, on or off, not 'maybe'" --de maybe -kernel "$guest" || exit 1 ;;
    accel-kvm)
        # Where /dev/kvm runs 32-bit guests the guest runs to its end as
        # under BT (HLT with interrupts off: powered off, 0); elsewhere
        # status 10 and one line saying why, before the guest starts.
        need_guest
        check_host
        if kvm_works; then
            expect 0 'halted.*powered off' --accel kvm -kernel "$guest" || exit 1
        else
            expect 10 '^btvmm: --accel kvm: [^ ].+' --accel kvm -kernel "$guest" || exit 1
            reason=$(sed -n 's/^kvm *missing *--accel kvm exits 10 here ([^)]*): //p' "$work/check")
            if ! grep -Fq -e "$reason" "$work/stderr"; then
                echo "$case: FAIL: the reason differs from --check-host's ('$reason')" >&2
                exit 1
            fi
        fi
        [ -s "$work/notes" ] && { echo "$case: FAIL: a --de note under --accel kvm" >&2; exit 1; } ;;
    accel-bt)
        # bt is the default spelled out, tcg QEMU's name for it.
        need_guest
        for engine in bt tcg; do
            expect 0 'halted.*powered off' --accel "$engine" -kernel "$guest" || exit 1
        done
        expect 2 "--accel takes bt, tcg or kvm, not 'hvf'" --accel=hvf -kernel "$guest" || exit 1
        expect 2 "--accel.*needs a value" -kernel "$guest" --accel || exit 1 ;;
    accel-bt-only)
        # Translator options with --accel kvm, before or after it: usage
        # errors naming the option, on every host (nothing is started).
        # Each entry: the name in the message, then the arguments.
        need_guest
        for entry in "--de:--de off" "--tc-size:--tc-size 64" "--adaptive:--adaptive off" \
                     "--perf-map:--perf-map" "--trace bt:--trace bt" "--trace exc:--trace io,exc" \
                     "--user-worlds:--user-worlds 2"; do
            name=${entry%%:*} opt=${entry#*:}
            # shellcheck disable=SC2086 # $opt is one or two words
            expect 2 "^btvmm: $name is for the binary translator: not with --accel kvm" \
                $opt --accel kvm -kernel "$guest" || exit 1
            # shellcheck disable=SC2086
            expect 2 "^btvmm: $name is for the binary translator" \
                --accel=kvm $opt -kernel "$guest" || exit 1
        done ;;
    qemu-readme-line)
        # The README's QEMU command line for a test guest, with only the
        # binary's name changed: the guest runs to its isa-debug-exit
        # (demo.elf writes 0: status 1) and prints what plain btvmm prints.
        need_guest
        baseline "$work/base" -m 64 -kernel "$guest" || exit 1
        expect 1 '' -accel tcg -display none -nodefaults -no-reboot -m 64 \
            -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
            -kernel "$guest" || exit 1
        same_output "$work/base" || exit 1 ;;
    qemu-accepted)
        # Each QEMU spelling btvmm accepts runs the guest as without it.
        need_guest
        baseline "$work/base" -m 64 -kernel "$guest" || exit 1
        while read -r spelling; do
            # shellcheck disable=SC2086 # each line is a list of words
            expect 1 '' -m 64 -kernel "$guest" $spelling || exit 1
            same_output "$work/base" || exit 1
        done <<'SPELLINGS'
-nographic
-display none
-no-reboot
-nodefaults -serial stdio
-smp 1
-smp cpus=1,sockets=1,cores=1,threads=1
-cpu coreduo
-cpu max
-M pc
-machine type=pc
-monitor none
-parallel none
-serial mon:stdio
-name guest=demo,debug-threads=on
-device isa-debug-exit,iobase=0xf4,iosize=0x04
-device isa-debug-exit,iobase=0xf4,iosize=4
--nographic --smp=1 --cpu=max
SPELLINGS
        ;;
    qemu-nodefaults)
        # QEMU's -nodefaults leaves no serial port unless -serial names
        # one: the guest runs to its end and nothing is printed.
        need_guest
        expect 1 '' -nodefaults -kernel "$guest" || exit 1
        if [ -s "$work/stdout" ]; then
            echo "$case: FAIL: -nodefaults without -serial printed guest output" >&2
            exit 1
        fi ;;
    qemu-log)
        # -d cpu_reset,int -D FILE: the starting CPU state (a multiboot
        # entry: EAX 0x2badb002, EIP the ELF entry, flat CS 0x10) and the
        # guest's INT3 go to FILE, nothing to stderr.
        need_guest
        expect 1 '' -d cpu_reset,int -D "$work/log" -kernel "$guest" || exit 1
        sed 's/^/  log: /' "$work/log" | head -8 >&2
        if [ -s "$work/stderr" ] ||
           [ "$(head -n 1 "$work/log")" != "CPU Reset (CPU 0)" ] ||
           ! grep -Eq '^EAX=2badb002 EBX=[0-9a-f]{8} ECX=' "$work/log" ||
           ! grep -Eq '^EIP=00100[0-9a-f]{3} EFL=00000002 \[-------\] CPL=0 ' "$work/log" ||
           ! grep -Eq '^CS =0010 00000000 ffffffff 00cf9b00$' "$work/log" ||
           ! grep -Eq '^exc: vector 3 ' "$work/log"; then
            echo "$case: FAIL: the log is not the CPU state and the INT3" >&2
            exit 1
        fi ;;
    qemu-pidfile)
        # -pidfile holds btvmm's pid while it runs and is gone after;
        # -name ...,process=NAME names the host process.
        need_guest
        "$btvmm" -kernel "$guest" -pidfile "$work/pid" -name spin,process=btvmm-spin \
            </dev/null >"$work/stdout" 2>"$work/stderr.all" &
        pid=$!
        for _ in $(seq 1 100); do
            [ -s "$work/pid" ] && break
            sleep 0.1
        done
        comm=$(cat "/proc/$pid/comm" 2>/dev/null)
        written=$(cat "$work/pid" 2>/dev/null)
        kill -TERM "$pid"
        wait "$pid"
        status=$?
        if [ "$written" != "$pid" ] || [ "$comm" != btvmm-spin ] || [ "$status" -ne 12 ] ||
           [ -e "$work/pid" ]; then
            echo "$case: FAIL: pid file '$written' (want $pid), comm '$comm', status $status," \
                 "pid file left: $([ -e "$work/pid" ] && echo yes || echo no)" >&2
            exit 1
        fi ;;
    qemu-refused)
        # QEMU options btvmm cannot honour: one line naming the option,
        # status 2.
        need_guest
        while read -r option rest; do
            # shellcheck disable=SC2086 # $rest is zero or more words
            expect 2 "^btvmm: $option: " -kernel "$guest" $option $rest || exit 1
        done <<'REFUSED'
-smp 2
-smp 1,maxcpus=2
-cpu qemu32
-cpu coreduo,+ssse3
-machine q35
-display gtk
-device virtio-blk-pci,drive=d0
-device isa-debug-exit
-device isa-debug-exit,iobase=0x501,iosize=0x02
-device isa-debug-exit,iobase=0xf4,iosize=0x04,bogus=1
-monitor stdio
-monitor file:mon.log
-d exec
-name x,bogus=1
-no-shutdown
-daemonize
-enable-kvm
-bios bios.bin
-netdev user,id=n0
-vga std
-chardev stdio,id=c0
-gdb udp::1234
-gdb tcp::0
-S -serial none
REFUSED
        ;;
    qemu-twice)
        # An option that names one thing, given twice: refused, not the
        # last one silently.
        need_guest
        expect 2 "-append given twice" -kernel "$guest" -append a -append b || exit 1
        expect 2 "-serial given twice" -kernel "$guest" -serial stdio -serial none || exit 1
        expect 2 "-kernel given twice" -kernel "$guest" -kernel "$guest" || exit 1
        expect 2 "-initrd given twice" -kernel "$guest" -initrd "$guest" -initrd "$guest" || exit 1
        expect 2 "-m given twice" -kernel "$guest" -m 64 --m=64 || exit 1
        expect 2 "-D:? given twice" -kernel "$guest" -D "$work/a" -D "$work/b" || exit 1 ;;
    qemu-files)
        # A file the command line names that cannot be made: status 2,
        # one line naming the option and the path.
        need_guest
        expect 2 '^btvmm: -pidfile: .*no-dir/pid' -kernel "$guest" -pidfile "$work/no-dir/pid" || exit 1
        expect 2 '^btvmm: -D: .*no-dir/log' -kernel "$guest" -D "$work/no-dir/log" || exit 1
        expect 2 '^btvmm: -monitor: .*no-dir/mon' -kernel "$guest" \
            -monitor "unix:$work/no-dir/mon,server,nowait" || exit 1 ;;
    qemu-held)
        # -S without gdb holds the guest for the console's "cont"; with
        # the terminal's input at its end (/dev/null) and no socket, no
        # one can type it: status 6 and one line, not a hang.
        need_guest
        expect 6 'held.*nothing is left to continue it' -S -kernel "$guest" || exit 1 ;;
    version)
        # --version names the commit the binary was built from: a commit
        # of this repository when built from a git checkout.
        timeout "$TIMEOUT" "$btvmm" --version </dev/null >"$work/stdout" 2>&1
        line=$(cat "$work/stdout")
        echo "  stdout: $line" >&2
        commit=$(echo "$line" | sed -En 's/^btvmm [0-9.]+ \(commit ([^ )]+)\)$/\1/p')
        if [ -z "$commit" ]; then
            echo "$case: FAIL: '$line' is not 'btvmm VERSION (commit ID)'" >&2
            exit 1
        fi
        src=$(dirname "$0")
        if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
            hash=${commit%-dirty}
            hash=${hash##*-g}
            if ! git -C "$src" cat-file -e "$hash^{commit}" 2>/dev/null; then
                echo "$case: FAIL: '$commit' is no commit of $src's repository" >&2
                exit 1
            fi
        fi ;;
    *)
        echo "$0: unknown case '$case'" >&2
        exit 2 ;;
esac
echo "$case: PASS"
