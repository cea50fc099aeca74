#!/bin/sh
# The GDB stub against QEMU's: one scripted gdb session on one guest under QEMU and under btvmm; the transcripts must match.
#
# usage: gdb-test.sh BTVMM GUEST.elf SESSION.gdb
#
# Both emulators get the same command line (QEMU's spelling, which btvmm
# accepts) with -gdb tcp:127.0.0.1:PORT -S; gdb -batch connects and runs
# SESSION, which prints "=== session ===" first (what came before, the
# address each started at, differs: QEMU starts in its BIOS). Passes when
# the transcripts from that line on are identical, they show the session
# got through (the breakpoint inside a block, the last watchpoint hit,
# ring 3's registers and step, the end), and
# both guests printed the same serial output and ended with status 1.
# Skips (77) without gdb or qemu-system-i386.
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 BTVMM GUEST.elf SESSION.gdb" >&2
    exit 2
fi
btvmm=$1 guest=$2 session=$3
QEMU=${QEMU:-qemu-system-i386}
TIMEOUT=${GDB_TIMEOUT:-120}
for tool in gdb "$QEMU"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "gdb-test: SKIP: $tool is not installed (scripts/deps.sh installs it)"
        exit 77
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gdb-test.XXXXXX") || exit 2
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# The inode of the socket listening on TCP port $1 (IPv4), or nothing.
listening_inode() {
    awk -v port=":$(printf '%04X' "$1")" \
        '$4 == "0A" && substr($2, length($2) - 4) == port { print $10 }' /proc/net/tcp
}

# start NAME PORT EMULATOR: start EMULATOR with a stub on PORT, stopped;
# succeed once that process listens there, fail if it died (the port was
# taken after all).
start() {
    name=$1 port=$2 emulator=$3
    "$emulator" -display none -nodefaults -no-reboot -m 64 \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "file:$work/$name.serial" \
        -gdb "tcp:127.0.0.1:$port" -S -kernel "$guest" >"$work/$name.stdout" 2>"$work/$name.stderr" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        inode=$(listening_inode "$port")
        if [ -n "$inode" ] && ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "socket:\[$inode\]"; then
            return 0
        fi
        sleep 0.1
    done
    wait "$pid"
    pid=""
    return 1
}

# session NAME EMULATOR: the whole run under one emulator, on a free port
# (several tests run at once: a port found free may be taken before the
# emulator binds it, then the next is tried).
session() {
    name=$1 emulator=$2
    port=$((20000 + $$ % 20000))
    tries=0
    while [ -n "$(listening_inode "$port")" ] || ! start "$name" "$port" "$emulator"; do
        port=$((port + 1)) tries=$((tries + 1))
        if [ "$tries" -ge 50 ]; then
            echo "gdb-test: FAIL: $name: no free port to listen on" >&2
            cat "$work/$name.stderr" >&2 2>/dev/null
            exit 1
        fi
    done
    timeout "$TIMEOUT" gdb -batch -nx -ex "target remote 127.0.0.1:$port" -x "$session" \
        "$guest" >"$work/$name.gdb" 2>&1
    # The session ends with the guest's end: the emulator is gone or
    # going. One that is not gone after 10 s of waiting hangs: fail.
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "gdb-test: FAIL: $name did not end with the gdb session" >&2
        sed 's/^/  gdb: /' "$work/$name.gdb" >&2
        exit 1
    fi
    wait "$pid"
    echo $? >"$work/$name.status"
    pid=""
    sed -n '/^=== session ===$/,$p' "$work/$name.gdb" >"$work/$name.transcript"
}

session qemu "$QEMU"
session btvmm "$btvmm"

fail=0
if ! cmp -s "$work/qemu.transcript" "$work/btvmm.transcript"; then
    echo "gdb-test: FAIL: the gdb sessions differ (QEMU -, btvmm +):" >&2
    diff -u "$work/qemu.transcript" "$work/btvmm.transcript" >&2
    fail=1
fi
for want in '^Breakpoint 2, 0x[0-9a-f]+ in gdb_checkpoint \(n=n@entry=2\)' \
            '^New value = 100$' '^cr0 +0x80010011 +\[ PG WP ET PE \]$' '^eax +0x2345 ' \
            'Remote connection closed'; do
    if ! grep -Eq "$want" "$work/btvmm.transcript"; then
        echo "gdb-test: FAIL: the btvmm session has no line matching /$want/" >&2
        fail=1
    fi
done
for name in qemu btvmm; do
    if [ "$(cat "$work/$name.status")" != 1 ]; then
        echo "gdb-test: FAIL: $name ended with status $(cat "$work/$name.status"), want 1" >&2
        sed 's/^/  stderr: /' "$work/$name.stderr" >&2
        fail=1
    fi
done
if ! grep -q '^ALL OK$' "$work/btvmm.serial" ||
   ! cmp -s "$work/qemu.serial" "$work/btvmm.serial"; then
    echo "gdb-test: FAIL: the guests' serial output differs or is not ALL OK:" >&2
    diff "$work/qemu.serial" "$work/btvmm.serial" >&2
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    sed 's/^/  btvmm gdb: /' "$work/btvmm.gdb" >&2
    exit 1
fi
echo "gdb-test: PASS ($(wc -l <"$work/btvmm.transcript") lines of gdb output alike)"
