/* hostdriver: probes of what the host offers btvmm (btvmm --check-host, the --de fallback). */
#define _GNU_SOURCE
#include "hostdriver.h"

#include <asm/ldt.h>
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The risky probes (seccomp, compat mode) run in a forked child, so that
 * whatever they do to a process -- a filter that cannot be removed, an LDT,
 * a fault the kernel handles badly -- stays in that child. The child
 * reports an outcome by its exit status and, for a failed system call,
 * which call and its errno through a pipe. The parent never waits longer than PROBE_TIMEOUT_MS
 * (a child stuck in a fault loop is killed).
 */
#define PROBE_TIMEOUT_MS 2000

/* Child exit statuses of the probes (0 = the capability works). */
enum probe_outcome {
	PROBE_OK = 0,
	PROBE_SYSCALL_FAILED = 1, /* enum probe_call and errno follow in the pipe */
	PROBE_ES_FAULT = 2,       /* loading LDT data selector 0x0f faulted */
	PROBE_FARRET_FAULT = 3,   /* the far return to 0x07 faulted */
	PROBE_WRONG_CS = 4,       /* SIGILL, but not from CS 0x07 */
	PROBE_OTHER_FAULT = 5,    /* a fault at no step we know of */
	PROBE_FORK_FAILED = 100,  /* parent-side outcomes, never exit statuses */
	PROBE_KILLED,
	PROBE_TIMEOUT,
};

/* The selectors uw_stub.c uses (uw_shared.h): LDT entry 0 code, entry 1
 * data, RPL 3. */
#define PROBE_SEL_CODE 0x07
#define PROBE_SEL_DATA 0x0f

/* The calls a probe child makes, for the parent's message. */
enum probe_call { CALL_PRCTL, CALL_SECCOMP, CALL_SIGALTSTACK, CALL_SIGACTION, CALL_MMAP,
		  CALL_MPROTECT, CALL_MODIFY_LDT, CALL_COUNT };
static const char *const call_names[CALL_COUNT] = {
	"prctl", "seccomp(SECCOMP_SET_MODE_FILTER)", "sigaltstack", "sigaction",
	"mmap(MAP_32BIT)", "mprotect", "modify_ldt",
};

static int probe_pipe = -1; /* child side: where a failed call is reported */

/* In the child: report that `call` failed (with errno) and end. */
_Noreturn static void child_syscall_failed(enum probe_call call)
{
	int msg[2] = { (int)call, errno };
	if (write(probe_pipe, msg, sizeof msg) != (ssize_t)sizeof msg) {
		/* the parent then names no call: still "failed" */
	}
	_exit(PROBE_SYSCALL_FAILED);
}

/*
 * Run fn in a forked child. Return its outcome (enum probe_outcome); for
 * PROBE_SYSCALL_FAILED, *call is the call that failed (CALL_COUNT if
 * unknown) and *child_errno its errno; for PROBE_KILLED, *child_errno is
 * the signal that ended it; for PROBE_FORK_FAILED, the errno.
 */
