/* hostdriver: host signal handling for faults in translated code and stops. */
#define _GNU_SOURCE
#include "hostdriver.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

/*
 * NB: this file is compiled without the stack protector and sanitizers: the
 * handler's first instructions run with the guest's FS base live, and both
 * read %fs. Nothing here may touch TLS (errno included) before set_fsbase.
 */

static uint64_t host_fsbase;   /* the monitor's FS base: not in TLS */
static hd_fault_fn fault_fn;
static hd_crash_fn crash_fn;
static void (*stop_fn)(int);

/*
 * Translated code changes the FS base only on hosts that let user code do
 * so (FSGSBASE; see bt_config.host_seg_bases). Elsewhere the FS base is
 * always the monitor's and the instructions would raise #UD -- or, under
 * some hypervisors, work without the kernel preserving the value across
 * context switches -- so they are never used there.
 */
static bool fsgsbase;

bool hd_fsgsbase(void)
{
	static int known;
	if (!known) {
		fsgsbase = getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE;
		known = 1;
	}
	return fsgsbase;
}

static inline uint64_t get_fsbase(void)
{
	uint64_t v = 0;
	if (fsgsbase)
		__asm__ volatile("rdfsbase %0" : "=r"(v));
	return v;
}

static inline void set_fsbase(uint64_t v)
{
	if (fsgsbase)
		__asm__ volatile("wrfsbase %0" ::"r"(v) : "memory");
}

uint64_t hd_host_fsbase(void)
{
	return host_fsbase;
}

static void die_on(int signo, siginfo_t *info, ucontext_t *uc)
{
	if (crash_fn)
		crash_fn(signo, info, uc);
	signal(SIGABRT, SIG_DFL);
	abort();
}

static void on_fault(int signo, siginfo_t *info, void *ctx)
{
	uint64_t live_fs = get_fsbase();
	set_fsbase(host_fsbase);
	int saved_errno = errno;
	ucontext_t *uc = ctx;
	enum hd_fault_action a = fault_fn ? fault_fn(signo, info, uc)
					  : HD_FAULT_FATAL;
	if (a == HD_FAULT_FATAL)
		die_on(signo, info, uc);
	errno = saved_errno;
	if (a == HD_FAULT_RESUME)
		set_fsbase(live_fs);
}

static void (*extra_fn[65])(int);

static void on_extra(int signo, siginfo_t *info, void *ctx)
{
	(void)info;
	(void)ctx;
	uint64_t live_fs = get_fsbase();
	set_fsbase(host_fsbase);
	int saved_errno = errno;
	if (signo > 0 && signo < 65 && extra_fn[signo])
		extra_fn[signo](signo);
	errno = saved_errno;
	set_fsbase(live_fs);
}

static void on_stop(int signo, siginfo_t *info, void *ctx)
{
	uint64_t live_fs = get_fsbase();
	set_fsbase(host_fsbase);
	int saved_errno = errno;
	if (stop_fn)
		stop_fn(signo);
	errno = saved_errno;
	set_fsbase(live_fs);
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
	hd_fsgsbase();
	host_fsbase = get_fsbase();
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
	hd_fsgsbase();
	if (!host_fsbase)
		host_fsbase = get_fsbase();
	int r = alt_stack();
	if (r)
		return r;
	extra_fn[signo] = fn;
	return install(signo, on_extra);
}

int hd_stop_signals_install(void (*fn)(int signo))
{
	hd_fsgsbase();
	if (!host_fsbase)
		host_fsbase = get_fsbase();
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
