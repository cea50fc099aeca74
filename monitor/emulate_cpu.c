/* monitor: emulation of the instructions that reach the CPU's own state: MOV to and from control and debug registers (with the PAE PDPTE loads), CPUID, RDMSR/WRMSR, RDTSC, CLTS, INVD/WBINVD, HLT, SYSENTER, SYSEXIT. */
#include <string.h>

#include "emulate.h"

/* ---- control registers, CPU identification, MSRs ---- */

/* CR4 bits the virtual CPU accepts: TSD DE PSE PAE MCE PGE PCE OSFXSR
 * OSXMMEXCPT. VME and PVI are not virtualized and raise #GP. */
#define CR4_KNOWN (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | \
		   CR4_OSFXSR | CR4_OSXMMEXCPT)

bool mon_load_pdptes(struct mon_vm *vm, uint32_t cr0, uint32_t cr3, uint32_t cr4)
{
	uint64_t pdpte[4];
	if (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE))
		return true;
	if (!smm_pae_load_pdptes(vm->ram, vm->ram_size, cr3, pdpte))
		return false;
	memcpy(vm->vcpu.pdpte, pdpte, sizeof pdpte);
	return true;
}

/* A MOV to CR0/CR3/CR4 that leaves PAE paging on loads the PDPTEs when it
 * writes CR3, or changes CR0.PG/CD/NW or CR4.PAE/PGE/PSE; a bad one is #GP. */
static bool mov_cr_pdptes(struct mon_vm *vm, uint32_t cr0, uint32_t cr3, uint32_t cr4,
			  bool cr3_written, struct mon_fault *f)
{
	const struct vcpu *v = &vm->vcpu;
	bool reload = cr3_written || ((cr0 ^ v->cr0) & (CR0_PG | CR0_CD | CR0_NW)) ||
		      ((cr4 ^ v->cr4) & (CR4_PAE | CR4_PGE | CR4_PSE));
	if (!reload || mon_load_pdptes(vm, cr0, cr3, cr4))
		return true;
	mon_fault_set(f, EXC_GP, true, 0);
	return false;
}

enum emu_result emu_mov_cr(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	bool to_cr = ZydisRegisterGetClass(dst->reg.value) == ZYDIS_REGCLASS_CONTROL;
	ZydisRegister crreg = to_cr ? dst->reg.value : src->reg.value;
	int n = ZydisRegisterGetId(crreg);
	if (mon_cpl(v) != 0) {
		mon_fault_set(f, EXC_GP, true, 0);
		return EMU_FAULT;
	}
	if (!to_cr) {
		uint32_t val;
		switch (n) {
		case 0: val = v->cr0; break;
		case 2: val = v->cr2; break;
		case 3: val = v->cr3; break;
		case 4: val = v->cr4; break;
		default:
			mon_fault_set(f, EXC_UD, false, 0);
			return EMU_FAULT;
		}
		emu_set_reg(vm, dst->reg.value, val);
		return EMU_NEXT;
	}
	uint32_t val = emu_get_reg(vm, src->reg.value);
	switch (n) {
	case 0:
		if ((val & CR0_PG && !(val & CR0_PE)) || (val & CR0_NW && !(val & CR0_CD))) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		if (!(val & CR0_PE)) {
			mon_stop(vm, MON_EXIT_UNSUPPORTED,
				 "unsupported: the guest left protected mode at EIP %#x",
				 in->eip);
			return EMU_STOPPED;
		}
		if (!mov_cr_pdptes(vm, val | CR0_ET, v->cr3, v->cr4, false, f))
			return EMU_FAULT;
		v->cr0 = val | CR0_ET;
		mon_sync_mode(vm);
		return EMU_NEXT;
	case 2:
		v->cr2 = val;
		return EMU_NEXT;
	case 3:
		if (!mov_cr_pdptes(vm, v->cr0, val, v->cr4, true, f))
			return EMU_FAULT;
		v->cr3 = val;
		mon_sync_mode(vm);
		return EMU_NEXT;
	case 4:
		if (val & ~CR4_KNOWN) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		if (!mov_cr_pdptes(vm, v->cr0, v->cr3, val, false, f))
			return EMU_FAULT;
		v->cr4 = val;
		mon_sync_mode(vm);
		return EMU_NEXT;
	default:
		mon_fault_set(f, EXC_UD, false, 0);
		return EMU_FAULT;
	}
}