static int run_probe(void (*fn)(void), int *call, int *child_errno)
{
	int fds[2];
	*child_errno = 0;
	*call = CALL_COUNT;
	if (pipe2(fds, O_CLOEXEC))
		return *child_errno = errno, PROBE_FORK_FAILED;
	fflush(NULL); /* nothing buffered may be written twice */
	pid_t pid = fork();
	if (pid < 0) {
		*child_errno = errno;
		close(fds[0]);
		close(fds[1]);
		return PROBE_FORK_FAILED;
	}
	if (pid == 0) {
		close(fds[0]);
		probe_pipe = fds[1];
		/* A probe that dies by a signal must not leave a core file. */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
			child_syscall_failed(CALL_PRCTL);
		fn();
		_exit(PROBE_OK);
	}
	close(fds[1]);
	int status = 0, outcome = PROBE_TIMEOUT;
	struct timespec tick = { 0, 1000000 };
	for (int waited = 0; waited <= PROBE_TIMEOUT_MS; waited++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			outcome = WIFEXITED(status) ? WEXITSTATUS(status) : PROBE_KILLED;
			break;
		}
		if (r < 0 && errno != EINTR) {
			outcome = PROBE_KILLED; /* the child is gone some other way */
			break;
		}
		nanosleep(&tick, NULL);
	}
	if (outcome == PROBE_TIMEOUT) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	} else if (outcome == PROBE_KILLED && WIFSIGNALED(status)) {
		*child_errno = WTERMSIG(status);
	} else if (outcome == PROBE_SYSCALL_FAILED) {
		int msg[2];
		if (read(fds[0], msg, sizeof msg) == (ssize_t)sizeof msg &&
		    msg[0] >= 0 && msg[0] < CALL_COUNT) {
			*call = msg[0];
			*child_errno = msg[1];
		}
	}
	close(fds[0]);
	return outcome;
}

/* ---- seccomp ---- */

/* In the child: install an allow-all filter, as the user world installs
 * its own (which needs no_new_privs, since btvmm is not privileged). */
static void probe_seccomp(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = 1, .filter = &allow };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		child_syscall_failed(CALL_PRCTL);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		child_syscall_failed(CALL_SECCOMP);
}

/* ---- 32-bit compatibility mode through an LDT code segment ---- */

enum compat_step { STEP_SETUP, STEP_LOAD_ES, STEP_FAR_RETURN };
static volatile sig_atomic_t compat_step;

/* In the child, on any fault: ud2 reached in compat mode from CS 0x07 is
 * the success; anything else says which step failed. */
static void compat_fault(int signo, siginfo_t *info, void *ctx)
{
	(void)info;
	const ucontext_t *uc = ctx;
	unsigned cs = (unsigned)(uc->uc_mcontext.gregs[REG_CSGSFS] & 0xffff);
	if (signo == SIGILL && cs == PROBE_SEL_CODE)
		_exit(PROBE_OK);
	if (compat_step == STEP_LOAD_ES)
		_exit(PROBE_ES_FAULT);
	if (compat_step == STEP_FAR_RETURN)
		_exit(cs == PROBE_SEL_CODE ? PROBE_WRONG_CS : PROBE_FARRET_FAULT);
	_exit(PROBE_OTHER_FAULT);
}

/* modify_ldt for one 32-bit, base-0, 4 GiB segment (DPL 3: LDT entries
 * made by modify_ldt always are), exactly as uw_stub.c's set_ldt. */
static int ldt_flat_segment(unsigned entry, bool code)
{
	struct user_desc d = {
		.entry_number = entry, .base_addr = 0, .limit = 0xfffff,
		.seg_32bit = 1, .contents = code ? 2 : 0, .read_exec_only = 0,
		.limit_in_pages = 1, .seg_not_present = 0, .useable = 1,
	};
	return (int)syscall(SYS_modify_ldt, 1, &d, sizeof d);
}

/* In the child: LDT code and data segments, ES loaded with the data
 * selector, a far return into 32-bit code at a low address that is a ud2. */
