#!/bin/bash
# Every way btvmm can end leaves nothing behind: no process, no file in $TMPDIR or /dev/shm.
#
# usage: leave-nothing.sh BTVMM GUEST.elf CASE
#
# GUEST is userbench.elf running its ring-3 loop for a long time (a user
# world runs it where the host can run 32-bit code; elsewhere it is
# translated). CASE is how the run ends:
#   sigterm sigint sighup   the signal to btvmm: status 12
#   group-sigterm group-sigint
#                           the signal to its whole process group, as
#                           timeout(1) and Ctrl-C send it (its user worlds
#                           get it too): status 12, no escape reported
#   sigkill                 SIGKILL to btvmm (its user worlds must die too)
#   ctrl-a-x                Ctrl-A x on its standard input: status 12
#   world-killed world-segv SIGKILL or SIGSEGV to a user world (skipped,
#                           status 77, where none runs): btvmm must end, not
#                           hang, with status 12 (a host event: no escape,
#                           no guest page fault)
# Each case runs btvmm in a session of its own, with a TMPDIR of its own:
# afterwards no process of that session may be left (a user world gets 2 s
# to follow a dead monitor), its TMPDIR must be empty, and nothing of its
# may be in /tmp (perf-PID.map) or /dev/shm. (Other tests run meanwhile:
# only what can be btvmm's is looked at.)
set -u
btvmm=$1 guest=$2 case=$3
tmpdir=${TMPDIR:-/tmp}
work=$(mktemp -d "$tmpdir/leave-nothing.XXXXXX") || exit 2
pid=""
cleanup() {
    [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "$case: FAIL: $*" >&2; exit 1; }

mkdir "$work/tmp"
shm_before=$(ls -A /dev/shm 2>/dev/null | sort)

mkfifo "$work/in"
# setsid: a session (and process group) of its own, led by btvmm
TMPDIR=$work/tmp setsid "$btvmm" -kernel "$guest" -m 64 -append "op=loop iters=4000000000" \
    <"$work/in" >"$work/out" 2>"$work/err" &
pid=$!
exec 3>"$work/in"
# Let it get into the guest's ring-3 loop (nothing is asserted on time).
sleep 1
kill -0 "$pid" 2>/dev/null || fail "btvmm ended before the test: $(cat "$work/err")"

want=""
case $case in
    sigterm) kill -TERM "$pid"; want=12 ;;
    group-sigterm) kill -TERM -- "-$pid"; want=12 ;;
    group-sigint) kill -INT -- "-$pid"; want=12 ;;
    sigint) kill -INT "$pid"; want=12 ;;
    sighup) kill -HUP "$pid"; want=12 ;;
    sigkill) kill -KILL "$pid"; want=137 ;;
    ctrl-a-x) printf '\001x' >&3; want=12 ;;
    world-killed|world-segv)
        world=$(pgrep -P "$pid" | head -n 1)
        if [ -z "$world" ]; then
            echo "$case: skipped: no user world runs on this host (ring 3 is translated)"
            kill -KILL "$pid"
            wait "$pid" 2>/dev/null
            pid=""
            exit 77
        fi
        if [ "$case" = world-killed ]; then kill -KILL "$world"; else kill -SEGV "$world"; fi
        want=12 ;;
    *) echo "usage: $0 BTVMM GUEST.elf sigterm|sigint|sighup|group-sigterm|group-sigint|sigkill|ctrl-a-x|world-killed|world-segv" >&2
       exit 2 ;;
esac
n=200
while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
kill -0 "$pid" 2>/dev/null && fail "btvmm still runs 10 s after the $case"
wait "$pid"
status=$?
exec 3>&-
sid=$pid
pid=""
if [ -n "$want" ] && [ "$status" -ne "$want" ]; then
    fail "exit status $status, want $want; stderr: $(cat "$work/err")"
fi
# One line (besides the --de fallback note), naming the signal; never an
# escape.
if [ "$status" -eq 12 ]; then
    lines=$(grep -cv '^btvmm: this host cannot run 32-bit code natively' "$work/err")
    [ "$lines" -eq 1 ] || fail "stderr is not one line: $(cat "$work/err")"
    grep -qi 'signal\|Ctrl-A' "$work/err" || fail "stderr names no signal: $(cat "$work/err")"
fi
grep -qi 'escape\|left its' "$work/err" && fail "an escape reported: $(cat "$work/err")"
n=40
while [ -n "$(pgrep -s "$sid")" ] && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
left=$(pgrep -s "$sid")
if [ -n "$left" ]; then
    ps -o pid,ppid,stat,args -p "$(echo $left | tr ' ' ',')" >&2
    kill -KILL $left 2>/dev/null
    fail "processes left behind"
fi
new=$(comm -13 <(echo "$shm_before") <(ls -A /dev/shm 2>/dev/null | sort) | grep -E "btvmm|$sid" || true)
[ -z "$new" ] || fail "left behind in /dev/shm: $new"
[ -z "$(ls -A "$work/tmp")" ] || fail "left behind in its TMPDIR: $(ls -A "$work/tmp")"
[ ! -e "/tmp/perf-$sid.map" ] || fail "left /tmp/perf-$sid.map behind"
echo "$case: PASS (status $status, nothing left)"
