/* monitor: the virtual CPU's identity (CPUID), its model-specific registers and its time-stamp counter. */
#include <cpuid.h>
#include <string.h>

#include "monitor.h"

/*
 * The virtual CPU is a family-6 Intel part that claims only what btvmm
 * virtualizes. Model 14 (Core Duo "Yonah") is the 32-bit-only family-6
 * model with SSE3 and no long mode, which is what we offer; Linux also
 * marks family 6 from model 14 on as having a constant-rate TSC, which the
 * host TSC we pass through is. (Linux leaves PAT unused on models below 15
 * because of an erratum of those parts; other guests may use it.)
 *
 * Leaves above the maximum, basic or extended, return the highest basic
 * leaf, as Intel CPUs do. Leaf 4 (deterministic cache parameters) is all
 * zeros: "no caches described"; 5 and 6 (MONITOR, power management) are
 * zeros too; leaf 7 claims only IA32_ARCH_CAPABILITIES.
 *
 * IA32_ARCH_CAPABILITIES says RDCL_NO, "not vulnerable to Meltdown", and
 * that is true of the virtual CPU whatever the host: guest ring-3 code,
 * translated or run natively, reaches guest memory only through a view
 * that maps the guest's user pages alone (its user view or user world),
 * so no load of ring-3 code, speculative or not, can reach a supervisor
 * page. Linux then leaves out page-table isolation (PTI), which on
 * 32-bit PAE kernels makes every system call and interrupt from ring 3
 * switch CR3 and drop the kernel's non-global mappings twice -- under a
 * shadow MMU that is a refill of the S-view each time (a boot of
 * Debian's 686-pae kernel: 60 s with PTI, 3 s without). The other bits
 * would vouch for the host's hardware, which btvmm cannot.
 */

#define CPUID_MAX_BASIC 7u
#define CPUID_MAX_BASIC_LIMITED 2u /* with IA32_MISC_ENABLE.LIMIT_CPUID set */
#define CPUID_EXTENDED 0x80000000u
#define CPUID_MAX_EXTENDED 0x80000004u

/* Leaf 1 EAX: stepping 8, model 14, family 6, type 0 (original OEM). */
#define CPUID_SIGNATURE 0x000006e8u
/* Leaf 1 EBX: APIC ID 0 (31:24), one logical processor (23:16), CLFLUSH
 * line size 8 * 8 = 64 bytes (15:8), brand index 0 (7:0). */
#define CPUID_1_EBX ((0u << 24) | (1u << 16) | (8u << 8) | 0u)

/*
 * Leaf 1 EDX, one row per claimed feature with what makes the claim true.
 * APIC (bit 9) follows IA32_APIC_BASE's global enable, as on hardware.
 * Never claimed: VME, DE, MCE, MTRR, MCA, PSE-36, PSN, DS, ACPI, SS,
 * HTT, TM, PBE: btvmm does not virtualize them.
 */
static const uint32_t cpuid_1_edx =
	(1u << 0) |  /* FPU: x87 code runs natively in translated blocks */
	(1u << 3) |  /* PSE: the shadow MMU walks 4 MiB pages */
	(1u << 4) |  /* TSC: RDTSC is emulated as host TSC + offset */
	(1u << 5) |  /* MSR: RDMSR/WRMSR on the MSRs of mon_rdmsr */
	(1u << 6) |  /* PAE: the shadow MMU walks PAE tables (walkpae.c) */
	(1u << 8) |  /* CX8: CMPXCHG8B runs natively */
	(1u << 11) | /* SEP: SYSENTER/SYSEXIT are emulated */
	(1u << 13) | /* PGE: the shadow MMU honours CR4.PGE and G pages */
	(1u << 15) | /* CMOV: runs natively */
	(1u << 16) | /* PAT: IA32_PAT is kept (memory types change nothing here) */
	(1u << 19) | /* CLFSH: CLFLUSH runs natively */
	(1u << 23) | /* MMX: runs natively */
	(1u << 24) | /* FXSR: FXSAVE/FXRSTOR run natively on the guest FP state */
	(1u << 25) | /* SSE: runs natively */
	(1u << 26);  /* SSE2: runs natively */

/* Leaf 1 ECX. SSE3 is claimed only when the host has it, since translated
 * code executes it natively. Never claimed: MONITOR, VMX, SSSE3 and later,
 * XSAVE/OSXSAVE, AVX (no XSAVE state is virtualized). */
#define CPUID_1_ECX_SSE3 (1u << 0)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24) /* the LAPIC timer's third mode */
#define CPUID_1_ECX_HYPERVISOR (1u << 31) /* honest, and guests cope */
#define CPUID_1_EDX_APIC (1u << 9)
/* Leaf 0x80000001 EDX: NX, the only extended feature (EFER.NXE; no
 * SYSCALL, no long mode). */
#define CPUID_80000001_EDX_NX (1u << 20)
/* Leaf 7 (subleaf 0) EDX: IA32_ARCH_CAPABILITIES is readable. */
#define CPUID_7_EDX_ARCH_CAPABILITIES (1u << 29)

