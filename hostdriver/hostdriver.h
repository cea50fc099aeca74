/* hostdriver: everything btvmm asks of the host kernel (public header). */
#ifndef BTVMM_HOSTDRIVER_H
#define BTVMM_HOSTDRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

#include "x86.h"

/*
 * Host address-space plan (ARCHITECTURE.md §3):
 *
 *   0 .. HD_GUEST_SPACE        S-view: the guest's linear address space
 *   HD_GUEST_SPACE .. HD_GUARD_END
 *                              guard: PROT_NONE forever, so that a guest
 *                              FS/GS base plus a 32-bit offset (up to 8 GiB)
 *                              can never reach monitor memory
 *   HD_WINDOW(k), k < n        user views: 4 GiB windows, each followed by a
 *                              4 GiB guard, where translated CPL-3 code sees
 *                              the guest's user pages (hd_uworld_window)
 *   above HD_GUARD_END         the monitor: code, heap, stacks, TC, RAM view
 *                              (and above the windows: hd_windows_reserve
 *                              fails if anything is there)
 */
#define HD_GUEST_SPACE (1ull << 32)
#define HD_GUARD_END   (2ull << 32)
#define HD_PAGE_SIZE   4096u
/* Window k of the user views: a multiple of 4 GiB, so that a 64-bit
 * address window + x keeps x in its low half (string instructions rely
 * on it, bt/emit_ident.c). */
#define HD_MAX_WINDOWS 8
#define HD_WINDOW_SIZE (1ull << 32)
#define HD_WINDOW(k)   ((uint64_t)((k) + 1) << 33)

/* Host memory protections for guest views. */
enum hd_prot { HD_PROT_NONE = 0, HD_PROT_READ = 1, HD_PROT_RW = 3 };

/*
 * Reserve host [mmap_min_addr, HD_GUARD_END) and check that no monitor
 * mapping lies below HD_GUARD_END. Return 0, or -1 with a one-line reason in
 * err (ASan's shadow, a non-PIE build, or an address-space limit).
 */
int hd_reserve_guest_space(char *err, size_t errlen);

/* Lowest host address that can be mapped (vm.mmap_min_addr, page-rounded). */
uint64_t hd_mmap_min_addr(void);

/*
 * Guest RAM: a memfd of `size` bytes, also mapped read-write above the guard
 * for the monitor's own accesses (loader, emulator, devices): *phys receives
 * that mapping. Return the fd, or -1 with a reason in err.
 */
int hd_ram_create(uint64_t size, uint8_t **phys, char *err, size_t errlen);

/*
 * Map guest-RAM pages [offset, offset+len) of memfd `fd` at host address
 * `linear` (inside the reservation) with `prot`; HD_PROT_NONE unmaps back to
 * the reservation. `linear` and `len` are page-aligned; the part of the range
 * below mmap_min_addr is skipped. Return 0 or -errno. A small mapping is
 * populated at once (hd_populate): it is made because its pages are about
 * to be used, and the host's first-touch fault would cost more than the
 * population inside the same call.
 */
#define HD_POPULATE_MAX (64u * 1024)
int hd_populate(uint64_t len); /* MAP_POPULATE for mappings up to the above */
int hd_view_map(int fd, uint64_t offset, uint64_t linear, uint64_t len,
		enum hd_prot prot);
/* Change the protection of mapped view pages. Return 0 or -errno. */
int hd_view_protect(uint64_t linear, uint64_t len, enum hd_prot prot);

/* Anonymous memory above the guard: read-write, or read-write-execute for
 * the translation cache. NULL on failure. */
void *hd_alloc(size_t len);
void *hd_alloc_exec(size_t len);
void hd_free(void *p, size_t len);
/* Set one page of hd_alloc memory to PROT_NONE (false) or PROT_READ (true). */
int hd_page_set_readable(void *page, bool readable);

