/* monitor: IA-32 instructions that are invalid or different in 64-bit mode (PUSHA POPA BOUND ARPL BCD SALC ENTER). */
#include "emulate.h"

/*
 * Every routine here makes all its checks and memory accesses before it
 * changes a register or a flag, so a fault leaves registers and flags as
 * they were at the instruction, which restarts cleanly once the guest has
 * handled it (as on hardware). Stack slots written below ESP before a
 * fault may stay written; they are not live guest state. The stack is
 * addressed here rather than through mon_push/mon_pop so that ESP is
 * committed only once everything succeeded.
 *
 * Flags the SDM calls undefined are set as measured on an Intel Xeon
 * (Sapphire Rapids class) running every input of these instructions
 * natively in 32-bit mode, so guests see what they would on a current Intel
 * CPU:
 *   DAA DAS  OF cleared.
 *   AAA AAS  AX adjusted as AX +/- 0x106 (the carry out of AL reaches AH);
 *            SF ZF PF from the final AL; OF cleared.
 *   AAM      OF CF AF cleared.
 *   AAD      OF CF AF as for ADD AL, (AH * imm8) & 0xff.
 * QEMU TCG differs: it leaves OF/SF/ZF/PF alone in AAA/AAS, for instance.
 */

/* ---- Flags ---- */

static void set_flag(struct bt_cpu *cpu, uint32_t bit, bool on)
{
	if (on)
		cpu->eflags |= bit;
	else
		cpu->eflags &= ~bit;
}

static uint8_t get_al(const struct bt_cpu *cpu)
{
	return (uint8_t)cpu->gpr[BT_EAX];
}

static uint8_t get_ah(const struct bt_cpu *cpu)
{
	return (uint8_t)(cpu->gpr[BT_EAX] >> 8);
}

static void set_al(struct bt_cpu *cpu, uint8_t al)
{
	cpu->gpr[BT_EAX] = (cpu->gpr[BT_EAX] & ~0xffu) | al;
}

static void set_ax(struct bt_cpu *cpu, uint16_t ax)
{
	cpu->gpr[BT_EAX] = (cpu->gpr[BT_EAX] & ~0xffffu) | ax;
}

/* ---- The stack segment ---- */

/* The width of the stack pointer follows SS.B, not the operand size. */
static uint32_t stack_mask(const struct vcpu *v)
{
	return seg_attr_db(v->seg[SEG_SS].attr) ? 0xffffffffu : 0xffffu;
}

/*
 * True if `size` bytes at offset `off` lie inside SS's limit. Expand-down
 * segments (data type bit 2) hold the offsets above the limit, up to 64 KiB
 * or 4 GiB by SS.B. An access that wraps past the top is outside.
 */
static bool stack_in_limit(const struct vcpu *v, uint32_t off, unsigned size)
{
	const struct mon_seg *ss = &v->seg[SEG_SS];
	uint32_t last = off + size - 1;

	if (last < off)
		return false;
	if (seg_attr_type(ss->attr) & DESC_TYPE_EXPDOWN)
		return off > ss->limit && last <= stack_mask(v);
	return last <= ss->limit;
}

/* Set *f to #SS(0) unless `size` bytes at SS:off are inside the limit. */
static bool stack_check(struct mon_vm *vm, uint32_t off, unsigned size,
			struct mon_fault *f)
{
	if (stack_in_limit(&vm->vcpu, off, size))
		return true;
	mon_fault_set(f, EXC_SS, true, 0);
	return false;
}

/* Read/write `size` (2 or 4) bytes at SS:off; the caller checked the limit. */
static bool stack_read(struct mon_vm *vm, uint32_t off, unsigned size,
		       uint32_t *value, struct mon_fault *f)
{
	uint32_t v = 0; /* the guest is little-endian, like the host */

	if (!mon_read(vm, vm->vcpu.seg[SEG_SS].base + off, &v, size, f))
		return false;
	*value = v;
	return true;
}

static bool stack_write(struct mon_vm *vm, uint32_t off, unsigned size,
			uint32_t value, struct mon_fault *f)
{
	return mon_write(vm, vm->vcpu.seg[SEG_SS].base + off, &value, size, f);
}

/* ESP with its stack-pointer part (SP or ESP, by SS.B) replaced by `sp`. */
static uint32_t stack_pointer_with(const struct vcpu *v, uint32_t esp,
				   uint32_t sp)
{
	uint32_t mask = stack_mask(v);

	return (esp & ~mask) | (sp & mask);
}

/* Operand size in bytes: 2 or 4 (Zydis reports 16 or 32 bits). */
static unsigned operand_bytes(const struct emu_insn *in)
{
	return in->zi.operand_width == 16 ? 2 : 4;
}

