/* hostdriver: host signal handling for faults in translated code and stops. */
#define _GNU_SOURCE
#include "hostdriver.h"
#include "invariant.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

/*
 * NB: this file is compiled without the stack protector and sanitizers:
 * the handlers run on the alternate stack while host RSP may point into
 * guest memory. The FS base (the monitor's TLS) never changes while
 * translated code runs, so the handlers may use libc; GS holds the current
 * view's window (hd_set_view_base), which no C code here reads.
 */

static hd_fault_fn fault_fn;
static hd_crash_fn crash_fn;
static void (*stop_fn)(int);

bool hd_fsgsbase(void)
{
	static int known, have;
	if (!known) {
		have = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
		known = 1;
	}
	return have;
}

int hd_set_view_base(uint64_t base)
{
	if (hd_fsgsbase()) {
		__asm__ volatile("wrgsbase %0" ::"r"(base) : "memory");
		return 0;
	}
	return syscall(SYS_arch_prctl, ARCH_SET_GS, base) ? -errno : 0;
}

/* The frame's slot for each of struct hd_fault's general registers. */
static const int greg_of[HD_GPRS] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void describe(struct hd_fault *f, int signo, const siginfo_t *info,
		     const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	f->signo = signo;
	f->code = info->si_code;
	f->addr = (uint64_t)info->si_addr;
	f->trapno = (uint32_t)g[REG_TRAPNO];
	f->err = (uint64_t)g[REG_ERR];
	for (int r = 0; r < HD_GPRS; r++)
		f->gpr[r] = (uint64_t)g[greg_of[r]];
	f->rip = (uint64_t)g[REG_RIP];
	f->rflags = (uint64_t)g[REG_EFL];
}

static void redirect(ucontext_t *uc, const struct hd_fault *f)
{
	greg_t *g = uc->uc_mcontext.gregs;
	for (int r = 0; r < HD_GPRS; r++)
		g[greg_of[r]] = (greg_t)f->gpr[r];
	g[REG_RIP] = (greg_t)f->rip;
	g[REG_EFL] = (greg_t)f->rflags;
}

static _Noreturn void die_on(const struct hd_fault *f)
{
	if (crash_fn)
		crash_fn(f);
	_exit(HD_EXIT_BUG); /* from a signal handler: no atexit, no stdio */
}

static void on_fault(int signo, siginfo_t *info, void *ctx)
{
	int saved_errno = errno;
	ucontext_t *uc = ctx;
	struct hd_fault f;
	describe(&f, signo, info, uc);
	switch (fault_fn ? fault_fn(&f) : HD_FAULT_FATAL) {
	case HD_FAULT_RESUME:
		break;
	case HD_FAULT_REDIRECT:
		redirect(uc, &f);
		break;
	case HD_FAULT_FATAL:
		die_on(&f);
	}
	errno = saved_errno;
}

static void (*extra_fn[65])(int);

static void on_extra(int signo, siginfo_t *info, void *ctx)
{
	(void)info;
	(void)ctx;
	int saved_errno = errno;
	if (signo > 0 && signo < 65 && extra_fn[signo])
		extra_fn[signo](signo);
	errno = saved_errno;
}

static void on_stop(int signo, siginfo_t *info, void *ctx)
{
	int saved_errno = errno;
	if (stop_fn)
		stop_fn(signo);
	errno = saved_errno;
}

static int alt_stack(void)
{
	static bool done;
	if (done)
		return 0;
	size_t len = 256 * 1024;
	void *p = hd_alloc(len);
	if (!p)
		return -ENOMEM;
	stack_t ss = { .ss_sp = p, .ss_size = len, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL))
		return -errno;
	done = true;
	return 0;
}

static int install(int signo, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigdelset(&sa.sa_mask, SIGSEGV);
	sigdelset(&sa.sa_mask, SIGBUS);
	sigdelset(&sa.sa_mask, SIGILL);
	sigdelset(&sa.sa_mask, SIGFPE);
	sigdelset(&sa.sa_mask, SIGTRAP);
	return sigaction(signo, &sa, NULL) ? -errno : 0;
}

int hd_faults_install(hd_fault_fn fault, hd_crash_fn crash)
{
	fault_fn = fault;
	crash_fn = crash;
	int r = alt_stack();
	if (r)
		return r;
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if ((r = install(sigs[i], on_fault)))
			return r;
	return 0;
}

int hd_signal_install(int signo, void (*fn)(int signo))
{
	if (signo <= 0 || signo >= 65)
		return -EINVAL;
	int r = alt_stack();
	if (r)
		return r;
	extra_fn[signo] = fn;
	return install(signo, on_extra);
}

int hd_stop_signals_install(void (*fn)(int signo))
{
	stop_fn = fn;
	int r = alt_stack();
	if (r)
		return r;
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if ((r = install(sigs[i], on_stop)))
			return r;
	return 0;
}
