/* hostdriver: the user-world stub: a process that runs guest ring-3 code natively and nothing else. */
/*
 * Built freestanding as a static PIE (no libc, no TLS, nothing in the low
 * 4 GiB): guest code owns [0, 4 GiB) of this process. Started by the
 * monitor with the guest-RAM memfd as fd 3 and the shared control page as
 * fd 4 (uw_shared.h).
 *
 * Life cycle: main sets up the LDT, signal handlers and the alternate
 * stack, then raises SIGUSR1. From then on the stub only ever runs inside
 * its signal handler: the first entry installs the seccomp filter and
 * reports READY; every later entry is a trap out of guest code. The
 * handler publishes the guest state, waits for the monitor's next command,
 * and returns into the guest with sigreturn (which switches to the 32-bit
 * code segment the stub set up).
 *
 * What escaped guest code could still do (it can far-jump to the 64-bit
 * code segment): only the calls the seccomp filter allows this process,
 * with the arguments the stub itself uses (uw_filter.h), and only from the
 * stub's text: wait on or wake the turn word, write an LDT entry, map a
 * guest page or unmap below 4 GiB, return from the signal, exit. So it
 * could map any guest page, kernel pages included, into its own process
 * (the guest's own memory; the monitor is not reachable), or burn its CPU.
 * docs/security.md has the whole threat model.
 */
#define _GNU_SOURCE /* REG_* names of the signal context */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asm/ldt.h>
#include <asm/unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ucontext.h>

#include "uw_filter.h"
#include "uw_shared.h"

#define PROT_NONE_ 0
#define PROT_READ_ 1
#define PROT_WRITE_ 2
#define PROT_EXEC_ 4
#define MAP_SHARED_ 0x01
#define MAP_PRIVATE_ 0x02
#define MAP_FIXED_ 0x10
#define MAP_ANONYMOUS_ 0x20
#define MAP_NORESERVE_ 0x4000
#define PR_SET_NO_NEW_PRIVS_ 38
#define PR_SET_PDEATHSIG_ 1
#define UC_SIGCONTEXT_SS_ 0x2
#define UC_STRICT_RESTORE_SS_ 0x4
#define SA_RESTORER_ 0x04000000

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

static __attribute__((noreturn)) void die(int code)
{
	for (;;)
		sys3(__NR_exit_group, code, 0, 0);
}

static struct uw_shared *sh;
static int started;
static uint32_t cur_fs_base = ~0u, cur_gs_base = ~0u;

static void *mmap_(void *addr, uint64_t len, int prot, int flags, int fd, uint64_t off)
{
	return (void *)sys6(__NR_mmap, (long)addr, (long)len, prot, flags, fd, (long)off);
}

static int set_ldt(unsigned entry, uint32_t base, int code)
{
	struct user_desc d = {
		.entry_number = entry, .base_addr = base, .limit = 0xfffff,
		.seg_32bit = 1, .contents = code ? 2 : 0, .read_exec_only = 0,
		.limit_in_pages = 1, .seg_not_present = 0, .useable = 1,
	};
	return (int)sys3(__NR_modify_ldt, 1, &d, sizeof d);
}

static void copy(void *d, const void *s, size_t n)
{
	uint8_t *dd = d;
	const uint8_t *ss = s;
	while (n--)
		*dd++ = *ss++;
}

static bool same(const void *a, const void *b, size_t n)
{
	const uint64_t *x = a, *y = b;
	uint64_t diff = 0;
	for (size_t i = 0; i < n / 8; i++)
		diff |= x[i] ^ y[i];
	return !diff;
}

/* The FP image this process last loaded into a signal frame (or found in
 * one): see fx_same in uw_shared.h. */
static uint8_t last_fx[512] __attribute__((aligned(64)));

extern const char __executable_start[], etext[];