/* ---- PUSHA/PUSHAD, POPA/POPAD ---- */

/* Push EAX, ECX, EDX, EBX, the original ESP, EBP, ESI, EDI (or their low
 * words). Limits are checked for all eight slots before anything is written,
 * as the SDM's #SS(0) clause ("starting or ending stack address") says. */
static enum emu_result emulate_pusha(struct mon_vm *vm, const struct emu_insn *in,
				     struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	unsigned size = operand_bytes(in);
	uint32_t mask = stack_mask(&vm->vcpu);
	uint32_t esp = cpu->gpr[BT_ESP];

	for (unsigned i = 0; i < 8; i++)
		if (!stack_check(vm, (esp - size * (i + 1)) & mask, size, f))
			return EMU_FAULT;
	for (unsigned i = 0; i < 8; i++) {
		/* gpr[BT_ESP] still holds the value before the instruction. */
		if (!stack_write(vm, (esp - size * (i + 1)) & mask, size,
				 cpu->gpr[i], f))
			return EMU_FAULT;
	}
	cpu->gpr[BT_ESP] = stack_pointer_with(&vm->vcpu, esp, esp - 8 * size);
	return EMU_NEXT;
}

/* Pop EDI, ESI, EBP, (skip the ESP slot), EBX, EDX, ECX, EAX. With a 16-bit
 * operand size only the low words change. */
static enum emu_result emulate_popa(struct mon_vm *vm, const struct emu_insn *in,
				    struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	unsigned size = operand_bytes(in);
	uint32_t mask = stack_mask(&vm->vcpu);
	uint32_t esp = cpu->gpr[BT_ESP];
	uint32_t value[8] = {0};

	for (unsigned i = 0; i < 8; i++)
		if (!stack_check(vm, (esp + size * i) & mask, size, f))
			return EMU_FAULT;
	/* Slot i from the top of the stack holds register 7 - i (EDI first). */
	for (unsigned i = 0; i < 8; i++) {
		if (7 - i == BT_ESP)
			continue; /* the saved ESP is skipped, not read */
		if (!stack_read(vm, (esp + size * i) & mask, size, &value[7 - i], f))
			return EMU_FAULT;
	}
	for (unsigned r = 0; r < 8; r++) {
		if (r == BT_ESP)
			continue;
		cpu->gpr[r] = size == 4 ? value[r]
			: (cpu->gpr[r] & 0xffff0000u) | (value[r] & 0xffffu);
	}
	cpu->gpr[BT_ESP] = stack_pointer_with(&vm->vcpu, esp, esp + 8 * size);
	return EMU_NEXT;
}

/* ---- BOUND, ARPL ---- */

static int32_t sign_extend(uint32_t v, unsigned size)
{
	return size == 2 ? (int32_t)(int16_t)v : (int32_t)v;
}

/* BOUND r, m: #BR unless lower <= r <= upper (signed), the bounds being
 * the two operand-size words at m. The register form is #UD (in 32-bit
 * mode Zydis decodes it as an EVEX prefix, so it should not arrive). */
static enum emu_result emulate_bound(struct mon_vm *vm, const struct emu_insn *in,
				     struct mon_fault *f)
{
	const ZydisDecodedOperand *bounds = &in->ops[1];
	unsigned size = operand_bytes(in);
	uint32_t lower, upper;

	if (bounds->type != ZYDIS_OPERAND_TYPE_MEMORY) {
		mon_fault_set(f, EXC_UD, false, 0);
		return EMU_FAULT;
	}
	/* The upper bound is the same operand `size` bytes further on, read
	 * through emu_read_op so that it gets the same segment treatment. */
	ZydisDecodedOperand upper_op = *bounds;
	upper_op.size = (ZyanU16)(size * 8);
	upper_op.mem.disp.has_displacement = ZYAN_TRUE;
	upper_op.mem.disp.value += size;
	if (!emu_read_op(vm, in, bounds, size, &lower, f) ||
	    !emu_read_op(vm, in, &upper_op, size, &upper, f))
		return EMU_FAULT;

	int32_t index = sign_extend(emu_get_reg(vm, in->ops[0].reg.value), size);
	if (index < sign_extend(lower, size) || index > sign_extend(upper, size)) {
		mon_fault_set(f, EXC_BR, false, 0);
		return EMU_FAULT;
	}
	return EMU_NEXT;
}

/* ARPL r/m16, r16: raise the destination selector's RPL to the source's,
 * ZF telling whether it changed. Protected mode only. The destination is
 * written back even when unchanged: the SDM raises #GP(0) for a
 * non-writable destination either way (QEMU writes back too). */
