/* monitor: emulation of the instructions IOPL governs: PUSHF/POPF, CLI/STI, and port I/O (IN, OUT, INS, OUTS). */
#include "emulate.h"

/* ---- EFLAGS ---- */

/* Bits POPF may change at CPL 0 (VM, VIF, VIP and RF are never loaded). */
#define POPF_MASK (BT_FL_LIVE | BT_FL_TF | BT_FL_IF | BT_FL_IOPL | BT_FL_NT | \
		   BT_FL_AC | BT_FL_ID)

enum emu_result emu_flags(struct mon_vm *vm, const struct emu_insn *in,
				 struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	unsigned size = in->zi.operand_width / 8;
	unsigned cpl = mon_cpl(&vm->vcpu);
	unsigned iopl = (cpu->eflags & BT_FL_IOPL) >> 12;
	uint32_t v;
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_CLI:
	case ZYDIS_MNEMONIC_STI:
		if (cpl > iopl) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		if (in->zi.mnemonic == ZYDIS_MNEMONIC_CLI) {
			cpu->eflags &= ~BT_FL_IF;
		} else {
			/* STI: interrupts wait until after the next
			 * instruction ("sti; hlt" cannot miss a wakeup). */
			if (!(cpu->eflags & BT_FL_IF))
				vm->irq_shadow = true;
			cpu->eflags |= BT_FL_IF;
		}
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_PUSHF:
	case ZYDIS_MNEMONIC_PUSHFD:
		v = (cpu->eflags & ~(BT_FL_VM | BT_FL_RF)) | 2;
		return mon_push(vm, v & emu_size_mask(size), size, f) ? EMU_NEXT : EMU_FAULT;
	case ZYDIS_MNEMONIC_POPF:
	case ZYDIS_MNEMONIC_POPFD: {
		if (!mon_pop(vm, &v, size, f))
			return EMU_FAULT;
		uint32_t mask = POPF_MASK & emu_size_mask(size);
		if (cpl > 0)
			mask &= ~BT_FL_IOPL;
		if (cpl > iopl)
			mask &= ~BT_FL_IF;
		cpu->eflags = ((cpu->eflags & ~mask) | (v & mask) | 2) & ~BT_FL_RF;
		return EMU_NEXT;
	}
	default:
		return EMU_UNHANDLED;
	}
}

/* ---- I/O ---- */

/*
 * May the guest touch `size` ports from `port`? At CPL <= IOPL, yes; else
 * the 32-bit TSS's I/O permission bitmap decides (SDM vol. 1, 19.5.2):
 * every bit of the ports must be 0, and the two bytes holding them must
 * lie within the TSS's limit. A TSS the monitor cannot read means no.
 */
static bool io_allowed(struct mon_vm *vm, uint16_t port, unsigned size)
{
	const struct vcpu *v = &vm->vcpu;
	unsigned iopl = (vm->vcpu.cpu->eflags & BT_FL_IOPL) >> 12;
	if (mon_cpl(v) <= iopl)
		return true;
	unsigned type = seg_attr_type(v->tr.attr);
	if ((type != SYS_TSS32 && type != SYS_TSS32_BUSY) || v->tr.limit < TSS32_MIN_LIMIT)
		return false;
	struct mon_fault f = { 0 };
	uint32_t base = 0, bits = 0;
	if (!mon_read(vm, v->tr.base + offsetof(struct tss32, iomap_base), &base, 2, &f))
		return false;
	uint32_t at = base + port / 8u;
	if (at + 1 > v->tr.limit || !mon_read(vm, v->tr.base + at, &bits, 2, &f))
		return false;
	return !(bits & (((1u << size) - 1) << (port & 7)));
}

enum emu_result emu_io(struct mon_vm *vm, const struct emu_insn *in,
			      struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	const ZydisDecodedInstruction *zi = &in->zi;
	uint16_t checked = (uint16_t)cpu->gpr[BT_EDX]; /* the port: DX or imm8 */
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_IN: case ZYDIS_MNEMONIC_OUT: {
		const ZydisDecodedOperand *p = &in->ops[zi->mnemonic == ZYDIS_MNEMONIC_IN ? 1 : 0];
		if (p->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			checked = (uint16_t)p->imm.value.u;
	}
		/* fall through */
	case ZYDIS_MNEMONIC_INSB: case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD:
	case ZYDIS_MNEMONIC_OUTSB: case ZYDIS_MNEMONIC_OUTSW: case ZYDIS_MNEMONIC_OUTSD:
		if (!io_allowed(vm, checked, zi->operand_width / 8)) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		break;
	default:
		return EMU_UNHANDLED;
	}
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_IN: {
		unsigned size = zi->operand_width / 8;
		uint16_t port = in->ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE
					? (uint16_t)in->ops[1].imm.value.u
					: (uint16_t)cpu->gpr[BT_EDX];
		emu_set_reg(vm, in->ops[0].reg.value, dev_pio_in(vm->bus, port, size));
		return EMU_NEXT;
	}
	case ZYDIS_MNEMONIC_OUT: {
		unsigned size = zi->operand_width / 8;
		uint16_t port = in->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE
					? (uint16_t)in->ops[0].imm.value.u
					: (uint16_t)cpu->gpr[BT_EDX];
		dev_pio_out(vm->bus, port, size, emu_get_reg(vm, in->ops[1].reg.value));
		return EMU_NEXT;
	}
	default:
		break;
	}
	/* INS / OUTS, with or without REP. */
	bool is_in = zi->mnemonic == ZYDIS_MNEMONIC_INSB ||
		     zi->mnemonic == ZYDIS_MNEMONIC_INSW ||
		     zi->mnemonic == ZYDIS_MNEMONIC_INSD;
	bool is_out = zi->mnemonic == ZYDIS_MNEMONIC_OUTSB ||
		      zi->mnemonic == ZYDIS_MNEMONIC_OUTSW ||
		      zi->mnemonic == ZYDIS_MNEMONIC_OUTSD;
	if (!is_in && !is_out)
		return EMU_UNHANDLED;
	if (zi->address_width != 32)
		return EMU_UNHANDLED;
	unsigned size = zi->operand_width / 8;
	bool rep = zi->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
				     ZYDIS_ATTRIB_HAS_REPNE);
	int32_t step = (cpu->eflags & BT_FL_DF) ? -(int32_t)size : (int32_t)size;
	uint16_t port = (uint16_t)cpu->gpr[BT_EDX];
	int src_seg = SEG_DS;
	for (unsigned i = 0; i < zi->operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && is_out)
			src_seg = in->ops[i].mem.segment == ZYDIS_REGISTER_NONE
					  ? SEG_DS
					  : (int)ZydisRegisterGetId(in->ops[i].mem.segment);
	while (!rep || cpu->gpr[BT_ECX]) {
		uint32_t v;
		if (is_in) {
			v = dev_pio_in(vm->bus, port, size);
			if (!mon_write(vm, vm->vcpu.seg[SEG_ES].base + cpu->gpr[BT_EDI],
				       &v, size, f))
				return EMU_FAULT;
			cpu->gpr[BT_EDI] += (uint32_t)step;
		} else {
			v = 0;
			if (!mon_read(vm, vm->vcpu.seg[src_seg].base + cpu->gpr[BT_ESI],
				      &v, size, f))
				return EMU_FAULT;
			dev_pio_out(vm->bus, port, size, v);
			cpu->gpr[BT_ESI] += (uint32_t)step;
		}
		if (!rep)
			break;
		cpu->gpr[BT_ECX]--;
		if (vm->stop)
			return EMU_STOPPED;
	}
	return EMU_NEXT;
}
