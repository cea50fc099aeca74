/* monitor: --accel kvm: the same machine on /dev/kvm, its vCPU loop turning KVM exits into the BT run loop's device calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <x86intrin.h>

#include "layout.h"
#include "monitor.h"

/*
 * What stays btvmm's under KVM, so that both engines run one machine:
 * the loaders and the boot state (main.c), every device model (port and
 * MMIO exits land in dev_pio_in/out and mon_mmio_access), the interrupt
 * controllers (KVM_INTERRUPT with the vector dev_platform_inta acknowledges,
 * no in-kernel irqchip), CPUID (mon_cpuid's leaves, given once), the MSRs
 * the devices own, HLT (mon_halt sleeps until the next device deadline)
 * and the exit statuses. KVM runs everything else: guest instructions,
 * paging, exceptions, the other MSRs.
 *
 * Timers: the host timer (hd_timer_arm, as under BT) fires for the next
 * device deadline and kicks KVM_RUN out (run.c's on_timer ->
 * hd_kvm_kick), so the loop can raise the interrupt.
 */

/* MSRs whose value is not KVM's to give (cpuid.c answers them). */
static const uint32_t trapped_msrs[] = {
	0x1b,  /* IA32_APIC_BASE: the local APIC model's base and enable */
	0x6e0, /* IA32_TSC_DEADLINE: the local APIC model's timer */
	0x10a, /* IA32_ARCH_CAPABILITIES: RDCL_NO, which KVM would take from the host */
};
#define MSR_IA32_TSC 0x10u

/* CPUID leaves 0 up to the highest basic one, 0x80000000 up to the highest
 * extended one, each as mon_cpuid answers it; leaves 4 and 7 have
 * subleaves (only subleaf 0 says anything). Return the count. */
static unsigned cpuid_entries(struct mon_vm *vm, struct kvm_cpuid_entry2 *e, unsigned max)
{
	static const uint32_t bases[] = { 0, 0x80000000u };
	unsigned n = 0;
	for (unsigned b = 0; b < 2; b++) {
		uint32_t top[4];
		mon_cpuid(vm, bases[b], 0, top);
		for (uint32_t leaf = bases[b]; leaf <= top[0] && n < max; leaf++, n++) {
			uint32_t r[4];
			mon_cpuid(vm, leaf, 0, r);
			e[n] = (struct kvm_cpuid_entry2){
				.function = leaf, .index = 0,
				.flags = leaf == 4 || leaf == 7 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
				.eax = r[0], .ebx = r[1], .ecx = r[2], .edx = r[3],
			};
		}
	}
	return n;
}

static struct kvm_segment kvm_segment_of(const struct mon_seg *s)
{
	unsigned a = s->attr;
	return (struct kvm_segment){
		.base = s->base, .limit = s->limit, .selector = s->sel,
		.type = (uint8_t)seg_attr_type(a), .s = (uint8_t)seg_attr_s(a),
		.dpl = (uint8_t)seg_attr_dpl(a), .present = (uint8_t)seg_attr_p(a),
		.avl = (uint8_t)seg_attr_avl(a), .db = (uint8_t)seg_attr_db(a),
		.g = (uint8_t)seg_attr_g(a), .unusable = (uint8_t)!seg_attr_p(a),
	};
}

/*
 * The setup steps below return 0, or -errno with *what naming the step
 * for the one-line message.
 */

/* The vCPU state reset_vcpu left in vm->vcpu, given to KVM. */
static int load_vcpu(struct mon_vm *vm, const char **what)
{
	const struct vcpu *v = &vm->vcpu;
	struct kvm_sregs s;
	*what = "KVM_GET_SREGS";
	int r = hd_kvm_get_sregs(vm->kvm, &s);
	if (r)
		return r;
	struct kvm_segment *segs[SEG_COUNT] = { &s.es, &s.cs, &s.ss, &s.ds, &s.fs, &s.gs };
	for (int i = 0; i < SEG_COUNT; i++)
		*segs[i] = kvm_segment_of(&v->seg[i]);
	s.ldt = kvm_segment_of(&v->ldtr);
	s.tr = kvm_segment_of(&v->tr);
	s.gdt = (struct kvm_dtable){ .base = v->gdtr.base, .limit = v->gdtr.limit };
	s.idt = (struct kvm_dtable){ .base = v->idtr.base, .limit = v->idtr.limit };
	s.cr0 = v->cr0;
	s.cr2 = v->cr2;
	s.cr3 = v->cr3;
	s.cr4 = v->cr4;
	s.efer = v->efer;
	s.apic_base = dev_platform_apic_base(vm->plat);
	*what = "the host's KVM refuses 32-bit protected mode (KVM_SET_SREGS)";
	r = hd_kvm_set_sregs(vm->kvm, &s);
	if (r)
		return r;
	const uint32_t *g = v->cpu->gpr;
	struct kvm_regs regs = {
		.rax = g[BT_EAX], .rcx = g[BT_ECX], .rdx = g[BT_EDX], .rbx = g[BT_EBX],
		.rsp = g[BT_ESP], .rbp = g[BT_EBP], .rsi = g[BT_ESI], .rdi = g[BT_EDI],
		.rip = v->cpu->eip, .rflags = v->cpu->eflags,
	};
	*what = "KVM_SET_REGS";
	return hd_kvm_set_regs(vm->kvm, &regs);
}