/* The brand string of leaves 0x80000002-0x80000004: 48 bytes, NUL-padded. */
static const char cpuid_brand[48] = "btvmm virtual CPU";

/* MSR numbers (SDM vol. 4). */
#define MSR_IA32_TSC 0x10u
#define MSR_IA32_PLATFORM_ID 0x17u
#define MSR_IA32_APIC_BASE 0x1bu
#define MSR_IA32_TSC_DEADLINE 0x6e0u
#define APIC_BASE_ENABLE (1ull << 11)
#define MSR_IA32_BIOS_SIGN_ID 0x8bu
#define MSR_IA32_SYSENTER_CS 0x174u
#define MSR_IA32_SYSENTER_ESP 0x175u
#define MSR_IA32_SYSENTER_EIP 0x176u
#define MSR_IA32_MISC_ENABLE 0x1a0u
#define MSR_IA32_PAT 0x277u
#define MSR_IA32_EFER 0xc0000080u
#define MSR_IA32_ARCH_CAPABILITIES 0x10au
#define ARCH_CAP_RDCL_NO (1ull << 0)

/*
 * IA32_MISC_ENABLE. vcpu.misc_enable holds only the guest-writable bits, so
 * a zeroed vcpu is the reset state; the fixed bits are added on reads and
 * ignored on writes (string operations run on the host, which decides how
 * fast they are; there is no BTS or PEBS). Setting any other bit is #GP,
 * as for a reserved bit on hardware.
 */
#define MISC_FAST_STRING (1ull << 0)
#define MISC_BTS_UNAVAILABLE (1ull << 11)
#define MISC_PEBS_UNAVAILABLE (1ull << 12)
#define MISC_LIMIT_CPUID (1ull << 22) /* leaf 0 reports at most leaf 2 */
#define MISC_FIXED (MISC_FAST_STRING | MISC_BTS_UNAVAILABLE | MISC_PEBS_UNAVAILABLE)
#define MISC_WRITABLE MISC_LIMIT_CPUID

/* True if the host CPU has SSE3. Cached: CPUID traps to the hypervisor when
 * the host is itself a VM. The vCPU runs on one thread. */
static bool host_has_sse3(void)
{
	static int cached = -1;

	if (cached < 0) {
		unsigned a, b, c, d;
		cached = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE3);
	}
	return cached;
}

static uint32_t max_basic_leaf(const struct vcpu *v)
{
	return (v->misc_enable & MISC_LIMIT_CPUID) ? CPUID_MAX_BASIC_LIMITED
						   : CPUID_MAX_BASIC;
}

/* The answer for an existing leaf (whatever IA32_MISC_ENABLE hides). */
static void cpuid_leaf(struct mon_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	uint32_t max_basic = max_basic_leaf(&vm->vcpu);

	out[0] = out[1] = out[2] = out[3] = 0;
	switch (leaf) {
	case 0:
		out[0] = max_basic;
		memcpy(&out[1], "Genu", 4); /* EBX EDX ECX: "GenuineIntel" */
		memcpy(&out[3], "ineI", 4);
		memcpy(&out[2], "ntel", 4);
		break;
	case 1:
		out[0] = CPUID_SIGNATURE;
		out[1] = CPUID_1_EBX;
		out[2] = CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_TSC_DEADLINE |
			 (host_has_sse3() ? CPUID_1_ECX_SSE3 : 0);
		out[3] = cpuid_1_edx;
		if (dev_platform_apic_base(vm->plat) & APIC_BASE_ENABLE)
			out[3] |= CPUID_1_EDX_APIC;
		break;
	case 2:
		/* AL = 1: one call is enough; every other byte is the null
		 * descriptor. */
		out[0] = 1;
		break;
	case 7:
		/* Subleaf 0: EAX = 0, the highest subleaf; no other subleaf. */
		if (subleaf == 0)
			out[3] = CPUID_7_EDX_ARCH_CAPABILITIES;
		break;
	case CPUID_EXTENDED:
		out[0] = CPUID_MAX_EXTENDED;
		break;
	case 0x80000001u:
		out[3] = CPUID_80000001_EDX_NX;
		break;
	case 0x80000002u:
	case 0x80000003u:
	case 0x80000004u:
		memcpy(out, cpuid_brand + 16 * (leaf - 0x80000002u), 16);
		break;
	default:
		/* 3 (no serial number), 4 (no cache described; its subleaves
		 * too), 5, 6: zeros. */
		break;
	}
}

/*
 * Answer CPUID for `leaf`/`subleaf` into out[] = {EAX, EBX, ECX, EDX}. The
 * answer depends only on virtual state (and on the host's SSE3), so it is
 * the same on every call.
 */
void mon_cpuid(struct mon_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	uint32_t max_basic = max_basic_leaf(&vm->vcpu);

	if (leaf < CPUID_EXTENDED ? leaf > max_basic : leaf > CPUID_MAX_EXTENDED)
		leaf = max_basic;
	cpuid_leaf(vm, leaf, subleaf, out);
}

