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

# An ELF32 i386 executable with one loadable segment at 1 MiB and no
# multiboot header anywhere: the only thing wrong with it.
make_elf32_no_multiboot() {
    {
        printf '\177ELF'; le 1 1; le 1 1; le 1 1; le 0 9  # ELFCLASS32, LSB, v1
        le 2 2; le 3 2; le 1 4                            # ET_EXEC, EM_386, version
        le 0x100054 4; le 52 4; le 0 4; le 0 4             # entry, phoff, shoff, flags
        le 52 2; le 32 2; le 1 2; le 40 2; le 0 2; le 0 2  # ehsize, phentsize, phnum, sh*
        le 1 4; le 0 4; le 0x100000 4; le 0x100000 4       # PT_LOAD, offset, vaddr, paddr
        le 12288 4; le 12288 4; le 5 4; le 4096 4          # filesz, memsz, R+X, align
        head -c $((12288 - 84)) /dev/zero | tr '\0' '\364' # hlt, hlt, ...
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

# expect STATUS REGEX [btvmm args...]: passes when btvmm exits with STATUS
# and prints exactly one stderr line matching REGEX (extended,
# case-insensitive). An empty REGEX checks the status alone.
expect() {
    want=$1 pattern=$2
    shift 2
    timeout "$TIMEOUT" "$btvmm" "$@" </dev/null >"$work/stdout" 2>"$work/stderr"
    status=$?
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
    sed 's/^/  stderr: /' "$work/stderr" | head -20 >&2
    if [ "$fail" -eq 0 ]; then
        echo "$case: PASS"
    fi
    exit $fail
}

need_guest() {
    if [ ! -f "$guest" ]; then
        echo "$case: FAIL: no guest image '$guest'" >&2
        exit 2
    fi
}

case $case in
    missing-kernel-file)
        expect 2 'no-such-kernel\.elf|no such file' -kernel "$work/no-such-kernel.elf" ;;
    not-elf)
        echo "this is a text file, not a kernel" >"$work/not-elf.txt"
        expect 2 'not-elf\.txt|elf' -kernel "$work/not-elf.txt" ;;
    empty-file)
        : >"$work/empty.elf"
        expect 2 'empty\.elf|empty|truncated|short|elf' -kernel "$work/empty.elf" ;;
    elf64)
        make_elf64_multiboot "$work/elf64.elf"
        expect 2 'elf64\.elf|64|elf ?32|class' -kernel "$work/elf64.elf" ;;
    elf32-no-multiboot)
        make_elf32_no_multiboot "$work/no-multiboot.elf"
        expect 2 'no-multiboot\.elf|multiboot' -kernel "$work/no-multiboot.elf" ;;
    mem-too-large)
        need_guest
        expect 2 '100000|3584' -kernel "$guest" -m 100000 ;;
    mem-zero)
        need_guest
        expect 2 '-m|mem|ram' -kernel "$guest" -m 0 ;;
    mem-not-a-number)
        need_guest
        expect 2 'abc' -kernel "$guest" -m abc ;;
    mem-missing-value)
        need_guest
        expect 2 '-m|mem|argument|value' -kernel "$guest" -m ;;
    unknown-option)
        need_guest
        expect 2 '--bogus' -kernel "$guest" --bogus ;;
    missing-kernel-option)
        expect 2 'kernel' -m 64 ;;
    triple-fault)
        need_guest
        expect 4 'triple fault' -kernel "$guest" ;;
    halted)
        # HLT with interrupts off: nothing can wake the CPU: powered off.
        need_guest
        expect 0 'halted.*powered off' -kernel "$guest" ;;
    signal)
        # The sleep only gives btvmm time to enter the guest; nothing is
        # asserted about time. SIGTERM must stop it with status 12.
        need_guest
        "$btvmm" -kernel "$guest" </dev/null >"$work/stdout" 2>"$work/stderr" &
        pid=$!
        sleep 1
        kill -TERM "$pid"
        wait "$pid"
        status=$?
        if [ "$status" -eq 12 ] && [ "$(awk 'END { print NR }' "$work/stderr")" -eq 1 ] &&
           grep -q 'signal' "$work/stderr"; then
            echo "$case: PASS"
            exit 0
        fi
        echo "$case: FAIL: status $status, stderr:" >&2
        cat "$work/stderr" >&2
        exit 1 ;;
    reset)
        need_guest
        expect 0 '' -kernel "$guest" ;;
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
    *)
        echo "$0: unknown case '$case'" >&2
        exit 2 ;;
esac