static void probe_compat(void)
{
	static uint8_t altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
	/* In compat mode only ESP's low half counts: signals go to a
	 * stack we know. */
	if (sigaltstack(&ss, NULL))
		child_syscall_failed(CALL_SIGALTSTACK);
	struct sigaction sa = { .sa_sigaction = compat_fault,
				.sa_flags = SA_SIGINFO | SA_ONSTACK };
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGILL, SIGSEGV, SIGBUS, SIGTRAP, SIGFPE };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaction(sigs[i], &sa, NULL))
			child_syscall_failed(CALL_SIGACTION);
	/* 32-bit code runs below 4 GiB: MAP_32BIT gives [1, 2) GiB. */
	uint8_t *code = mmap(NULL, HD_PAGE_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (code == MAP_FAILED)
		child_syscall_failed(CALL_MMAP);
	code[0] = 0x0f, code[1] = 0x0b; /* ud2 */
	if (mprotect(code, HD_PAGE_SIZE, PROT_READ | PROT_EXEC))
		child_syscall_failed(CALL_MPROTECT);
	if (ldt_flat_segment(PROBE_SEL_CODE >> 3, true) ||
	    ldt_flat_segment(PROBE_SEL_DATA >> 3, false))
		child_syscall_failed(CALL_MODIFY_LDT);
	compat_step = STEP_LOAD_ES;
	__asm__ volatile("mov %0, %%es" ::"r"(PROBE_SEL_DATA) : "memory");
	compat_step = STEP_FAR_RETURN;
	/* Never returns: compat_fault ends the child. */
	__asm__ volatile("pushq %0\n\tpushq %1\n\tlretq"
			 ::"r"((uint64_t)PROBE_SEL_CODE), "r"((uint64_t)(uintptr_t)code)
			 : "memory");
	__builtin_unreachable();
}

/* The reason a failed probe gives, one clause. */
static void probe_reason(int outcome, int call, int e, char *out, size_t len)
{
	switch (outcome) {
	case PROBE_SYSCALL_FAILED:
		if (call < CALL_COUNT)
			snprintf(out, len, "%s failed: %s", call_names[call], strerror(e));
		else
			snprintf(out, len, "a system call of the probe failed");
		break;
	case PROBE_ES_FAULT:
		snprintf(out, len, "loading LDT data selector 0x0f raised a fault");
		break;
	case PROBE_FARRET_FAULT:
		snprintf(out, len, "a far return to LDT code selector 0x07 raised a fault");
		break;
	case PROBE_WRONG_CS:
		snprintf(out, len, "32-bit code at selector 0x07 faulted other than on its ud2");
		break;
	case PROBE_FORK_FAILED:
		snprintf(out, len, "cannot start the probe process: %s", strerror(e));
		break;
	case PROBE_KILLED:
		snprintf(out, len, "the probe process died (signal %d)", e);
		break;
	case PROBE_TIMEOUT:
		snprintf(out, len, "the probe process hung (killed after %d ms)",
			 PROBE_TIMEOUT_MS);
		break;
	default:
		snprintf(out, len, "the probe process ended with an unexpected fault (%d)",
			 outcome);
		break;
	}
}

bool hd_compat_mode_works(char *why, size_t whylen)
{
	static int known; /* 0: not probed, 1: works, -1: does not */
	static char reason[192];
	if (!known) {
		int call, e;
		int outcome = run_probe(probe_compat, &call, &e);
		known = outcome == PROBE_OK ? 1 : -1;
		if (known < 0)
			probe_reason(outcome, call, e, reason, sizeof reason);
	}
	if (known < 0 && why && whylen)
		snprintf(why, whylen, "%s", reason);
	return known > 0;
}

/* ---- The other items ---- */

/* Read one number from a /proc/sys file. */
static bool read_sysctl(const char *path, unsigned long long *v)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fscanf(f, "%llu", v) == 1;
	fclose(f);
	return ok;
}

static void set_item(struct hd_check_item *it, const char *name, enum hd_check_status st,
		bool required, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void set_item(struct hd_check_item *it, const char *name, enum hd_check_status st,
		bool required, const char *fmt, ...)
{
	it->name = name;
	it->status = st;
	it->required = required;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof it->detail, fmt, ap);
	va_end(ap);
}

static void check_arch(struct hd_check_item *it)
{
	struct utsname u;
	if (uname(&u)) {
		set_item(it, "x86-64", HD_CHECK_MISSING, true, "uname failed: %s", strerror(errno));
		return;
	}
	if (strcmp(u.machine, "x86_64"))
		set_item(it, "x86-64", HD_CHECK_MISSING, true,
		    "the host is %s: btvmm needs an x86-64 Linux host", u.machine);
	else
		set_item(it, "x86-64", HD_CHECK_OK, true, "x86_64, Linux %s", u.release);
}

