/* hostdriver: /dev/kvm for --accel kvm: one VM, one vCPU, guest RAM as one memory slot, userspace interrupt controllers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostdriver.h"
#include "x86.h"

/*
 * kvmtool-sized on purpose: everything btvmm's BT engine has in userspace
 * stays there -- the PIC, the I/O APIC, the local APIC and the timers are
 * btvmm's device models, so there is no KVM_CREATE_IRQCHIP and no in-kernel
 * PIT; interrupts go in with KVM_INTERRUPT. What this file needs of the
 * host's KVM, each checked once at creation:
 *
 *   KVM_CAP_SYNC_REGS (X86_REGS)   the registers come out in kvm_run at every
 *                                  exit (EIP for messages, no extra ioctl)
 *   KVM_CAP_IMMEDIATE_EXIT         a signal that arrives just before KVM_RUN
 *                                  still makes it return (hd_kvm_kick)
 *   KVM_CAP_X86_USER_SPACE_MSR     the MSRs the device models own (the local
 *                                  APIC's base and TSC deadline) exit to
 *                                  btvmm through an MSR filter
 */

struct hd_kvm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* What KVM_CHECK_EXTENSION says of `cap` (0: absent). */
static int extension(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

static int open_kvm(struct hd_kvm *k, char *err, size_t errlen)
{
	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0)
		return fail(err, errlen, "cannot open /dev/kvm: %s", strerror(errno));
	int version = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION)
		return fail(err, errlen, "/dev/kvm speaks API version %d, not %d", version,
			    KVM_API_VERSION);
	if (!(extension(k->kvm_fd, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS))
		return fail(err, errlen, "the host's KVM lacks KVM_CAP_SYNC_REGS (Linux 4.16)");
	if (!extension(k->kvm_fd, KVM_CAP_IMMEDIATE_EXIT))
		return fail(err, errlen, "the host's KVM lacks KVM_CAP_IMMEDIATE_EXIT (Linux 4.11)");
	if (!extension(k->kvm_fd, KVM_CAP_X86_USER_SPACE_MSR))
		return fail(err, errlen,
			    "the host's KVM lacks KVM_CAP_X86_USER_SPACE_MSR (Linux 5.10)");
	return 0;
}

/* The VM and its memory: RAM is guest-physical [0, ram_size); everything
 * above (the devices' MMIO pages) is no slot, so accesses there exit. */
static int create_vm(struct hd_kvm *k, uint8_t *ram, uint64_t ram_size, uint32_t tss_gpa,
		     char *err, size_t errlen)
{
	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0)
		return fail(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
	/* Intel without unrestricted guest runs real mode through a TSS of
	 * its own, three pages that must lie outside RAM and MMIO. */
	if (tss_gpa && extension(k->kvm_fd, KVM_CAP_SET_TSS_ADDR) &&
	    ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)tss_gpa) < 0)
		return fail(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = ram_size,
		.userspace_addr = (uint64_t)(uintptr_t)ram,
	};
	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	return 0;
}

static int create_vcpu(struct hd_kvm *k, char *err, size_t errlen)
{
	k->vcpu_fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, 0);
	if (k->vcpu_fd < 0)
		return fail(err, errlen, "KVM_CREATE_VCPU: %s", strerror(errno));
	int size = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return fail(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s",
			    size < 0 ? strerror(errno) : "too small");
	void *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu_fd, 0);
	if (run == MAP_FAILED)
		return fail(err, errlen, "cannot map the vCPU's kvm_run: %s", strerror(errno));
	k->run = run;
	k->run_size = (size_t)size;
	k->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	return 0;
}

struct hd_kvm *hd_kvm_create(uint8_t *ram, uint64_t ram_size, uint32_t tss_gpa, char *err,
			     size_t errlen)
{
	struct hd_kvm *k = malloc(sizeof *k);
	if (!k) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	*k = (struct hd_kvm){ .kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1 };
	if (open_kvm(k, err, errlen) || create_vm(k, ram, ram_size, tss_gpa, err, errlen) ||
	    create_vcpu(k, err, errlen)) {
		hd_kvm_destroy(k);
		return NULL;
	}
	return k;
}

void hd_kvm_destroy(struct hd_kvm *k)
{
	if (!k)
		return;
	if (k->run)
		munmap(k->run, k->run_size);
	int fds[3] = { k->vcpu_fd, k->vm_fd, k->kvm_fd };
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(k);
}