static enum emu_result emulate_arpl(struct mon_vm *vm, const struct emu_insn *in,
				    struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint32_t dest;

	if (!(vm->vcpu.cr0 & CR0_PE) || (cpu->eflags & BT_FL_VM)) {
		mon_fault_set(f, EXC_UD, false, 0);
		return EMU_FAULT;
	}
	if (!emu_read_op(vm, in, &in->ops[0], 2, &dest, f))
		return EMU_FAULT;
	uint32_t src_rpl = sel_rpl(emu_get_reg(vm, in->ops[1].reg.value));
	bool adjust = sel_rpl(dest) < src_rpl;
	if (adjust)
		dest = (dest & ~SEL_RPL) | src_rpl;
	if (!emu_write_op(vm, in, &in->ops[0], 2, dest & 0xffffu, f))
		return EMU_FAULT;
	set_flag(cpu, BT_FL_ZF, adjust);
	return EMU_NEXT;
}

/* ---- BCD adjustments (SDM pseudocode; undefined flags per the top comment) ---- */

static void emulate_daa(struct mon_vm *vm)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint8_t old_al = get_al(cpu), al = old_al;
	bool old_cf = cpu->eflags & BT_FL_CF, cf, af = false;

	/* The SDM also computes CF in this first step, but the second step
	 * always overwrites it. */
	if ((al & 0xf) > 9 || (cpu->eflags & BT_FL_AF)) {
		al += 6;
		af = true;
	}
	cf = old_al > 0x99 || old_cf;
	if (cf)
		al += 0x60;
	set_al(cpu, al);
	emu_set_szp(vm, al, 1);
	set_flag(cpu, BT_FL_CF, cf);
	set_flag(cpu, BT_FL_AF, af);
	set_flag(cpu, BT_FL_OF, false);
}

static void emulate_das(struct mon_vm *vm)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint8_t old_al = get_al(cpu), al = old_al;
	bool old_cf = cpu->eflags & BT_FL_CF, cf = false, af = false;

	if ((al & 0xf) > 9 || (cpu->eflags & BT_FL_AF)) {
		cf = old_cf || al < 6;
		al -= 6;
		af = true;
	}
	/* Unlike DAA, CF keeps the first step's value when this one is not taken. */
	if (old_al > 0x99 || old_cf) {
		al -= 0x60;
		cf = true;
	}
	set_al(cpu, al);
	emu_set_szp(vm, al, 1);
	set_flag(cpu, BT_FL_CF, cf);
	set_flag(cpu, BT_FL_AF, af);
	set_flag(cpu, BT_FL_OF, false);
}

/* AAA (add) and AAS (subtract): unpacked BCD adjust of AX after the
 * operation. */
static void emulate_aaa_aas(struct mon_vm *vm, bool subtract)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint16_t ax = (uint16_t)cpu->gpr[BT_EAX];
	bool adjust = (get_al(cpu) & 0xf) > 9 || (cpu->eflags & BT_FL_AF);

	if (adjust)
		ax = subtract ? (uint16_t)(ax - 0x106) : (uint16_t)(ax + 0x106);
	ax &= 0xff0f;
	set_ax(cpu, ax);
	emu_set_szp(vm, ax & 0xff, 1);
	set_flag(cpu, BT_FL_CF, adjust);
	set_flag(cpu, BT_FL_AF, adjust);
	set_flag(cpu, BT_FL_OF, false);
}

/* AAM imm8: AH = AL / imm8, AL = AL % imm8; #DE for imm8 = 0. */
static enum emu_result emulate_aam(struct mon_vm *vm, uint8_t base,
				   struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint8_t al = get_al(cpu);

	if (base == 0) {
		mon_fault_set(f, EXC_DE, false, 0);
		return EMU_FAULT;
	}
	set_ax(cpu, (uint16_t)((al / base) << 8 | (al % base)));
	emu_set_szp(vm, al % base, 1);
	set_flag(cpu, BT_FL_CF, false);
	set_flag(cpu, BT_FL_AF, false);
	set_flag(cpu, BT_FL_OF, false);
	return EMU_NEXT;
}

/* AAD imm8: AL = AL + AH * imm8 (mod 256), AH = 0; the hardware does it as
 * an 8-bit ADD and its flags show it. */