static void install_filter(void)
{
	/* x86-64 system calls only from the stub's own text: escaped guest
	 * code that executes `syscall` itself is killed outright. Then each
	 * call the stub makes, with its arguments (uw_filter.h). */
	uint64_t lo = (uint64_t)__executable_start, hi = (uint64_t)etext;
	if ((lo >> 32) != (hi >> 32))
		die(107);
	struct sock_filter ip[] = {
		UW_LD(offsetof(struct seccomp_data, arch)),
		UW_JEQ(AUDIT_ARCH_X86_64, 0, 6),
		UW_LD(offsetof(struct seccomp_data, instruction_pointer) + 4),
		UW_JEQ((uint32_t)(lo >> 32), 0, 3),
		UW_LD(offsetof(struct seccomp_data, instruction_pointer)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)lo, 0, 1),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)hi, 0, 1),
		UW_KILL,
	};
	enum { N_IP = sizeof ip / sizeof ip[0] };
	static struct sock_filter all[N_IP + UW_FILTER_MAX];
	copy(all, ip, sizeof ip);
	unsigned n = uw_filter_build(all + N_IP, (uint64_t)&sh->turn);
	if (!n)
		die(101);
	struct sock_fprog prog = { .len = (unsigned short)(N_IP + n), .filter = all };
	if (sys3(__NR_prctl, PR_SET_NO_NEW_PRIVS_, 1, 0) ||
	    sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		die(101);
}

/* Give the turn to the monitor, waking it only if it went to sleep. */
static void give_turn(void)
{
	__atomic_store_n(&sh->turn, UW_TURN_MONITOR, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&sh->monitor_sleeps, __ATOMIC_SEQ_CST))
		sys6(__NR_futex, (long)&sh->turn, FUTEX_WAKE, 1, 0, 0, 0);
}

/* Wait for the monitor's turn to end: spin briefly (a cross-core wakeup
 * is far dearer here), then sleep on the futex. */
static void wait_turn(void)
{
	for (uint32_t i = 0; i < sh->spins; i++) {
		if (__atomic_load_n(&sh->turn, __ATOMIC_ACQUIRE) == UW_TURN_WORLD)
			return;
		__builtin_ia32_pause();
	}
	__atomic_store_n(&sh->world_sleeps, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&sh->turn, __ATOMIC_SEQ_CST) != UW_TURN_WORLD)
		sys6(__NR_futex, (long)&sh->turn, FUTEX_WAIT, UW_TURN_MONITOR, 0, 0, 0);
	__atomic_store_n(&sh->world_sleeps, 0, __ATOMIC_RELAXED);
}

static void apply_maps(void)
{
	uint32_t n = sh->n_maps < UW_MAX_MAPS ? sh->n_maps : UW_MAX_MAPS;
	for (uint32_t i = 0; i < n; i++) {
		struct uw_map m = sh->maps[i];
		uint64_t len = (uint64_t)m.pages << 12;
		if ((uint64_t)m.linear + len > (1ull << 32) || m.linear < UW_MIN_LINEAR) {
			sh->stub_errors++;
			continue;
		}
		void *r;
		if (m.prot == 0)
			r = mmap_((void *)(uint64_t)m.linear, len, PROT_NONE_,
				  MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_FIXED_ | MAP_NORESERVE_, -1, 0);
		else
			r = mmap_((void *)(uint64_t)m.linear, len,
				  /* no NX in the virtual CPU: readable is executable */
				  PROT_EXEC_ | (m.prot & 2 ? PROT_READ_ | PROT_WRITE_ : PROT_READ_),
				  MAP_SHARED_ | MAP_FIXED_, UW_FD_RAM, (uint64_t)m.frame << 12);
		if ((uint64_t)r != m.linear)
			sh->stub_errors++;
	}
	sh->n_maps = 0;
}