/*
 * Host faults and signals. btvmm's handler runs on an alternate stack, since
 * RSP holds the guest's ESP while translated code runs. The FS base is the
 * monitor's (its TLS) at all times, translated code included, so the
 * registered function may use libc.
 *
 * The function returns:
 *   HD_FAULT_RESUME   resume the interrupted code as it was
 *   HD_FAULT_REDIRECT the context was rewritten to resume in monitor code
 *   HD_FAULT_FATAL    not ours: print and die (a monitor bug)
 */
enum hd_fault_action { HD_FAULT_RESUME, HD_FAULT_REDIRECT, HD_FAULT_FATAL };

/* The interrupted context's general registers, in the x86 encoding order. */
enum { HD_RAX, HD_RCX, HD_RDX, HD_RBX, HD_RSP, HD_RBP, HD_RSI, HD_RDI,
       HD_R8, HD_R9, HD_R10, HD_R11, HD_R12, HD_R13, HD_R14, HD_R15, HD_GPRS };

/*
 * A host fault, as the host's signal frame describes it. The registers
 * are a copy of the interrupted context's: a function that returns
 * HD_FAULT_REDIRECT has rewritten them, and the context resumes with
 * them (HD_FAULT_RESUME leaves the context as it was).
 */
struct hd_fault {
	int signo;       /* the host signal: SIGSEGV, SIGFPE, ... */
	int code;        /* its si_code */
	uint64_t addr;   /* its si_addr: the faulting address or instruction */
	uint32_t trapno; /* the vector the host CPU raised (EXC_*) */
	uint64_t err;    /* its error code */
	uint64_t gpr[HD_GPRS];
	uint64_t rip, rflags;
};

typedef enum hd_fault_action (*hd_fault_fn)(struct hd_fault *f);
/* Called with a description of the crash before a fatal signal aborts. */
typedef void (*hd_crash_fn)(const struct hd_fault *f);

/*
 * The guest exception behind a host SIGFPE in guest code, translated or
 * in the user world: the host's trap number is the vector, #DE, #MF or
 * #XM; #DE stands for any other (a kernel that names none).
 */
static inline unsigned hd_fpe_vector(uint32_t trapno)
{
	return trapno == EXC_MF || trapno == EXC_XM ? trapno : EXC_DE;
}

/* Install handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP. */
int hd_faults_install(hd_fault_fn fault, hd_crash_fn crash);

/* Async stop requests (SIGINT, SIGTERM, SIGHUP): `fn` runs in the handler. */
int hd_stop_signals_install(void (*fn)(int signo));

/* Install `fn` for one more signal, with the same FS-base care. */
int hd_signal_install(int signo, void (*fn)(int signo));

/* The host timer (SIGALRM): `expired` runs in the signal handler. */
int hd_timer_init(void (*expired)(void));
/* Arm it for an absolute CLOCK_MONOTONIC deadline (UINT64_MAX: disarm). */
void hd_timer_arm(uint64_t deadline_ns);
/* Sleep until a CLOCK_MONOTONIC deadline, or until a signal arrives. */
void hd_sleep_until(uint64_t deadline_ns);
/* Wall-clock time: ns since the Unix epoch. */
uint64_t hd_realtime_ns(void);
/* The host TSC's rate in Hz, measured once against CLOCK_MONOTONIC over
 * about 10 ms (the first call sleeps that long). */
uint64_t hd_tsc_hz(void);

/* ---- The user world: guest ring-3 code run natively in its own process ---- */

#include "uw_shared.h"

struct hd_uworld;