void mon_isa(struct mon_vm *vm, struct bt_isa *isa)
{
	uint32_t r[4];
	cpuid_leaf(vm, 1, 0, r);
	isa->l1_ecx = r[2];
	isa->l1_edx = r[3];
	cpuid_leaf(vm, 7, 0, r);
	isa->l7_ebx = r[1];
	isa->l7_ecx = r[2];
	isa->l7_edx = r[3];
	cpuid_leaf(vm, 0x80000001u, 0, r);
	isa->x1_ecx = r[2];
	isa->x1_edx = r[3];
}

/* A PAT entry is valid if it names a memory type: UC WC WT WP WB UC-. */
static bool pat_valid(uint64_t pat)
{
	for (int i = 0; i < 8; i++) {
		unsigned type = (pat >> (8 * i)) & 0xff;
		if (type == 2 || type == 3 || type > 7)
			return false;
	}
	return true;
}

/*
 * Read MSR `msr` into *value. Return false for an MSR the virtual CPU does
 * not have (the caller raises #GP(0)).
 */
bool mon_rdmsr(struct mon_vm *vm, uint32_t msr, uint64_t *value)
{
	const struct vcpu *v = &vm->vcpu;

	switch (msr) {
	case MSR_IA32_TSC:
		*value = mon_guest_tsc(vm);
		return true;
	case MSR_IA32_PLATFORM_ID:
	case MSR_IA32_BIOS_SIGN_ID: /* no microcode update loaded */
		*value = 0;
		return true;
	case MSR_IA32_APIC_BASE:
		*value = dev_platform_apic_base(vm->plat);
		return true;
	case MSR_IA32_TSC_DEADLINE:
		*value = dev_platform_tsc_deadline(vm->plat);
		return true;
	case MSR_IA32_SYSENTER_CS:
		*value = v->sysenter_cs;
		return true;
	case MSR_IA32_SYSENTER_ESP:
		*value = v->sysenter_esp;
		return true;
	case MSR_IA32_SYSENTER_EIP:
		*value = v->sysenter_eip;
		return true;
	case MSR_IA32_MISC_ENABLE:
		*value = MISC_FIXED | (v->misc_enable & MISC_WRITABLE);
		return true;
	case MSR_IA32_PAT:
		*value = v->pat;
		return true;
	case MSR_IA32_EFER:
		*value = v->efer;
		return true;
	case MSR_IA32_ARCH_CAPABILITIES:
		*value = ARCH_CAP_RDCL_NO;
		return true;
	default:
		return false;
	}
}

/*
 * Write `value` to MSR `msr`. Return false for an MSR the virtual CPU does
 * not have, a read-only one, or a value with reserved bits set (the caller
 * raises #GP(0)).
 */
bool mon_wrmsr(struct mon_vm *vm, uint32_t msr, uint64_t value)
{
	struct vcpu *v = &vm->vcpu;

	switch (msr) {
	case MSR_IA32_TSC:
		/* Later reads continue from `value`; unsigned wrap-around
		 * makes any value reachable. */
		v->tsc_offset = value - __builtin_ia32_rdtsc();
		return true;
	case MSR_IA32_APIC_BASE:
		return dev_platform_set_apic_base(vm->plat, value);
	case MSR_IA32_TSC_DEADLINE:
		dev_platform_set_tsc_deadline(vm->plat, value);
		return true;
	case MSR_IA32_BIOS_SIGN_ID:
		/* Writing 0 before CPUID(1) is how the microcode revision is
		 * read; there is nothing to update, so any write is ignored. */
		return true;
	case MSR_IA32_SYSENTER_CS:
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP: {
		/* A CPU without long mode has 32-bit SYSENTER MSRs, and
		 * SYSENTER/SYSEXIT use only the low 32 bits: drop EDX. */
		uint64_t low = value & 0xffffffffu;
		if (msr == MSR_IA32_SYSENTER_CS)
			v->sysenter_cs = low;
		else if (msr == MSR_IA32_SYSENTER_ESP)
			v->sysenter_esp = low;
		else
			v->sysenter_eip = low;
		return true;
	}
	case MSR_IA32_MISC_ENABLE:
		if (value & ~(MISC_FIXED | MISC_WRITABLE))
			return false;
		v->misc_enable = value & MISC_WRITABLE;
		return true;
	case MSR_IA32_PAT:
		if (!pat_valid(value))
			return false;
		v->pat = value;
		return true;
	case MSR_IA32_EFER:
		/* SCE, LME and LMA are reserved on a CPU without SYSCALL
		 * or long mode. NXE changes what the page walk allows. */
		if (value & ~(uint64_t)EFER_NXE)
			return false;
		v->efer = value;
		mon_sync_mode(vm);
		return true;
	default:
		/* IA32_PLATFORM_ID and IA32_ARCH_CAPABILITIES are
		 * read-only; the rest do not exist. */
		return false;
	}
}

/* The guest's TSC: the host's, moved by the offset its TSC writes set. */
uint64_t mon_guest_tsc(struct mon_vm *vm)
{
	return __builtin_ia32_rdtsc() + vm->vcpu.tsc_offset;
}