struct kvm_run *hd_kvm_run_area(struct hd_kvm *k)
{
	return k->run;
}

int hd_kvm_trap_msrs(struct hd_kvm *k, const uint32_t *msrs, unsigned n)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args = { KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN },
	};
	if (ioctl(k->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	if (n > KVM_MSR_FILTER_MAX_RANGES)
		return -E2BIG;
	/* One range per MSR, its one bitmap bit clear: denied to KVM,
	 * so the access exits (KVM_MSR_EXIT_REASON_FILTER). KVM copies
	 * bitmaps in whole longs. */
	static const uint64_t deny;
	struct kvm_msr_filter filter = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
	for (unsigned i = 0; i < n; i++)
		filter.ranges[i] = (struct kvm_msr_filter_range){
			.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			.nmsrs = 1, .base = msrs[i], .bitmap = (uint8_t *)&deny,
		};
	if (ioctl(k->vm_fd, KVM_X86_SET_MSR_FILTER, &filter) < 0)
		return -errno;
	return 0;
}

int hd_kvm_set_cpuid(struct hd_kvm *k, const struct kvm_cpuid_entry2 *entries, unsigned n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof *entries);
	if (!c)
		return -ENOMEM;
	c->nent = n;
	memcpy(c->entries, entries, n * sizeof *entries);
	int r = ioctl(k->vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return r;
}

int hd_kvm_get_sregs(struct hd_kvm *k, struct kvm_sregs *s)
{
	return ioctl(k->vcpu_fd, KVM_GET_SREGS, s) < 0 ? -errno : 0;
}

int hd_kvm_set_sregs(struct hd_kvm *k, const struct kvm_sregs *s)
{
	return ioctl(k->vcpu_fd, KVM_SET_SREGS, s) < 0 ? -errno : 0;
}

int hd_kvm_set_regs(struct hd_kvm *k, const struct kvm_regs *r)
{
	return ioctl(k->vcpu_fd, KVM_SET_REGS, r) < 0 ? -errno : 0;
}

int hd_kvm_get_msr(struct hd_kvm *k, uint32_t index, uint64_t *value)
{
	struct {
		struct kvm_msrs head;
		struct kvm_msr_entry entry;
	} m = { .head = { .nmsrs = 1 }, .entry = { .index = index } };
	int r = ioctl(k->vcpu_fd, KVM_GET_MSRS, &m);
	if (r < 0)
		return -errno;
	if (r != 1)
		return -EINVAL;
	*value = m.entry.data;
	return 0;
}

int hd_kvm_interrupt(struct hd_kvm *k, uint8_t vector)
{
	struct kvm_interrupt irq = { .irq = vector };
	return ioctl(k->vcpu_fd, KVM_INTERRUPT, &irq) < 0 ? -errno : 0;
}

int hd_kvm_run(struct hd_kvm *k)
{
	int r = ioctl(k->vcpu_fd, KVM_RUN, 0) < 0 ? -errno : 0;
	/* A kick that came after this point is for the next KVM_RUN; one that
	 * came before has done its work. */
	k->run->immediate_exit = 0;
	return r;
}

void hd_kvm_kick(struct hd_kvm *k)
{
	*(volatile uint8_t *)&k->run->immediate_exit = 1;
}

const char *hd_kvm_exit_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "unknown", [KVM_EXIT_EXCEPTION] = "exception",
		[KVM_EXIT_IO] = "io", [KVM_EXIT_HYPERCALL] = "hypercall",
		[KVM_EXIT_DEBUG] = "debug", [KVM_EXIT_HLT] = "hlt", [KVM_EXIT_MMIO] = "mmio",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq-window", [KVM_EXIT_SHUTDOWN] = "shutdown",
		[KVM_EXIT_FAIL_ENTRY] = "fail-entry", [KVM_EXIT_INTR] = "intr",
		[KVM_EXIT_NMI] = "nmi", [KVM_EXIT_INTERNAL_ERROR] = "internal-error",
		[KVM_EXIT_SYSTEM_EVENT] = "system-event", [KVM_EXIT_X86_RDMSR] = "rdmsr",
		[KVM_EXIT_X86_WRMSR] = "wrmsr", [KVM_EXIT_X86_BUS_LOCK] = "bus-lock",
		[KVM_EXIT_NOTIFY] = "notify",
	};
	if (reason < sizeof names / sizeof names[0] && names[reason])
		return names[reason];
	return "other";
}