/* What hd_uworld_run reports (a guest trap, classified; or the stub's death). */
enum hd_uw_result {
	HD_UW_FAULT = 1,   /* trapno, err, addr */
	HD_UW_SYSCALL,     /* a guest system call: insn says which (syscall_nr: EAX) */
	HD_UW_ILLEGAL,     /* #UD (insn: a fast system-call instruction, or OTHER) */
	HD_UW_FPE,         /* SIGFPE: trapno EXC_DE, EXC_MF or EXC_XM */
	HD_UW_TRAP,        /* #DB or #BP (trapno) */
	HD_UW_PREEMPT,     /* hd_uworld_preempt */
	HD_UW_ESCAPE,      /* left its code segment: end the VM (syscall_nr: its CS) */
	HD_UW_BAD_STATE,   /* the stub refused the state, or reported nonsense */
	HD_UW_FORGED,      /* a report that breaks the protocol (an unknown
			      event or signal, FP state no CPU saves, a
			      64-bit RIP in the 32-bit segment): only code
			      that left the guest's segment writes one */
	HD_UW_MAP_FAILED,  /* the stub could not map guest pages it was sent
			      (host mappings exhausted) */
	HD_UW_EXTERNAL,    /* a signal another process sent it (kill -SEGV ...):
			      no guest event (trapno: the signal, addr: its
			      sender's pid) */
	HD_UW_DEAD = 100,  /* the process is gone (hd_uworld_death says how) */
};

/* How a user world that hd_uworld_run found dead ended. */
enum hd_uw_death {
	HD_UW_DIED_SECCOMP,  /* killed by its seccomp filter: a host system call */
	HD_UW_DIED_FAULT,    /* killed by a fault signal inside the stub itself */
	HD_UW_DIED_EXITED,   /* exited by itself: only escaped code could */
	HD_UW_DIED_EXTERNAL, /* killed by another signal: sent from outside */
};

/* The fast system-call instruction behind an event (uw_decode.c). */
enum hd_uw_insn {
	HD_UW_INSN_OTHER,
	HD_UW_INSN_INT80,    /* int $0x80: EIP is past it */
	HD_UW_INSN_SYSENTER, /* EIP meaningless (SYSENTER keeps none) */
	HD_UW_INSN_SYSEXIT,  /* EIP at the instruction */
	HD_UW_INSN_SYSCALL,  /* EIP at the instruction */
	HD_UW_INSN_SYSRET,   /* EIP at the instruction */
};

/* What came with the event (untrusted: validate before use). */
struct hd_uw_event {
	uint32_t trapno, err, addr, syscall_nr;
	enum hd_uw_insn insn;
	uint64_t ran_tsc; /* TSC ticks guest code ran before this event */
	uint16_t sel[4]; /* DS ES FS GS found at the event (uw_shared.h) */
};

/* Read n bytes of guest code at a linear address (the guest's view, at
 * CPL 3); false if they are not there. */
typedef bool hd_code_reader(void *ctx, uint32_t linear, uint8_t *buf, unsigned n);

/*
 * Classify a trap the stub reported (uw_decode.c): which event, and for a
 * system-call instruction, which one, with *regs put back to the guest's
 * state where the host's entry path moved registers. Reads guest code
 * through `read`. Pure: unit-tested with both host vendors' shapes.
 */
enum hd_uw_result hd_uw_decode(const struct uw_trap *t, struct uw_regs *regs,
			       struct hd_uw_event *ev, hd_code_reader *read, void *ctx);

/*
 * Start a user world: exec `stub_path` with the RAM memfd, wait until it
 * reports ready. NULL with a reason in err.
 */
struct hd_uworld *hd_uworld_spawn(const char *stub_path, int ram_fd,
				  char *err, size_t errlen);
void hd_uworld_destroy(struct hd_uworld *w);

/* Queue a mapping of guest frames at a guest linear address in the
 * U-view (prot: HD_PROT_NONE unmaps); applied at the next run or flush. */
void hd_uworld_map(struct hd_uworld *w, uint32_t linear, uint32_t frame,
		   uint32_t pages, enum hd_prot prot);
/* Apply queued mappings now. False if the world died. */
bool hd_uworld_flush(struct hd_uworld *w);

/*
 * Run guest code from *regs (FP state from fx[512], FXSAVE layout) until
 * it traps; update *regs and fx with the state at the trap, and classify
 * the trap (hd_uw_decode, reading guest code through `read`).
 */