/* The guest state for sigreturn; false if it is not acceptable. */
static int load_guest(ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	static const int regs[8] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX,
				     REG_RSP, REG_RBP, REG_RSI, REG_RDI };
	const struct uw_regs *r = &sh->regs;
	for (int i = 0; i < 8; i++)
		g[regs[i]] = (greg_t)r->gpr[i];
	for (int i = REG_R8; i <= REG_R15; i++)
		g[i] = 0; /* nothing of the stub reaches the guest */
	g[REG_RIP] = (greg_t)r->eip;
	/* CF PF AF ZF SF TF DF OF AC ID, with IF set and IOPL 0. */
	g[REG_EFL] = (greg_t)((r->eflags & 0x240dd5u) | 0x202u);
	/* CS and SS come from the signal context; DS and ES were loaded
	 * once and stay; FS and GS are loaded here (sigreturn keeps them). */
	g[REG_CSGSFS] = (greg_t)((uint64_t)UW_SEL_CODE | (uint64_t)UW_SEL_DATA << 48);
	uc->uc_flags |= UC_SIGCONTEXT_SS_ | UC_STRICT_RESTORE_SS_;
	if (r->fs_base != cur_fs_base) {
		if (set_ldt(UW_SEL_FS >> 3, r->fs_base, 0))
			return 0;
		cur_fs_base = r->fs_base;
	}
	if (r->gs_base != cur_gs_base) {
		if (set_ldt(UW_SEL_GS >> 3, r->gs_base, 0))
			return 0;
		cur_gs_base = r->gs_base;
	}
	__asm__ volatile("mov %0, %%ds\n\tmov %0, %%es\n\t"
			 "mov %1, %%fs\n\tmov %2, %%gs"
			 ::"r"(UW_SEL_DATA), "r"(UW_SEL_FS), "r"(UW_SEL_GS));
	if (uc->uc_mcontext.fpregs && !(sh->fx_same & UW_FX_TO_WORLD)) {
		copy(uc->uc_mcontext.fpregs, sh->fx, 512);
		copy(last_fx, sh->fx, 512);
	}
	return 1;
}

static void store_guest(int sig, const siginfo_t *si, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	static const int regs[8] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX,
				     REG_RSP, REG_RBP, REG_RSI, REG_RDI };
	struct uw_regs *r = &sh->regs;
	for (int i = 0; i < 8; i++)
		r->gpr[i] = (uint32_t)g[regs[i]];
	r->eip = (uint32_t)g[REG_RIP];
	r->eflags = (uint32_t)g[REG_EFL];
	/* The facts only; hd_uw_decode (in the monitor) says what they mean. */
	struct uw_trap *t = &sh->trap;
	t->sig = (uint32_t)sig;
	t->cs = (uint32_t)(g[REG_CSGSFS] & 0xffff);
	t->trapno = (uint32_t)g[REG_TRAPNO];
	t->err = (uint32_t)g[REG_ERR];
	t->rip = (uint64_t)g[REG_RIP];
	t->rsp = (uint64_t)g[REG_RSP];
	t->rcx = (uint64_t)g[REG_RCX];
	t->addr = (uint64_t)si->si_addr;
	t->call_addr = sig == SIGSYS ? (uint64_t)si->si_call_addr : 0;
	t->arch = sig == SIGSYS ? si->si_arch : 0;
	t->nr = sig == SIGSYS ? (uint32_t)si->si_syscall : 0;
	t->wide = 0;
	for (int i = REG_R8; i <= REG_R15; i++)
		if (i != REG_R11)
			t->wide |= (uint64_t)g[i];
	t->sent = si->si_code <= 0;
	t->pid = t->sent ? (uint32_t)si->si_pid : 0;
	sh->event = UW_EV_SIGNAL;
	/* The kernel leaves the data segment registers alone on the way
	 * into this handler: they show what ring-3 code loaded. */
	uint16_t ds, es, fs, gs;
	__asm__ volatile("mov %%ds, %0\n\tmov %%es, %1\n\tmov %%fs, %2\n\tmov %%gs, %3"
			 : "=r"(ds), "=r"(es), "=r"(fs), "=r"(gs));
	sh->sel[UW_DS] = ds;
	sh->sel[UW_ES] = es;
	sh->sel[UW_FS] = fs;
	sh->sel[UW_GS] = gs;
	/* The frame holds the FP state at the trap; last_fx what was loaded. */
	sh->fx_same = 0;
	if (uc->uc_mcontext.fpregs) {
		if (same(uc->uc_mcontext.fpregs, last_fx, 512)) {
			sh->fx_same = UW_FX_TO_MONITOR;
		} else {
			copy(sh->fx, uc->uc_mcontext.fpregs, 512);
			copy(last_fx, uc->uc_mcontext.fpregs, 512);
		}
	}
}

