#!/bin/bash
# Soak: the Linux guest under a fork/exec/pipe/file-I/O mix for N minutes; then checks that it is alive, right, and that btvmm leaked nothing.
#
# usage: tests/soak.sh [--minutes N | --seconds N] [--btvmm PATH] [--guest DIR]
#                      [--tc-size KiB] [BTVMM OPTION...]
#
# DIR holds vmlinuz and initrd.gz (scripts/make-linux-guest.sh makes it;
# default build/linux-guest). Each round runs, in the guest's shell: 20
# fork+exec of /bin/true, `seq | awk` summing 1..2000, a 1 MiB file written
# with dd, hashed with sha256sum and removed, and a three-stage pipe; the
# round's line must carry the right answers. Between rounds the script
# samples the monitor: anonymous resident memory (guest RAM is a shared
# memfd and not counted), open file descriptors, mappings, child processes.
#
# It passes when every round answered right, the guest still answers at
# the end and powers off with status 0, and:
#   - anonymous RSS never exceeds its first sample + the translation cache
#     (--tc-size) + 16 MiB;
#   - the file descriptors at the end are those of the first sample, and
#     the child processes (user worlds) never more than --user-worlds
#     allows (8, and one on its way out);
#   - the mappings grow ever slower: in the last quarter of the rounds by
#     at most half what they grew in the first, + 64 (views fill as the
#     guest touches memory and settle; a leak grows at a steady rate;
#     judged from 100 rounds on);
#   - after the exit no process of the VM is left, its own TMPDIR is empty,
#     and nothing of its is in /dev/shm or /tmp (perf-PID.map).
# Exit status: 0 pass, 1 a check failed, 2 bad usage or no guest.
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=120
btvmm=$here/../build/monitor/btvmm
guest=$here/../build/linux-guest
tc_kib=32768
opts=()
while [ $# -gt 0 ]; do
    case $1 in
        --minutes) seconds=$(($2 * 60)); shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --btvmm) btvmm=$2; shift 2 ;;
        --guest) guest=$2; shift 2 ;;
        --tc-size) tc_kib=$2; opts+=(--tc-size "$2"); shift 2 ;;
        -h|--help) sed -n '4,5p' "$0" | sed 's/^# //'; exit 0 ;;
        *) opts+=("$1"); shift ;;
    esac
done
[ -x "$btvmm" ] || { echo "soak: no btvmm at $btvmm" >&2; exit 2; }
[ -r "$guest/vmlinuz" ] && [ -r "$guest/initrd.gz" ] ||
    { echo "soak: no guest in $guest (scripts/make-linux-guest.sh makes it)" >&2; exit 2; }