enum emu_result emu_mov_dr(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	bool to_dr = ZydisRegisterGetClass(dst->reg.value) == ZYDIS_REGCLASS_DEBUG;
	int n = ZydisRegisterGetId(to_dr ? dst->reg.value : src->reg.value);
	if (mon_cpl(v) != 0) {
		mon_fault_set(f, EXC_GP, true, 0);
		return EMU_FAULT;
	}
	if (n == 4 || n == 5) { /* aliases of DR6/DR7 while CR4.DE is clear */
		if (v->cr4 & CR4_DE) {
			mon_fault_set(f, EXC_UD, false, 0);
			return EMU_FAULT;
		}
		n += 2;
	}
	if (!to_dr) {
		emu_set_reg(vm, dst->reg.value, v->dr[n]);
		return EMU_NEXT;
	}
	uint32_t val = emu_get_reg(vm, src->reg.value);
	if (n == 6)
		val = (val & 0x0000e00fu) | 0xffff0ff0u; /* reserved bits read as 1 */
	else if (n == 7)
		val = (val & 0xffff2bffu) | 0x400u;
	v->dr[n] = val;
	return EMU_NEXT;
}

enum emu_result emu_cpu(struct mon_vm *vm, const struct emu_insn *in,
			struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	unsigned cpl = mon_cpl(v);
	uint32_t val;
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_CPUID: {
		uint32_t out[4];
		mon_cpuid(vm, cpu->gpr[BT_EAX], cpu->gpr[BT_ECX], out);
		cpu->gpr[BT_EAX] = out[0];
		cpu->gpr[BT_EBX] = out[1];
		cpu->gpr[BT_ECX] = out[2];
		cpu->gpr[BT_EDX] = out[3];
		return EMU_NEXT;
	}
	case ZYDIS_MNEMONIC_RDTSC: {
		if (cpl > 0 && (v->cr4 & CR4_TSD)) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		uint64_t t = mon_guest_tsc(vm);
		cpu->gpr[BT_EAX] = (uint32_t)t;
		cpu->gpr[BT_EDX] = (uint32_t)(t >> 32);
		return EMU_NEXT;
	}
	case ZYDIS_MNEMONIC_RDMSR:
	case ZYDIS_MNEMONIC_WRMSR: {
		uint64_t x = (uint64_t)cpu->gpr[BT_EDX] << 32 | cpu->gpr[BT_EAX];
		bool ok;
		if (cpl != 0)
			ok = false;
		else if (in->zi.mnemonic == ZYDIS_MNEMONIC_RDMSR)
			ok = mon_rdmsr(vm, cpu->gpr[BT_ECX], &x);
		else if ((ok = mon_wrmsr(vm, cpu->gpr[BT_ECX], x)))
			mon_sync_mode(vm); /* a TSC write ends native RDTSC */
		if (!ok) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		cpu->gpr[BT_EAX] = (uint32_t)x;
		cpu->gpr[BT_EDX] = (uint32_t)(x >> 32);
		return EMU_NEXT;
	}
	case ZYDIS_MNEMONIC_RDPMC:
		/* CPUID claims no performance counters (leaf 0xa is beyond
		 * the maximum): after the privilege check, #UD, as QEMU's
		 * CPUs without a PMU raise. */
		if (cpl > 0 && !(v->cr4 & CR4_PCE)) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		mon_fault_set(f, EXC_UD, false, 0);
		return EMU_FAULT;
	case ZYDIS_MNEMONIC_HLT:
		if (cpl != 0) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		v->halted = true;
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_SMSW:
		val = v->cr0;
		if (in->ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY)
			return emu_write_op(vm, in, &in->ops[0], 2, val, f) ? EMU_NEXT
									     : EMU_FAULT;
		emu_set_reg(vm, in->ops[0].reg.value, in->zi.operand_width == 32 ? val : val & 0xffff);
		return EMU_NEXT;
	default:
		break;
	}
	/* The rest need CPL 0. */
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_LMSW:
	case ZYDIS_MNEMONIC_CLTS:
	case ZYDIS_MNEMONIC_INVLPG:
	case ZYDIS_MNEMONIC_INVD:
	case ZYDIS_MNEMONIC_WBINVD:
		if (cpl != 0) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		break;
	default:
		return EMU_UNHANDLED;
	}
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_LMSW:
		if (!emu_read_op(vm, in, &in->ops[0], 2, &val, f))
			return EMU_FAULT;
		/* loads PE MP EM TS; PE can be set but not cleared */
		v->cr0 = (v->cr0 & ~(CR0_MP | CR0_EM | CR0_TS)) | (val & (CR0_MP | CR0_EM | CR0_TS)) |
			 (v->cr0 & CR0_PE) | (val & CR0_PE);
		mon_sync_mode(vm);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_CLTS:
		v->cr0 &= ~CR0_TS;
		mon_sync_mode(vm);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_INVLPG:
		smm_invlpg(vm->smm, emu_linear(vm, in, &in->ops[0]));
		return EMU_NEXT;
	default: /* INVD, WBINVD: no guest-visible caches */
		return EMU_NEXT;
	}
}