/*
 * KVM counts the guest's TSC from an offset of its own; the devices' clock
 * of it (mon_guest_tsc, the TSC-deadline timer) must count the same
 * ticks: read the guest's TSC between two reads of the host's. (A guest
 * write of IA32_TSC is KVM's alone and moves only KVM's offset.)
 */
static int measure_tsc_offset(struct mon_vm *vm, const char **what)
{
	uint64_t guest, before = __rdtsc();
	*what = "KVM_GET_MSRS (IA32_TSC)";
	int r = hd_kvm_get_msr(vm->kvm, MSR_IA32_TSC, &guest);
	uint64_t after = __rdtsc();
	if (!r)
		vm->vcpu.tsc_offset = guest - (before + (after - before) / 2);
	return r;
}

static int give_cpuid_and_msrs(struct mon_vm *vm, const char **what)
{
	struct kvm_cpuid_entry2 leaves[32];
	unsigned n = cpuid_entries(vm, leaves, 32);
	*what = "KVM_SET_CPUID2";
	int r = hd_kvm_set_cpuid(vm->kvm, leaves, n);
	if (r)
		return r;
	*what = "cannot give the devices their MSRs (KVM_X86_SET_MSR_FILTER)";
	return hd_kvm_trap_msrs(vm->kvm, trapped_msrs,
				sizeof trapped_msrs / sizeof trapped_msrs[0]);
}

int mon_kvm_setup(struct mon_vm *vm, char *err, size_t errlen)
{
	vm->kvm = hd_kvm_create(vm->ram, vm->ram_size, LAYOUT_KVM_TSS, err, errlen);
	if (!vm->kvm)
		return -1;
	const char *what = "";
	int r = give_cpuid_and_msrs(vm, &what);
	if (!r)
		r = load_vcpu(vm, &what);
	if (!r)
		r = measure_tsc_offset(vm, &what);
	if (r) {
		snprintf(err, errlen, "%s: %s", what, strerror(-r));
		hd_kvm_destroy(vm->kvm);
		vm->kvm = NULL;
		return -1;
	}
	vm->kvm_entry_eip = vm->vcpu.cpu->eip;
	return 0;
}

/* ---- Exits ---- */

/* IN/OUT, and INS/OUTS with their count: KVM leaves the data in the run
 * area at io.data_offset, `size` bytes per element. */
static void port_io(struct mon_vm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		uint32_t v = 0;
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&v, data, size);
			dev_pio_out(vm->bus, run->io.port, size, v);
		} else {
			v = dev_pio_in(vm->bus, run->io.port, size);
			memcpy(data, &v, size);
		}
	}
}

/* A trapped MSR, or one KVM does not know: cpuid.c's answer, or #GP
 * (error set: KVM raises it) for an MSR the virtual CPU lacks. */
static void msr_access(struct mon_vm *vm, struct kvm_run *run, bool write)
{
	uint64_t value = 0;
	bool ok = write ? mon_wrmsr(vm, run->msr.index, run->msr.data)
			: mon_rdmsr(vm, run->msr.index, &value);
	if (ok && !write)
		run->msr.data = value;
	run->msr.error = !ok;
}

/* VM entry failed or KVM gave up. At the boot EIP nothing of the guest
 * ran: this KVM refuses the machine (a software backend without 32-bit
 * guests), which is a host limit, status 10. */
static void kvm_failed(struct mon_vm *vm, struct kvm_run *run, uint32_t eip)
{
	char what[128];
	hd_kvm_describe_exit(run, what, sizeof what);
	if (eip == vm->kvm_entry_eip)
		mon_stop(vm, MON_EXIT_HOST, "--accel kvm: the host's KVM refuses this guest (%s "
			 "at its first instruction)", what);
	else
		mon_stop(vm, MON_EXIT_UNSUPPORTED, "unsupported under --accel kvm: %s at EIP %#x",
			 what, eip);
}