tmpdir=${TMPDIR:-/tmp}
work=$(mktemp -d "$tmpdir/soak.XXXXXX")
shm_before=$(ls -A /dev/shm 2>/dev/null | sort)
vm=""
cleanup() {
    [ -n "$vm" ] && kill -KILL "$vm" 2>/dev/null && wait "$vm" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
fail() { echo "soak: FAIL: $*"; exit 1; }

mkfifo "$work/in"
mkdir "$work/tmp"
TMPDIR=$work/tmp "$btvmm" -kernel "$guest/vmlinuz" -initrd "$guest/initrd.gz" -m 256 \
    -append "console=ttyS0 noapic nolapic acpi=off tsc=reliable quiet" --stats "${opts[@]}" \
    <"$work/in" >"$work/out" 2>&1 &
vm=$!
exec 3>"$work/in"

wait_for() { # PATTERN SECONDS
    local n=$(($2 * 20))
    while ! grep -aq "$1" "$work/out"; do
        kill -0 "$vm" 2>/dev/null || return 1
        [ $n -gt 0 ] || return 1
        sleep 0.05
        n=$((n - 1))
    done
}
wait_for '/ # ' 120 || fail "no shell prompt: $(tail -n 5 "$work/out")"

# The monitor's numbers: anonymous RSS (KiB), fds, mappings, children.
sample() {
    local rss
    rss=$(awk '/^RssAnon:/ { print $2 }' "/proc/$vm/status")
    echo "$rss $(ls "/proc/$vm/fd" | wc -l) $(wc -l <"/proc/$vm/maps") $(pgrep -c -P "$vm" || true)"
}
expect_sha=30e14955ebf13522 # sha256 of 1 MiB of zeros
start=$(date +%s)
round=0
: >"$work/samples"
while [ $(($(date +%s) - start)) -lt "$seconds" ] || [ $round -lt 2 ]; do
    round=$((round + 1))
    printf '%s\n' "r=$round; i=0; while [ \$i -lt 20 ]; do /bin/true || break; i=\$((i+1)); done; s=\$(seq 1 2000 | awk '{ s += \$1 } END { print s }'); dd if=/dev/zero of=/tmp/soak bs=4096 count=256 2>/dev/null; h=\$(sha256sum /tmp/soak | cut -c1-16); rm -f /tmp/soak; p=\$(echo soak | cat | tr a-z A-Z); echo \"@@R\$r forks=\$i sum=\$s sha=\$h pipe=\$p@@\"" >&3
    wait_for "^@@R$round " 120 || fail "round $round: no answer: $(tail -n 5 "$work/out")"
    line=$(grep -a "^@@R$round " "$work/out" | tr -d '\r')
    [ "$line" = "@@R$round forks=20 sum=2001000 sha=$expect_sha pipe=SOAK@@" ] ||
        fail "round $round: wrong answer: $line"
    sample >>"$work/samples"
done
elapsed=$(($(date +%s) - start))
printf 'echo @@ALIVE@@\n' >&3
wait_for '^@@ALIVE@@' 60 || fail "the guest stopped answering"
last=$(sample)
printf 'poweroff\n' >&3
exec 3>&-
n=600
while kill -0 "$vm" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
kill -0 "$vm" 2>/dev/null && fail "btvmm did not exit after poweroff"
wait "$vm"
status=$?
pid=$vm
vm=""
[ $status -eq 0 ] || fail "btvmm exited with status $status after poweroff"
grep -a -E '^  (translation|shadow paging|host mapping limit|memory):' "$work/out" | sed 's/^  /soak: btvmm --stats: /'

read -r rss0 fd0 maps0 kids0 <"$work/samples"
read -r rss1 fd1 maps1 kids1 <<<"$last"
rss_max=$(awk 'BEGIN { m = 0 } { if ($1 > m) m = $1 } END { print m }' "$work/samples")
total=$(wc -l <"$work/samples")
q=$(((total + 3) / 4))
maps_at() { sed -n "${1}p" "$work/samples" | awk '{ print $3 }'; }
grow_first=$(($(maps_at "$q") - maps0))
grow_last=$(($(maps_at "$total") - $(maps_at $((total - q + 1)))))
echo "soak: $round rounds in ${elapsed}s ($((round * 20)) fork+exec, $round x 1 MiB written and hashed)"
echo "soak: anonymous RSS $rss0 KiB at first, at most $rss_max KiB, $rss1 KiB at the end (bound $((rss0 + tc_kib + 16384)) KiB)"
echo "soak: fds $fd0 -> $fd1, mappings $maps0 -> $maps1 (grew $grow_first in the first quarter of the rounds, $grow_last in the last), children $kids0 -> $kids1"
echo "soak: mappings and anonymous RSS (KiB) over the run: $(awk -v n="$total" 'NR == 1 || NR == n || NR % int(n / 8 + 1) == 0 { printf "%s/%s ", $3, $1 }' "$work/samples")"
[ "$rss_max" -le $((rss0 + tc_kib + 16384)) ] || fail "anonymous RSS grew beyond the translation cache's bound"
[ "$fd1" -eq "$fd0" ] || fail "file descriptors leaked ($fd0 -> $fd1)"
kids_max=$(awk 'BEGIN { m = 0 } { if ($4 > m) m = $4 } END { print m }' "$work/samples")
[ "$kids_max" -le 9 ] || fail "child processes leaked ($kids0 at first, up to $kids_max)"
# Before about 100 rounds the views are still filling at full speed: too
# early to tell settling from a leak.
if [ "$round" -ge 100 ]; then
    [ "$grow_last" -le $((grow_first / 2 + 64)) ] || fail "host mappings keep growing"
else
    echo "soak: mappings not judged: $round rounds (100 or more needed)"
fi
sleep 0.2
left=$(pgrep -P "$pid" 2>/dev/null || true)
[ -z "$left" ] || fail "processes of the VM left behind: $left"
new=$(comm -13 <(echo "$shm_before") <(ls -A /dev/shm 2>/dev/null | sort) | grep -E "btvmm|$pid" || true)
[ -z "$new" ] || fail "left behind in /dev/shm: $new"
[ -z "$(ls -A "$work/tmp")" ] || fail "left behind in its TMPDIR: $(ls -A "$work/tmp")"
[ ! -e "/tmp/perf-$pid.map" ] || fail "left /tmp/perf-$pid.map behind"
echo "soak: ok"