static uint64_t resumed_tsc; /* when guest code was last entered */

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	sh->ran_tsc = resumed_tsc ? __builtin_ia32_rdtsc() - resumed_tsc : 0;
	if (!started) {
		started = 1;
		install_filter();
		sh->event = UW_EV_READY;
	} else {
		store_guest(sig, si, uc);
	}
	for (;;) {
		give_turn();
		wait_turn();
		apply_maps();
		if (sh->cmd == UW_CMD_EXIT)
			die(0);
		if (sh->cmd != UW_CMD_RUN) {
			sh->event = UW_EV_MAPPED;
			continue;
		}
		if (load_guest(uc)) {
			resumed_tsc = __builtin_ia32_rdtsc();
			return;
		}
		sh->event = UW_EV_BAD_STATE;
	}
}

/* The kernel's sigaction, and the sigreturn trampoline libc would give. */
struct k_sigaction {
	union {
		void (*handler)(int, siginfo_t *, void *);
		void (*plain)(int); /* SIG_IGN */
	};
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};
void uw_restorer(void);
__asm__(".text\n.globl uw_restorer\nuw_restorer:\n\tmov $15, %eax\n\tsyscall\n\thlt\n");

static uint8_t alt_stack[64 * 1024] __attribute__((aligned(16)));

void uw_main(void);
void uw_main(void)
{
	/* Never outlive the monitor (even if it is killed outright). */
	long parent = sys3(__NR_getppid, 0, 0, 0);
	sys3(__NR_prctl, PR_SET_PDEATHSIG_, SIGKILL, 0);
	if (parent == 1 || sys3(__NR_getppid, 0, 0, 0) != parent)
		die(108);
	sh = mmap_(0, UW_SHARED_SIZE, PROT_READ_ | PROT_WRITE_, MAP_SHARED_, UW_FD_SHARED, 0);
	if ((int64_t)sh < 0 && (int64_t)sh > -4096)
		die(102);
	/* Keep the guest's space free of anything else. */
	mmap_((void *)UW_MIN_LINEAR, (1ull << 32) - UW_MIN_LINEAR, PROT_NONE_,
	      MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_FIXED_ | MAP_NORESERVE_, -1, 0);
	if (set_ldt(UW_SEL_CODE >> 3, 0, 1) || set_ldt(UW_SEL_DATA >> 3, 0, 0))
		die(103);
	__asm__ volatile("mov %0, %%ds\n\tmov %0, %%es" ::"r"(UW_SEL_DATA));
	stack_t ss = { .ss_sp = alt_stack, .ss_size = sizeof alt_stack };
	if (sys3(__NR_sigaltstack, &ss, 0, 0))
		die(104);
	/* What an operator sends the whole process group (Ctrl-C,
	 * timeout(1)) is the monitor's to act on: it ends the VM and this
	 * process with it. */
	static const int ignored[] = { SIGINT, SIGTERM, SIGHUP };
	for (unsigned i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
		struct k_sigaction ign = { .plain = SIG_IGN };
		if (sys6(__NR_rt_sigaction, ignored[i], (long)&ign, 0, 8, 0, 0))
			die(105);
	}
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGUSR1 };
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct k_sigaction sa = {
			.handler = on_signal,
			.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER_,
			.restorer = uw_restorer,
			.mask = ~0ull,
		};
		if (sys6(__NR_rt_sigaction, sigs[i], (long)&sa, 0, 8, 0, 0))
			die(105);
	}
	sys3(__NR_tgkill, sys3(__NR_getpid, 0, 0, 0), sys3(__NR_gettid, 0, 0, 0), SIGUSR1);
	die(106); /* not reached: the handler never returns here */
}

__asm__(".text\n.globl _start\n_start:\n\txor %ebp, %ebp\n\tand $-16, %rsp\n\tcall uw_main\n\thlt\n");
