/* bt: PUSH, POP and LEAVE rewritten to 32-bit stack operations. */
#include "bt_private.h"

#include "invariant.h"

/*
 * In 64-bit mode PUSH/POP move 8 bytes through RSP. The guest's are 4 (or
 * 2) bytes through ESP, so each becomes a 32-bit-addressed move at
 * [esp + lag ...] and a change of the lag (bt_private.h: the lagging stack
 * pointer); the translator settles the lag with one LEA on ESP where it
 * must (LEA leaves the flags alone; a 32-bit write to ESP zero-extends
 * RSP, which keeps every stack address in the S-view).
 *
 * NB: the fault handler relies on the memory access coming *first* in each
 * sequence, before ESP or any guest register changes: a fault anywhere in
 * the sequence then leaves precise guest state.
 */

#define R14 6 /* r14's low three bits; REX.R or REX.B selects the high set */

/* ESP moves by d: the lag takes it */
static void emit_adjust_esp(struct bt_emit *e, int32_t d)
{
	e->esp_lag += d;
}

/* [esp + d] as ModRM (mod 00 or 01, rm 100) + SIB 0x24 (+ disp8), reg field r */
static void emit_esp_operand(struct bt_emit *e, unsigned r, int32_t d)
{
	BTVMM_CHECK(d >= -128 && d <= 127);
	emit_u8(e, (uint8_t)((d ? 0x44 : 0x04) | (r & 7) << 3));
	emit_u8(e, 0x24);
	if (d)
		emit_u8(e, (uint8_t)(int8_t)d);
}

/* mov [esp + lag - size], reg  (reg: 0-7 guest, or R14 with rex_r) */
static void emit_store_below_esp(struct bt_emit *e, unsigned size, unsigned reg,
				 bool rex_r)
{
	if (size == 2)
		emit_u8(e, 0x66);
	emit_view(e);
	emit_u8(e, 0x67);
	if (rex_r)
		emit_u8(e, 0x44);
	emit_u8(e, 0x89);
	emit_esp_operand(e, reg, e->esp_lag - (int32_t)size);
}

/* Load the (non-stack) memory operand of `in` into r14 (size 2 or 4). */
static void emit_load_r14(struct bt_emit *e, const struct bt_insn *in,
			  unsigned size)
{
	emit_mem_access(e, in, size == 2, (const uint8_t[]){ 0x8b }, 1, 8 + R14, 0);
}

/* mov dword [esp + lag - 4], imm32 ; the lag moves by -4 */
static void emit_push_imm_lagged(struct bt_emit *e, uint32_t v)
{
	emit_view(e);
	emit_bytes(e, (const uint8_t[]){ 0x67, 0xc7 }, 2);
	emit_esp_operand(e, 0, e->esp_lag - 4);
	emit_u32(e, v);
	emit_adjust_esp(e, -4);
}

void emit_push_imm32(struct bt_emit *e, uint32_t v)
{
	emit_push_imm_lagged(e, v);
	emit_esp_settle(e);
}

static bool emit_push(struct bt_tx *tx, const struct bt_insn *in)
{
	struct bt_emit *e = &tx->e;
	const ZydisDecodedOperand *op = &in->ops[0];
	unsigned size = in->zi.operand_width / 8;
	if (size != 2 && size != 4)
		return false;
	switch (op->type) {
	case ZYDIS_OPERAND_TYPE_REGISTER: {
		ZydisRegister r = op->reg.value;
		ZydisRegister base = size == 4 ? ZYDIS_REGISTER_EAX : ZYDIS_REGISTER_AX;
		if (r < base || r > base + 7)
			return false; /* segment registers: emulated */
		emit_store_below_esp(e, size, (unsigned)(r - base), false);
		break;
	}
	case ZYDIS_OPERAND_TYPE_IMMEDIATE:
		if (size == 4) {
			emit_push_imm_lagged(e, (uint32_t)op->imm.value.u);
			return true;
		}
		emit_u8(e, 0x66);
		emit_view(e);
		emit_bytes(e, (const uint8_t[]){ 0x67, 0xc7 }, 2);
		emit_esp_operand(e, 0, e->esp_lag - 2);
		emit_u8(e, (uint8_t)op->imm.value.u);
		emit_u8(e, (uint8_t)(op->imm.value.u >> 8));
		break;
	case ZYDIS_OPERAND_TYPE_MEMORY:
		if (in->zi.address_width != 32)
			return false;
		emit_load_r14(e, in, size);
		emit_store_below_esp(e, size, R14, true);
		break;
	default:
		return false;
	}
	emit_adjust_esp(e, -(int32_t)size);
	return true;
}