void mon_kvm_exit(struct mon_vm *vm, struct kvm_run *run)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	cpu->eip = (uint32_t)run->s.regs.regs.rip; /* for messages and crash reports */
	cpu->eflags = (uint32_t)run->s.regs.regs.rflags;
	vm->stats.kvm_exits[run->exit_reason < MON_KVM_EXIT_REASONS ? run->exit_reason
							     : MON_KVM_EXIT_REASONS - 1]++;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		port_io(vm, run);
		break;
	case KVM_EXIT_MMIO:
		mon_mmio_access(vm, run->mmio.phys_addr, run->mmio.data,
				run->mmio.len < 8 ? run->mmio.len : 8, run->mmio.is_write);
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		msr_access(vm, run, run->exit_reason == KVM_EXIT_X86_WRMSR);
		break;
	case KVM_EXIT_HLT:
		/* EIP is past the HLT already. The loop sleeps until an
		 * interrupt can be taken; with IF clear none ever can. */
		vm->vcpu.halted = true;
		if (!run->if_flag)
			mon_halt(vm, false, cpu->eip);
		break;
	case KVM_EXIT_SHUTDOWN:
		/* No EIP: AMD's KVM has reset the vCPU by now. */
		mon_stop(vm, MON_EXIT_TRIPLE, "guest triple fault (KVM: shutdown)");
		break;
	case KVM_EXIT_FAIL_ENTRY:
	case KVM_EXIT_INTERNAL_ERROR:
		kvm_failed(vm, run, cpu->eip);
		break;
	case KVM_EXIT_IRQ_WINDOW_OPEN: /* the loop injects what waits */
	case KVM_EXIT_INTR:            /* a signal: the loop looks at what it was */
		break;
	default:
		mon_stop(vm, MON_EXIT_UNSUPPORTED, "unsupported under --accel kvm: KVM exit %u "
			 "(%s) at EIP %#x", run->exit_reason, hd_kvm_exit_name(run->exit_reason),
			 cpu->eip);
	}
}

/* ---- The vCPU loop ---- */

/*
 * Between two runs, as the BT loop's mon_take_interrupt: bring the timers up
 * to date; give KVM the interrupt the devices raise if the vCPU can take
 * it now (IF set, no interrupt shadow, none injected yet), or ask KVM to
 * exit as soon as it can (the interrupt window).
 */
static void offer_interrupt(struct mon_vm *vm, struct kvm_run *run)
{
	dev_platform_update(vm->plat);
	bool requested = dev_platform_intr(vm->plat);
	if (requested && !vm->kvm_injected && run->ready_for_interrupt_injection &&
	    run->if_flag) {
		uint8_t vector = dev_platform_inta(vm->plat);
		int r = hd_kvm_interrupt(vm->kvm, vector);
		if (r) {
			mon_stop(vm, MON_EXIT_HOST, "KVM_INTERRUPT: %s", strerror(-r));
			return;
		}
		vm->kvm_injected = true;
		vm->vcpu.halted = false;
		vm->stats.irqs++;
		requested = dev_platform_intr(vm->plat);
	}
	run->request_interrupt_window = requested;
}

/* The host timer's next deadline: the devices', and while COM1 has a
 * host input, the next look at it. */
static uint64_t next_wakeup(struct mon_vm *vm)
{
	uint64_t next = dev_platform_next_event(vm->plat);
	uint64_t poll = vm->input_polled + MON_INPUT_POLL_NS;
	return vm->input_fd >= 0 && poll < next ? poll : next;
}

static bool guest_ran(const struct mon_vm *vm)
{
	for (unsigned r = 0; r < MON_KVM_EXIT_REASONS; r++)
		if (r != KVM_EXIT_INTR && vm->stats.kvm_exits[r])
			return true;
	return false;
}

int mon_kvm_run(struct mon_vm *vm)
{
	struct kvm_run *run = hd_kvm_run_area(vm->kvm);
	vm->run_tsc0 = __rdtsc();
	vm->run_ns0 = hd_now_ns();
	while (!vm->stop && !mon_stopped_by_signal(vm)) {
		vm->clock_now = hd_now_ns(); /* one clock read for the devices */
		mon_pump_input(vm, vm->clock_now, false);
		offer_interrupt(vm, run);
		uint64_t next = next_wakeup(vm);
		vm->clock_now = 0;
		if (vm->stop)
			break;
		if (vm->vcpu.halted) {
			mon_halt(vm, true, vm->vcpu.cpu->eip);
			continue;
		}
		hd_timer_arm(next);
		int r = hd_kvm_run(vm->kvm);
		vm->kvm_injected = false;
		if (r == -EINTR) {
			vm->stats.kvm_exits[KVM_EXIT_INTR]++;
			continue;
		}
		if (r) {
			mon_stop(vm, MON_EXIT_HOST, "%sKVM_RUN: %s",
				 guest_ran(vm) ? "" : "--accel kvm: the host's KVM refuses this guest: ",
				 strerror(-r));
			break;
		}
		mon_kvm_exit(vm, run);
		mon_check_devices(vm);
	}
	return vm->status;
}

void mon_kvm_print_stats(struct mon_vm *vm, FILE *out)
{
	uint64_t total = 0;
	for (unsigned r = 0; r < MON_KVM_EXIT_REASONS; r++)
		total += vm->stats.kvm_exits[r];
	fprintf(out, "btvmm stats (--accel kvm, %.3f s):\n",
		(double)(hd_now_ns() - vm->run_ns0) / 1e9);
	fprintf(out, "  kvm exits: %llu:", (unsigned long long)total);
	for (unsigned r = 0; r < MON_KVM_EXIT_REASONS; r++)
		if (vm->stats.kvm_exits[r])
			fprintf(out, " %s %llu", hd_kvm_exit_name(r),
				(unsigned long long)vm->stats.kvm_exits[r]);
	fprintf(out, "\n  interrupts injected: %llu; HLTs that slept: %llu\n",
		(unsigned long long)vm->stats.irqs, (unsigned long long)vm->stats.halts);
}