void hd_kvm_describe_exit(const struct kvm_run *run, char *buf, size_t len)
{
	switch (run->exit_reason) {
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(buf, len, "VM entry failed, hardware reason %#llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(buf, len, "KVM internal error, suberror %u", run->internal.suberror);
		break;
	default:
		snprintf(buf, len, "exit reason %u (%s)", run->exit_reason,
			 hd_kvm_exit_name(run->exit_reason));
	}
}

/* ---- The probe: does this KVM run a 32-bit guest with paging? ---- */

/*
 * Four pages of probe guest: a page directory at 0x1000 whose first entry
 * points to the page table at 0x2000, which maps pages 0-3 to themselves;
 * HLT at 0x3000. It runs in the state btvmm's loaders leave (flat 32-bit
 * protected mode), plus CR0.PG -- what a software KVM backend without
 * 32-bit paging (PVM) refuses.
 */
#define PROBE_PAGES 4u
#define PROBE_PD 0x1000u
#define PROBE_PT 0x2000u
#define PROBE_CODE 0x3000u
#define PROBE_HLT 0xf4u

static void probe_build(uint8_t *mem)
{
	uint32_t pde = PROBE_PT | PTE_P | PTE_W;
	memcpy(mem + PROBE_PD, &pde, 4);
	for (uint32_t i = 0; i < PROBE_PAGES; i++) {
		uint32_t pte = (i << 12) | PTE_P | PTE_W;
		memcpy(mem + PROBE_PT + 4 * i, &pte, 4);
	}
	mem[PROBE_CODE] = PROBE_HLT;
}

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type)
{
	return (struct kvm_segment){ .base = 0, .limit = 0xffffffffu, .selector = sel,
				     .type = type, .present = 1, .s = 1, .db = 1, .g = 1 };
}

/* Run the probe guest on k; 0 when it halted where it should. */
static int probe_run(struct hd_kvm *k, char *why, size_t whylen)
{
	struct kvm_sregs s;
	int r = hd_kvm_get_sregs(k, &s);
	if (r)
		return fail(why, whylen, "KVM_GET_SREGS: %s", strerror(-r));
	s.cs = flat_segment(0x10, DESC_TYPE_CODE_RA);
	s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(0x18, DESC_TYPE_DATA_WA);
	s.tr = (struct kvm_segment){ .limit = 0xffff, .type = SYS_TSS32_BUSY, .present = 1 };
	s.ldt = (struct kvm_segment){ .type = SYS_LDT, .unusable = 1 };
	s.cr0 = CR0_PG | CR0_ET | CR0_PE;
	s.cr3 = PROBE_PD;
	s.cr4 = 0;
	s.efer = 0;
	r = hd_kvm_set_sregs(k, &s);
	if (r)
		return fail(why, whylen, "the host's KVM refuses 32-bit protected mode with "
			    "paging (KVM_SET_SREGS: %s)", strerror(-r));
	struct kvm_regs regs = { .rip = PROBE_CODE, .rflags = 0x2 };
	r = hd_kvm_set_regs(k, &regs);
	if (r)
		return fail(why, whylen, "KVM_SET_REGS: %s", strerror(-r));
	r = hd_kvm_run(k);
	if (r)
		return fail(why, whylen, "the host's KVM refuses a 32-bit guest with paging "
			    "(KVM_RUN: %s)", strerror(-r));
	if (k->run->exit_reason != KVM_EXIT_HLT || k->run->s.regs.regs.rip != PROBE_CODE + 1) {
		char what[128];
		hd_kvm_describe_exit(k->run, what, sizeof what);
		return fail(why, whylen, "the host's KVM does not run a 32-bit guest with paging "
			    "(a HLT test guest ended with %s at EIP %#llx)", what,
			    (unsigned long long)k->run->s.regs.regs.rip);
	}
	return 0;
}

bool hd_kvm_probe(char *why, size_t whylen)
{
	size_t size = PROBE_PAGES * HD_PAGE_SIZE;
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fail(why, whylen, "cannot map the probe guest's memory: %s", strerror(errno));
		return false;
	}
	probe_build(mem);
	struct hd_kvm *k = hd_kvm_create(mem, size, 0, why, whylen);
	bool ok = k && probe_run(k, why, whylen) == 0;
	hd_kvm_destroy(k);
	munmap(mem, size);
	return ok;
}
