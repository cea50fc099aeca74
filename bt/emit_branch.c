/* bt: control flow: direct branches to chainable stubs, indirect ones to the lookup. */
#include "bt_private.h"


#define R14 6

/* Absolute target of a relative branch. */
static uint32_t branch_target(const struct bt_insn *in)
{
	ZyanU64 t = 0;
	ZydisCalcAbsoluteAddress(&in->zi, &in->ops[0], in->eip, &t);
	return (uint32_t)t;
}

/* r14d = the branch operand (register or memory); false if unsupported. */
static bool emit_target_to_r14(struct bt_emit *e, const struct bt_insn *in)
{
	const ZydisDecodedOperand *op = &in->ops[0];
	if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		ZydisRegister r = op->reg.value;
		if (r < ZYDIS_REGISTER_EAX || r > ZYDIS_REGISTER_EDI)
			return false;
		/* mov r14d, reg */
		emit_u8(e, 0x41);
		emit_u8(e, 0x89);
		emit_u8(e, (uint8_t)(0xc0 | (r - ZYDIS_REGISTER_EAX) << 3 | R14));
		return true;
	}
	if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && in->zi.address_width == 32) {
		/* mov r14d, [mem] */
		emit_mem_access(e, in, false, (const uint8_t[]){ 0x8b }, 1, 8 + R14, 0);
		return true;
	}
	return false;
}

/* A single-step block must not run on into the lookup: it stops with the
 * target in eip instead. */
static void emit_indirect(struct bt_tx *tx)
{
	struct bt_emit *e = &tx->e;
	if (!tx->bt->single) {
		emit_jmp_ibl(e);
		return;
	}
	/* mov [r15+eip], r14d ; mov dword [r15+exit_reason], STEP ;
	 * mov qword [r15+exit_site], 0 ; jmp [r15+exit_common] */
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x89, 0x77, BT_CPU_EIP }, 4);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xc7, 0x47, BT_CPU_EXIT_REASON }, 4);
	emit_u32(e, BT_EXIT_STEP);
	emit_bytes(e, (const uint8_t[]){ 0x49, 0xc7, 0x47, BT_CPU_EXIT_SITE }, 4);
	emit_u32(e, 0);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xff, 0x67, BT_CPU_EXIT_COMMON }, 4);
}

bool emit_branch(struct bt_tx *tx, const struct bt_insn *in)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	struct bt_emit *e = &tx->e;
	uint8_t op = in->bytes[zi->raw.prefix_count];

	if (zi->operand_width != 32 && zi->mnemonic != ZYDIS_MNEMONIC_JECXZ &&
	    zi->mnemonic != ZYDIS_MNEMONIC_LOOP &&
	    zi->mnemonic != ZYDIS_MNEMONIC_LOOPE &&
	    zi->mnemonic != ZYDIS_MNEMONIC_LOOPNE)
		return false; /* 16-bit EIP truncation: emulated */
	tx->end = true;

	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_JMP:
		if (in->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			emit_jump_to(tx, branch_target(in));
			return true;
		}
		if (!emit_target_to_r14(e, in))
			return false;
		emit_indirect(tx);
		return true;

	case ZYDIS_MNEMONIC_CALL:
		if (in->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			emit_push_imm32(e, in->next_eip);
			emit_jump_to(tx, branch_target(in));
			return true;
		}
		/* The target is read before the push: `call [esp]` and
		 * `call esp` use the old ESP, and a faulting read is precise. */
		if (!emit_target_to_r14(e, in))
			return false;
		emit_push_imm32(e, in->next_eip);
		emit_indirect(tx);
		return true;

	case ZYDIS_MNEMONIC_RET: {
		uint32_t pop = 4;
		if (zi->operand_count_visible > 0 &&
		    in->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			pop += (uint32_t)(in->ops[0].imm.value.u & 0xffff);
		/* mov r14d, [esp] ; lea esp, [esp + pop] */
		emit_view(e);
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x8b, 0x34, 0x24 }, 5);
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x8d, 0xa4, 0x24 }, 4);
		emit_u32(e, pop);
		emit_indirect(tx);
		return true;
	}

	case ZYDIS_MNEMONIC_JECXZ:
	case ZYDIS_MNEMONIC_LOOP:
	case ZYDIS_MNEMONIC_LOOPE:
	case ZYDIS_MNEMONIC_LOOPNE:
		if (zi->address_width != 32 || zi->operand_width != 32)
			return false; /* CX-based forms: emulated */
		/* 67 <op> +5 ; jmp fallthrough ; jmp taken -- with the
		 * address-size prefix the count register is ECX, as in the
		 * guest. */
		emit_u8(e, 0x67);
		emit_u8(e, op);
		emit_u8(e, 5);
		emit_jump_to(tx, in->next_eip);
		emit_jump_to(tx, branch_target(in));
		return true;

	default:
		if (zi->meta.category == ZYDIS_CATEGORY_COND_BR) {
			unsigned cc = op == 0x0f ? in->bytes[zi->raw.prefix_count + 1]
						 : op;
			emit_jcc_to(tx, cc & 15, branch_target(in));
			emit_jump_to(tx, in->next_eip);
			return true;
		}
		tx->end = false;
		return false;
	}
}