/* SYSENTER at any CPL enters CPL 0 through the SYSENTER MSRs. */
static enum emu_result emu_sysenter(struct mon_vm *vm, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	if (!(v->cr0 & CR0_PE) || sel_null((uint16_t)v->sysenter_cs)) {
		mon_fault_set(f, EXC_GP, true, 0);
		return EMU_FAULT;
	}
	mon_sysenter_state(v);
	return EMU_JUMPED;
}

/* SYSEXIT: CPL 0 only; flat ring-3 segments at SYSENTER_CS + 16 and + 24,
 * EIP from EDX, ESP from ECX (SDM vol. 2). */
static enum emu_result emu_sysexit(struct mon_vm *vm, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	uint16_t base = (uint16_t)(v->sysenter_cs & ~SEL_RPL);
	if (mon_cpl(v) != 0 || !(v->cr0 & CR0_PE) || !base) {
		mon_fault_set(f, EXC_GP, true, 0);
		return EMU_FAULT;
	}
	mon_sysexit_state(v, v->cpu->gpr[BT_ECX], v->cpu->gpr[BT_EDX]);
	return EMU_JUMPED;
}

enum emu_result emu_sys(struct mon_vm *vm, const struct emu_insn *in, struct mon_fault *f)
{
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_SYSENTER:
		return emu_sysenter(vm, f);
	case ZYDIS_MNEMONIC_SYSEXIT:
		return emu_sysexit(vm, f);
	default:
		return EMU_UNHANDLED;
	}
}

void mon_sysenter_state(struct vcpu *v)
{
	uint16_t cs = (uint16_t)(v->sysenter_cs & ~SEL_RPL);
	v->seg[SEG_CS] = (struct mon_seg){ .sel = cs, .base = 0, .limit = 0xffffffff,
					   .attr = seg_attr_flat(DESC_TYPE_CODE_RA, 0) };
	v->seg[SEG_SS] = (struct mon_seg){ .sel = (uint16_t)(cs + 8), .base = 0,
					   .limit = 0xffffffff, .attr = seg_attr_flat(DESC_TYPE_DATA_WA, 0) };
	v->cpu->eflags &= ~(BT_FL_VM | BT_FL_IF | BT_FL_RF);
	v->cpu->gpr[BT_ESP] = (uint32_t)v->sysenter_esp;
	v->cpu->eip = (uint32_t)v->sysenter_eip;
}

void mon_sysexit_state(struct vcpu *v, uint32_t ecx, uint32_t edx)
{
	uint16_t base = (uint16_t)(v->sysenter_cs & ~SEL_RPL);
	v->seg[SEG_CS] = (struct mon_seg){ .sel = (uint16_t)((base + 16) | 3),
					   .limit = 0xffffffff, .attr = seg_attr_flat(DESC_TYPE_CODE_RA, 3) };
	v->seg[SEG_SS] = (struct mon_seg){ .sel = (uint16_t)((base + 24) | 3),
					   .limit = 0xffffffff, .attr = seg_attr_flat(DESC_TYPE_DATA_WA, 3) };
	v->cpu->gpr[BT_ESP] = ecx;
	v->cpu->eip = edx;
}

void mon_sysenter(struct mon_vm *vm)
{
	struct mon_fault f = { 0 };
	if (emu_sysenter(vm, &f) == EMU_FAULT)
		mon_deliver_fault(vm, &f);
}
