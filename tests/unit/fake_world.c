/* A stand-in for the user-world stub that speaks its protocol but reports what the real stub never would (for test_uw_reports). */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uw_shared.h"

/*
 * Started by hd_uworld_spawn in place of btvmm-userworld (fd 4: the shared
 * page). It reports ready, then answers the n-th RUN with the n-th report
 * of the script below; MAP commands are acknowledged. Nothing here runs
 * guest code: it stands for a user world whose stub code escaped code
 * has replaced or called.
 */

static struct uw_shared *sh;

static void give_turn(void)
{
	__atomic_store_n(&sh->turn, UW_TURN_MONITOR, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&sh->monitor_sleeps, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &sh->turn, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void wait_turn(void)
{
	__atomic_store_n(&sh->world_sleeps, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&sh->turn, __ATOMIC_SEQ_CST) != UW_TURN_WORLD)
		syscall(SYS_futex, &sh->turn, FUTEX_WAIT, UW_TURN_MONITOR, NULL, NULL, 0);
	__atomic_store_n(&sh->world_sleeps, 0, __ATOMIC_RELAXED);
}

/* The report for step n: a preemption in the guest's segment, then one
 * broken thing each (the order test_uw_reports expects). */
static void report(unsigned n)
{
	memset(&sh->trap, 0, sizeof sh->trap);
	memset(sh->fx, 0, sizeof sh->fx);
	sh->trap.sig = SIGUSR1;
	sh->trap.cs = UW_SEL_CODE;
	sh->trap.rip = sh->regs.eip;
	sh->event = UW_EV_SIGNAL;
	sh->fx_same = 0;
	switch (n) {
	case 0: /* as the stub reports a preemption */
		break;
	case 1: /* MXCSR with reserved bits: FXRSTOR would fault on it */
		memset(sh->fx + 24, 0xff, 4);
		break;
	case 2:
		sh->event = 77;
		break;
	case 3:
		sh->fx_same = 0x80;
		break;
	case 4:
		sh->stub_errors++;
		break;
	case 5: /* kill -SEGV from process 1234 */
		sh->trap.sig = SIGSEGV;
		sh->trap.sent = 1;
		sh->trap.pid = 1234;
		break;
	case 6: /* back from 64-bit code, R8 left set */
		sh->trap.wide = 1;
		break;
	default: /* killed from outside */
		kill(getpid(), SIGKILL);
		break;
	}
}

int main(void)
{
	sh = mmap(NULL, UW_SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, UW_FD_SHARED, 0);
	if (sh == MAP_FAILED)
		return 1;
	sh->event = UW_EV_READY;
	give_turn();
	for (unsigned n = 0;;) {
		wait_turn();
		if (sh->cmd == UW_CMD_EXIT)
			return 0;
		if (sh->cmd == UW_CMD_RUN)
			report(n++);
		else
			sh->event = UW_EV_MAPPED;
		sh->n_maps = 0;
		give_turn();
	}
}