enum hd_uw_result hd_uworld_run(struct hd_uworld *w, struct uw_regs *regs,
				uint8_t fx[512], struct hd_uw_event *ev,
				hd_code_reader *read, void *ctx);

/* After HD_UW_DEAD: how it ended, and the signal or exit status. */
enum hd_uw_death hd_uworld_death(const struct hd_uworld *w, int *how);

/* Make a running world trap out (HD_UW_PREEMPT). Async-signal-safe. */
void hd_uworld_preempt(struct hd_uworld *w);
/*
 * Reserve the host range of windows 0..n-1 (PROT_NONE). Return 0, or -1
 * with a reason. Each window is then handed out by hd_uworld_window.
 */
int hd_windows_reserve(unsigned n, char *err, size_t errlen);
/*
 * A user view inside the monitor: window k, for translated CPL-3 code
 * (which reaches it through the host GS base, hd_set_view_base). It takes
 * hd_uworld_map (mappings made at once, unmaps queued until the next
 * hd_uworld_flush, which the caller makes before code runs in the window,
 * and merged then), never hd_uworld_run; hd_uworld_destroy empties it.
 * NULL if out of memory.
 */
struct hd_uworld *hd_uworld_window(unsigned k, int ram_fd);
/* The window's host base, or 0 for a user-world process. */
uint64_t hd_uworld_base(const struct hd_uworld *w);
/* Does the window have unmaps queued (0 for a user-world process)? */
bool hd_uworld_unmaps_queued(const struct hd_uworld *w);

/* Pause iterations a side spins before it sleeps on a hand-off: none when
 * both sides share one host CPU (same_cpu, or a one-CPU affinity). */
uint32_t hd_uworld_spin_budget(bool same_cpu);
/* How often the world was moved to follow the monitor to another CPU. */
uint64_t hd_uworld_migrations(const struct hd_uworld *w);

/* Path of a helper program installed next to the running executable. */
bool hd_sibling_path(const char *name, char *out, size_t outlen);

/* ---- The host terminal ---- */
/* Put terminal `fd` in raw mode (false if it is no terminal); the old
 * settings come back at exit or with hd_term_restore (signal-safe). */
bool hd_term_raw(int fd);
void hd_term_restore(void);
/* Read what is there without waiting: bytes read, 0 for none, -1 at EOF. */
int hd_read_nonblock(int fd, uint8_t *buf, size_t len);
/* Sleep until a CLOCK_MONOTONIC deadline, input on fd (if >= 0), or a signal. */
void hd_sleep_until_or_input(uint64_t deadline_ns, int fd);

/* True if user code may read and write its FS/GS bases itself (AT_HWCAP2
 * FSGSBASE); otherwise hd_set_view_base takes a system call. */
bool hd_fsgsbase(void);
/*
 * Set the host GS base, which translated code adds to every guest access
 * (the current view's window, bt.h). With FSGSBASE this is one
 * instruction; without, arch_prctl (which, unlike the instruction on some
 * hypervisors' kernels, the kernel keeps across context switches).
 * Return 0 or -errno.
 */
int hd_set_view_base(uint64_t base);

/* Read a whole file. Return 0 and a malloc'd buffer, or -1 with a reason. */
int hd_read_file(const char *path, uint8_t **buf, size_t *len, size_t max,
		 char *err, size_t errlen);

/* Write all of buf to fd, retrying short writes; false on error. */
bool hd_write_all(int fd, const void *buf, size_t len);

/*
 * Files kept open (disk images, -serial file:, -D, --perf-map). Each
 * returns what the host said: a descriptor or 0, else -errno; a stream,
 * else NULL with errno set. hd_file_open opens an existing file;
 * hd_file_create creates or truncates one for writing (mode 0644), as
 * hd_stream_create does for a stdio stream. hd_file_size is a file's or
 * a block device's size in bytes. hd_file_read_at and hd_file_write_at
 * move all of [off, off + len), retrying short transfers; one that makes
 * no progress (the file shrank) is -EIO. hd_file_sync makes the writes
 * durable. Descriptors close with hd_close, streams with hd_stream_close.
 */