static bool emit_pop(struct bt_tx *tx, const struct bt_insn *in)
{
	struct bt_emit *e = &tx->e;
	const ZydisDecodedOperand *op = &in->ops[0];
	const ZydisDecodedInstruction *zi = &in->zi;
	unsigned size = zi->operand_width / 8;
	if (size != 2 && size != 4)
		return false;
	if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		ZydisRegister base = size == 4 ? ZYDIS_REGISTER_EAX : ZYDIS_REGISTER_AX;
		ZydisRegister r = op->reg.value;
		if (r < base || r > base + 7)
			return false;
		unsigned n = (unsigned)(r - base);
		if (n == BT_ESP) {
			if (size == 2)
				return false; /* pop sp: emulated */
			/* pop esp: ESP = [ESP], the increment is overwritten
			 * (the translator settled the lag before: ESP is read) */
			BTVMM_CHECK(e->esp_lag == 0);
			emit_view(e);
			emit_bytes(e, (const uint8_t[]){ 0x67, 0x8b, 0x24, 0x24 }, 4);
			return true;
		}
		if (size == 2)
			emit_u8(e, 0x66);
		/* mov reg, [esp + lag] */
		emit_view(e);
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x8b }, 2);
		emit_esp_operand(e, n, e->esp_lag);
		emit_adjust_esp(e, (int32_t)size);
		return true;
	}
	if (op->type != ZYDIS_OPERAND_TYPE_MEMORY || zi->address_width != 32)
		return false;
	/* mov r14, [esp] ; mov [mem'], r14 ; then ESP moves by size. The
	 * architecture computes an ESP-based destination address after the
	 * increment, and the store comes before it here, so such a
	 * displacement grows by `size`. (No lag here: the translator settles
	 * it before a POP to memory.) */
	BTVMM_CHECK(e->esp_lag == 0);
	if (size == 2)
		emit_u8(e, 0x66);
	emit_view(e);
	emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x8b, 0x34, 0x24 }, 5);
	if (emit_is_fsgs(in)) {
		emit_mem_access(e, in, size == 2, (const uint8_t[]){ 0x89 }, 1, 8 + R14,
				op->mem.base == ZYDIS_REGISTER_ESP ? (int32_t)size : 0);
		emit_adjust_esp(e, (int32_t)size);
		return true;
	}
	if (size == 2)
		emit_u8(e, 0x66);
	emit_view(e);
	emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x89 }, 3);
	if (op->mem.base == ZYDIS_REGISTER_ESP) {
		/* [esp + index*s + disp] -> disp32 form with disp + size */
		const uint8_t *m = in->bytes + zi->raw.modrm.offset;
		emit_u8(e, (uint8_t)(0x80 | R14 << 3 | 4));
		emit_u8(e, m[1]); /* SIB: base esp, index as before */
		emit_u32(e, (uint32_t)op->mem.disp.value + size); /* wraps as the guest's */
	} else {
		emit_modrm_mem(e, in, R14);
	}
	emit_adjust_esp(e, (int32_t)size);
	return true;
}

static bool emit_leave(struct bt_tx *tx, const struct bt_insn *in)
{
	if (in->zi.operand_width != 32)
		return false;
	/* mov r14d, [ebp] ; lea esp, [ebp+4] ; mov ebp, r14d */
	emit_view(&tx->e);
	emit_bytes(&tx->e, (const uint8_t[]){ 0x67, 0x44, 0x8b, 0x75, 0x00,
					      0x67, 0x8d, 0x65, 0x04,
					      0x44, 0x89, 0xf5 }, 12);
	return true;
}

bool emit_stack(struct bt_tx *tx, const struct bt_insn *in)
{
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_PUSH:
		return emit_push(tx, in);
	case ZYDIS_MNEMONIC_POP:
		return emit_pop(tx, in);
	case ZYDIS_MNEMONIC_LEAVE:
		return emit_leave(tx, in);
	default:
		return false;
	}
}