static void emulate_aad(struct mon_vm *vm, uint8_t base)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint8_t al = get_al(cpu);
	uint8_t addend = (uint8_t)(get_ah(cpu) * base);
	unsigned sum = (unsigned)al + addend;
	uint8_t result = (uint8_t)sum;

	set_ax(cpu, result);
	emu_set_szp(vm, result, 1);
	set_flag(cpu, BT_FL_CF, sum > 0xff);
	set_flag(cpu, BT_FL_AF, (al ^ addend ^ result) & 0x10);
	set_flag(cpu, BT_FL_OF, ~(al ^ addend) & (al ^ result) & 0x80);
}

/* ---- ENTER ---- */

/*
 * ENTER alloc, level (SDM "ENTER", QEMU gen_enter): push EBP; with
 * level > 0 copy level - 1 frame pointers from the old frame at EBP and
 * push the new frame pointer; EBP = the new frame; ESP = below the copies,
 * minus alloc. Slots are operand-size wide; offsets wrap at the stack
 * pointer width (SS.B), which also decides whether EBP or only BP changes.
 * The SDM raises #SS(0) when the new ESP is outside the limit: the slots
 * written and read are checked, and the lowest allocated byte when
 * alloc > 0, all before the first write.
 */
static enum emu_result emulate_enter(struct mon_vm *vm, const struct emu_insn *in,
				     struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	const struct vcpu *v = &vm->vcpu;
	/* Zydis lists the visible operands first: imm16 then imm8. */
	uint32_t alloc = (uint32_t)in->ops[0].imm.value.u & 0xffffu;
	unsigned level = (unsigned)in->ops[1].imm.value.u & 31;
	unsigned size = operand_bytes(in);
	uint32_t mask = stack_mask(v);
	uint32_t esp = cpu->gpr[BT_ESP], ebp = cpu->gpr[BT_EBP];
	uint32_t frame = (esp - size) & mask;
	uint32_t new_sp = (frame - size * level - alloc) & mask;

	for (unsigned i = 0; i <= level; i++)
		if (!stack_check(vm, (frame - size * i) & mask, size, f))
			return EMU_FAULT;
	for (unsigned i = 1; i < level; i++)
		if (!stack_check(vm, (ebp - size * i) & mask, size, f))
			return EMU_FAULT;
	if (alloc && !stack_check(vm, new_sp, 1, f))
		return EMU_FAULT;

	if (!stack_write(vm, frame, size, ebp, f))
		return EMU_FAULT;
	if (level > 0) {
		for (unsigned i = 1; i < level; i++) {
			uint32_t src = (ebp - size * i) & mask, link;
			if (!stack_read(vm, src, size, &link, f) ||
			    !stack_write(vm, (frame - size * i) & mask, size, link, f))
				return EMU_FAULT;
		}
		if (!stack_write(vm, (frame - size * level) & mask, size, frame, f))
			return EMU_FAULT;
	}
	cpu->gpr[BT_EBP] = stack_pointer_with(v, ebp, frame);
	cpu->gpr[BT_ESP] = stack_pointer_with(v, esp, new_sp);
	return EMU_NEXT;
}

/* ---- Dispatch ---- */

/*
 * Emulate one of PUSHA PUSHAD POPA POPAD BOUND ARPL DAA DAS AAA AAS AAM
 * AAD SALC ENTER. Return EMU_NEXT when done (the dispatcher advances EIP),
 * EMU_FAULT with *f set (nothing changed in registers or flags), or
 * EMU_UNHANDLED for any other instruction.
 */
enum emu_result emu_legacy(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;

	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_PUSHA:
	case ZYDIS_MNEMONIC_PUSHAD:
		return emulate_pusha(vm, in, f);
	case ZYDIS_MNEMONIC_POPA:
	case ZYDIS_MNEMONIC_POPAD:
		return emulate_popa(vm, in, f);
	case ZYDIS_MNEMONIC_BOUND:
		return emulate_bound(vm, in, f);
	case ZYDIS_MNEMONIC_ARPL:
		return emulate_arpl(vm, in, f);
	case ZYDIS_MNEMONIC_DAA:
		emulate_daa(vm);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_DAS:
		emulate_das(vm);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_AAA:
		emulate_aaa_aas(vm, false);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_AAS:
		emulate_aaa_aas(vm, true);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_AAM:
		/* The imm8 (10 in the plain D4 0A form) is operand 0. */
		return emulate_aam(vm, (uint8_t)in->ops[0].imm.value.u, f);
	case ZYDIS_MNEMONIC_AAD:
		emulate_aad(vm, (uint8_t)in->ops[0].imm.value.u);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_SALC:
		set_al(cpu, (cpu->eflags & BT_FL_CF) ? 0xff : 0x00);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_ENTER:
		return emulate_enter(vm, in, f);
	default:
		return EMU_UNHANDLED;
	}
}