int hd_file_open(const char *path, bool writable);
int hd_file_create(const char *path);
int64_t hd_file_size(int fd);
int hd_file_read_at(int fd, void *buf, size_t len, uint64_t off);
int hd_file_write_at(int fd, const void *buf, size_t len, uint64_t off);
int hd_file_sync(int fd);
FILE *hd_stream_create(const char *path);
int hd_stream_close(FILE *f);
/* /tmp/perf-PID.map, where perf looks up the symbols of JIT code. */
FILE *hd_perf_map_create(void);

/*
 * The GDB stub's sockets. hd_tcp_listen: a listening TCP socket on HOST
 * (empty or NULL: every address) and PORT; the fd, or -1 with a reason.
 * hd_tcp_accept: a connection (fd), -1 if none is waiting (wait false) or
 * a signal came (wait true), -2 if the socket failed. hd_read_wait: block
 * for up to len bytes: their number, 0 if a signal came first, -1 at end
 * of stream or on error.
 */
int hd_tcp_listen(const char *host, const char *port, char *err, size_t errlen);
int hd_tcp_accept(int listen_fd, bool wait);
int hd_read_wait(int fd, uint8_t *buf, size_t len);
void hd_close(int fd);
/*
 * The monitor console's socket (-monitor unix:PATH,server,nowait):
 * hd_unix_listen binds PATH (which must not exist) and listens: the fd,
 * or -1 with a reason. hd_unix_accept: a waiting connection, or -1.
 * hd_unlink removes PATH again (a message on stderr if it cannot).
 */
int hd_unix_listen(const char *path, char *err, size_t errlen);
int hd_unix_accept(int listen_fd);
void hd_unlink(const char *path);
/* Block until one of fds (up to 8; -1 entries ignored) is readable or a
 * signal comes. */
void hd_wait_readable(const int *fds, unsigned n);

/* -pidfile: write this process's id to `path` (created or truncated).
 * Return 0, or -1 with a reason in err. hd_pidfile_remove deletes it as
 * the run ends (a message on stderr if it cannot). */
int hd_pidfile_create(const char *path, char *err, size_t errlen);
void hd_pidfile_remove(const char *path);

/* Name this process for ps and top (the kernel keeps 15 bytes). */
bool hd_set_process_name(const char *name);

/* This process's resident memory by kind, in KiB (from /proc/self/status):
 * anonymous (heap, translation cache, tables), file (code, libraries),
 * shared (guest RAM's memfd, counted once per mapping), and the peak. */
struct hd_mem_usage {
	uint64_t anon_kib, file_kib, shmem_kib, peak_kib;
};
bool hd_mem_usage(struct hd_mem_usage *u);

/* Monotonic host time in nanoseconds. */
uint64_t hd_now_ns(void);

/* ==== Host capabilities (hostcheck.c): btvmm --check-host, the --de fallback ==== */

/* How one item of the host check came out. MISSING on a `required` item
 * means btvmm cannot run here; on another item, that it runs without it. */
enum hd_check_status { HD_CHECK_OK, HD_CHECK_INFO, HD_CHECK_WARN, HD_CHECK_MISSING };

/* One item: a short name ("seccomp"), its status, and one line saying what
 * was found and, when not ok, what it means and what the user can do. */
struct hd_check_item {
	const char *name;
	enum hd_check_status status;
	bool required;
	char detail[320];
};

/* How many items hd_host_check fills. */
#define HD_CHECK_ITEMS 9

/*
 * Probe the host: x86-64, memfd/mmap basics, seccomp filters, 32-bit
 * compatibility mode (hd_compat_mode_works), FSGSBASE, the CPU vendor,
 * vm.mmap_min_addr, vm.max_map_count and /dev/kvm (hd_kvm_probe), in
 * that order. Fill items[] and
 * return HD_CHECK_ITEMS. Forks short-lived probe processes (never waiting
 * on one longer than 2 s); changes nothing in this process or on the host.
 */