/* Guest RAM is a memfd mapped shared, inside an 8 GiB PROT_NONE reservation. */
static void check_memory(struct hd_check_item *it)
{
	const char *name = "memfd-mmap";
	int fd = memfd_create("btvmm-check", MFD_CLOEXEC);
	if (fd < 0) {
		set_item(it, name, HD_CHECK_MISSING, true, "memfd_create failed: %s (btvmm needs "
		    "Linux 3.17 or later)", strerror(errno));
		return;
	}
	void *p = MAP_FAILED;
	const char *step = "ftruncate";
	if (ftruncate(fd, HD_PAGE_SIZE) == 0) {
		step = "mmap of a memfd";
		p = mmap(NULL, HD_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	int e = errno;
	close(fd);
	if (p == MAP_FAILED) {
		set_item(it, name, HD_CHECK_MISSING, true, "%s failed: %s", step, strerror(e));
		return;
	}
	munmap(p, HD_PAGE_SIZE);
	p = mmap(NULL, HD_GUARD_END, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		set_item(it, name, HD_CHECK_MISSING, true, "cannot reserve 8 GiB of address space: "
		    "%s (raise the address-space limit: ulimit -v unlimited)", strerror(errno));
		return;
	}
	munmap(p, HD_GUARD_END);
	set_item(it, name, HD_CHECK_OK, true, "guest RAM as a shared memfd, 8 GiB of address "
	    "space reserved");
}

static void check_seccomp(struct hd_check_item *it)
{
	int call, e;
	int outcome = run_probe(probe_seccomp, &call, &e);
	if (outcome == PROBE_OK) {
		set_item(it, "seccomp", HD_CHECK_OK, true, "an unprivileged process can install "
		    "a seccomp filter (the user world's sandbox)");
		return;
	}
	char why[160];
	probe_reason(outcome, call, e, why, sizeof why);
	set_item(it, "seccomp", HD_CHECK_MISSING, true, "%s (btvmm needs a kernel with "
	    "CONFIG_SECCOMP_FILTER, and a container that allows seccomp(2))", why);
}

static void check_compat(struct hd_check_item *it)
{
	char why[192];
	if (hd_compat_mode_works(why, sizeof why))
		set_item(it, "compat-mode", HD_CHECK_OK, false, "32-bit code runs through LDT "
		    "segments: guest ring-3 code runs natively (direct execution)");
	else
		set_item(it, "compat-mode", HD_CHECK_MISSING, false, "guest ring-3 code will be "
		    "translated (--de off): %s; direct execution needs a host kernel that runs "
		    "32-bit code (e.g. CONFIG_IA32_EMULATION, not booted with ia32_emulation=0)", why);
}

static void check_fsgsbase(struct hd_check_item *it)
{
	/* HWCAP2_FSGSBASE: the kernel lets user code run WRFSBASE/WRGSBASE. */
	if (getauxval(AT_HWCAP2) & 2)
		set_item(it, "fsgsbase", HD_CHECK_OK, false, "usable from user mode: btvmm uses it "
		    "to switch views with one instruction");
	else
		set_item(it, "fsgsbase", HD_CHECK_WARN, false, "not usable from user mode: works, "
		    "but translated guest code then pays a system call (arch_prctl) whenever "
		    "it runs another guest process's ring 3 than last time; a Linux >= 5.9 "
		    "host on a CPU with FSGSBASE avoids it");
}

static void check_vendor(struct hd_check_item *it)
{
	unsigned a, b, c, d;
	char vendor[13] = "unknown";
	if (__get_cpuid(0, &a, &b, &c, &d)) {
		memcpy(vendor, &b, 4);
		memcpy(vendor + 4, &d, 4);
		memcpy(vendor + 8, &c, 4);
		vendor[12] = 0;
	}
	/* What SYSENTER and SYSCALL do when guest ring-3 code runs them in
	 * compat mode (direct execution); the user world handles both. */
	if (!strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine"))
		set_item(it, "cpu-vendor", HD_CHECK_INFO, false, "%s: in compat mode SYSENTER "
		    "raises #UD and SYSCALL enters the host's 32-bit system-call path "
		    "(btvmm handles both)", vendor);
	else
		set_item(it, "cpu-vendor", HD_CHECK_INFO, false, "%s: in compat mode SYSENTER "
		    "enters the host's vDSO path and SYSCALL raises #UD (btvmm handles both)",
		    vendor);
}

static void check_mmap_min_addr(struct hd_check_item *it)
{
	unsigned long long v;
	const char *name = "mmap-min-addr";
	if (!read_sysctl("/proc/sys/vm/mmap_min_addr", &v))
		set_item(it, name, HD_CHECK_INFO, false, "/proc/sys/vm/mmap_min_addr unreadable: "
		    "btvmm assumes 65536");
	else if (v <= 65536)
		set_item(it, name, HD_CHECK_OK, false, "%llu: guest pages below it are emulated", v);
	else if (v <= (1u << 20))
		set_item(it, name, HD_CHECK_INFO, false, "%llu: guest pages below it are emulated "
		    "(stock is 65536)", v);
	else
		set_item(it, name, HD_CHECK_WARN, false, "%llu: guest pages below it, kernel code "
		    "at 1 MiB included, are emulated, slowly (as root: sysctl -w "
		    "vm.mmap_min_addr=65536)", v);
}

static void check_map_count(struct hd_check_item *it)
{
	unsigned long long v;
	const char *name = "max-map-count";
	const char *how = "a larger value lets btvmm keep more shadow mappings before it "
			  "drops them (as root: sysctl -w vm.max_map_count=262144; btvmm "
			  "never changes it)";
	if (!read_sysctl("/proc/sys/vm/max_map_count", &v))
		set_item(it, name, HD_CHECK_INFO, false, "/proc/sys/vm/max_map_count unreadable; %s",
		    how);
	else if (v >= 262144)
		set_item(it, name, HD_CHECK_OK, false, "%llu: room for a shadow mapping of every "
		    "page of 1 GiB of guest RAM (btvmm never changes it)", v);
	else if (v >= 65530)
		set_item(it, name, HD_CHECK_OK, false, "%llu (stock: enough); %s", v, how);
	else
		set_item(it, name, HD_CHECK_WARN, false, "%llu, below the stock 65530: btvmm drops "
		    "shadow mappings often; %s", v, how);
}

/* --accel kvm: optional (btvmm's own engine needs no /dev/kvm). */
static void check_kvm(struct hd_check_item *it)
{
	char why[224];
	if (hd_kvm_probe(why, sizeof why))
		set_item(it, "kvm", HD_CHECK_OK, false, "/dev/kvm runs 32-bit guests with paging: "
		    "--accel kvm works");
	else
		set_item(it, "kvm", HD_CHECK_MISSING, false, "--accel kvm exits 10 here (the "
		    "default --accel bt needs no /dev/kvm): %s", why);
}

unsigned hd_host_check(struct hd_check_item items[HD_CHECK_ITEMS])
{
	void (*const checks[HD_CHECK_ITEMS])(struct hd_check_item *) = {
		check_arch, check_memory, check_seccomp, check_compat,
		check_fsgsbase, check_vendor, check_mmap_min_addr, check_map_count, check_kvm,
	};
	for (unsigned i = 0; i < HD_CHECK_ITEMS; i++)
		checks[i](&items[i]);
	return HD_CHECK_ITEMS;
}

const char *hd_check_status_name(enum hd_check_status st)
{
	switch (st) {
	case HD_CHECK_OK:
		return "ok";
	case HD_CHECK_INFO:
		return "info";
	case HD_CHECK_WARN:
		return "warn";
	case HD_CHECK_MISSING:
		return "missing";
	}
	return "?";
}