unsigned hd_host_check(struct hd_check_item items[HD_CHECK_ITEMS]);

/* "ok", "info", "warn" or "missing". */
const char *hd_check_status_name(enum hd_check_status st);

/*
 * True if this host runs 32-bit code in compatibility mode through LDT
 * segments as the user world does (uw_stub.c): probed once per process, in
 * a forked child. Otherwise false, with the failed step in why (one
 * clause, no newline). Call it before hd_reserve_guest_space: the probe
 * needs a free page below 2 GiB (MAP_32BIT).
 */
bool hd_compat_mode_works(char *why, size_t whylen);

/* ==== KVM (kvm.c): the hardware-assisted engine of --accel kvm ==== */

/* One VM with one vCPU on /dev/kvm; interrupt controllers stay in userspace. */
struct hd_kvm;

/*
 * Open /dev/kvm, create a VM whose guest-physical [0, ram_size) is `ram`
 * (the rest -- MMIO -- exits), give Intel's real-mode TSS the three pages
 * at tss_gpa (0: none), and create vCPU 0 with its kvm_run mapped and
 * the registers synced into it at every exit. NULL with a one-line reason
 * in err: no /dev/kvm, a KVM without what kvm.c needs, a refused VM.
 */
struct hd_kvm *hd_kvm_create(uint8_t *ram, uint64_t ram_size, uint32_t tss_gpa, char *err,
			     size_t errlen);
void hd_kvm_destroy(struct hd_kvm *k);
/* The vCPU's kvm_run: exit reason and data, run->s.regs.regs after each exit. */
struct kvm_run *hd_kvm_run_area(struct hd_kvm *k);
/* Make reads and writes of these n MSRs (at most 16) exit to userspace
 * (KVM_EXIT_X86_RDMSR/WRMSR), as well as those KVM does not know. -errno. */
int hd_kvm_trap_msrs(struct hd_kvm *k, const uint32_t *msrs, unsigned n);
/* KVM_SET_CPUID2, KVM_GET/SET_SREGS, KVM_SET_REGS, one KVM_GET_MSRS,
 * KVM_INTERRUPT: 0 or -errno. */
int hd_kvm_set_cpuid(struct hd_kvm *k, const struct kvm_cpuid_entry2 *entries, unsigned n);
int hd_kvm_get_sregs(struct hd_kvm *k, struct kvm_sregs *s);
int hd_kvm_set_sregs(struct hd_kvm *k, const struct kvm_sregs *s);
int hd_kvm_set_regs(struct hd_kvm *k, const struct kvm_regs *r);
int hd_kvm_get_msr(struct hd_kvm *k, uint32_t index, uint64_t *value);
int hd_kvm_interrupt(struct hd_kvm *k, uint8_t vector);
/* KVM_RUN: 0 with an exit in the run area, or -errno (-EINTR: a signal or
 * a kick came first). */
int hd_kvm_run(struct hd_kvm *k);
/* Make the current or next KVM_RUN return at once. Async-signal-safe. */
void hd_kvm_kick(struct hd_kvm *k);
/* "io", "mmio", "hlt", ...: a short name for --stats ("other" if unknown). */
const char *hd_kvm_exit_name(uint32_t reason);
/* One clause describing the exit in `run` (entry failures and internal
 * errors with their codes). Pure. */
void hd_kvm_describe_exit(const struct kvm_run *run, char *buf, size_t len);
/*
 * Can --accel kvm run here: /dev/kvm opens, KVM has what kvm.c needs, and
 * a four-page 32-bit guest with paging on runs to its HLT? False with the
 * failed step in why (one clause). Creates and destroys a VM of its own.
 */
bool hd_kvm_probe(char *why, size_t whylen);

#endif
