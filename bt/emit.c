/* bt: low-level emitters: bytes, memory operands, exits and chainable stubs. */
#include "bt_private.h"

#include "invariant.h"
#include <string.h>

void emit_u8(struct bt_emit *e, uint8_t b)
{
	*e->p++ = b;
}

void emit_u32(struct bt_emit *e, uint32_t v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

void emit_bytes(struct bt_emit *e, const void *p, size_t n)
{
	memcpy(e->p, p, n);
	e->p += n;
}

bool emit_is_fsgs(const struct bt_insn *in)
{
	return in->has_mem && (in->zi.attributes & (ZYDIS_ATTRIB_HAS_SEGMENT_FS |
						    ZYDIS_ATTRIB_HAS_SEGMENT_GS));
}

void emit_view(struct bt_emit *e)
{
	if (e->user)
		emit_u8(e, 0x65);
}

/*
 * FS/GS-relative operands. Translated code never relies on the host's FS
 * and GS bases (hosts without FSGSBASE cannot set them cheaply, and a base
 * set with the instruction on such a host does not survive a context
 * switch): the linear address is computed inline, in 32 bits, so an
 * access that wraps past 4 GiB (i386 TLS at negative offsets) wraps as on
 * the guest's CPU and lands in the S-view like every other access:
 *
 *   lea r11d, [operand]            (or mov r11d, moffs32)
 *   lea r11d, [r11 + adjust]       (only if adjust != 0)
 *   mov r12, [r15 + fsbase/gsbase]
 *   lea r11d, [r11 + r12]          32-bit sum: wraps mod 4 GiB
 *
 * None of it touches flags, guest registers or memory, so a fault in the
 * access that follows is still precise at the guest instruction.
 */
void emit_fsgs_address(struct bt_emit *e, const struct bt_insn *in, int32_t adjust)
{
	bool gs = in->zi.attributes & ZYDIS_ATTRIB_HAS_SEGMENT_GS;
	if (in->zi.attributes & ZYDIS_ATTRIB_HAS_MODRM) {
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x8d }, 3);
		emit_modrm_mem(e, in, 3);
	} else {
		/* moffs: mov r11d, imm32 */
		emit_bytes(e, (const uint8_t[]){ 0x41, 0xbb }, 2);
		emit_u32(e, (uint32_t)in->zi.raw.disp.value);
	}
	if (adjust) {
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x45, 0x8d, 0x9b }, 4);
		emit_u32(e, (uint32_t)adjust);
	}
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x8b, 0x67,
					 gs ? BT_CPU_GSBASE : BT_CPU_FSBASE }, 4);
	emit_bytes(e, (const uint8_t[]){ 0x67, 0x47, 0x8d, 0x1c, 0x23 }, 5);
}

void emit_mem_access(struct bt_emit *e, const struct bt_insn *in, bool size16,
		     const uint8_t *opcode, size_t n, unsigned reg, int32_t adjust)
{
	bool fsgs = emit_is_fsgs(in);
	if (fsgs)
		emit_fsgs_address(e, in, adjust);
	if (size16)
		emit_u8(e, 0x66);
	emit_view(e);
	if (fsgs) {
		emit_u8(e, (uint8_t)(0x41 | (reg >= 8 ? 4 : 0)));
		emit_bytes(e, opcode, n);
		emit_u8(e, (uint8_t)((reg & 7) << 3 | 3)); /* [r11] */
		return;
	}
	BTVMM_CHECK(adjust == 0);
	emit_u8(e, 0x67);
	if (reg >= 8)
		emit_u8(e, 0x44);
	emit_bytes(e, opcode, n);
	emit_modrm_mem(e, in, reg);
}

/*
 * ModRM memory-operand layouts (32-bit addressing):
 *
 *   mod rm  meaning
 *   00  100 SIB follows, no displacement (disp32 if SIB.base = 101)
 *   00  101 [disp32]  -- but RIP-relative in 64-bit mode: re-encode as
 *                        SIB with base 101, index 100: [disp32]
 *   01  xxx disp8
 *   10  xxx disp32
 */
void emit_modrm_mem(struct bt_emit *e, const struct bt_insn *in, unsigned reg)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	unsigned mod = zi->raw.modrm.mod, rm = zi->raw.modrm.rm;
	const uint8_t *m = in->bytes + zi->raw.modrm.offset;
	BTVMM_CHECK(mod != 3);
	if (mod == 0 && rm == 5) {
		emit_u8(e, (uint8_t)((reg & 7) << 3 | 4));
		emit_u8(e, 0x25);
		emit_bytes(e, m + 1, 4);
		return;
	}
	size_t n = 1 + (rm == 4 ? 1 : 0);
	if (zi->raw.disp.size)
		n += zi->raw.disp.size / 8;
	if (e->esp_lag && emit_esp_based(in)) {
		/* [esp + index*s + disp]: the lag joins the displacement
		 * (32-bit arithmetic, wrapping like the guest's address) */
		int32_t d = (int32_t)((uint32_t)zi->raw.disp.value + (uint32_t)e->esp_lag);
		bool d8 = d >= -128 && d <= 127;
		emit_u8(e, (uint8_t)((d8 ? 0x40 : 0x80) | (reg & 7) << 3 | 4));
		emit_u8(e, m[1]);
		if (d8)
			emit_u8(e, (uint8_t)(int8_t)d);
		else
			emit_u32(e, (uint32_t)d);
		return;
	}
	emit_u8(e, (uint8_t)((m[0] & 0xc7) | (reg & 7) << 3));
	emit_bytes(e, m + 1, n - 1);
}

bool emit_esp_based(const struct bt_insn *in)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	return (zi->attributes & ZYDIS_ATTRIB_HAS_MODRM) && zi->raw.modrm.mod != 3 &&
	       zi->raw.modrm.rm == 4 && zi->raw.sib.base == 4;
}

void emit_esp_settle(struct bt_emit *e)
{
	int32_t d = e->esp_lag;
	if (d == 0)
		return;
	/* lea esp, [esp + d] (32-bit address size: ESP wraps, RSP's top half
	 * stays zero) */
	if (d >= -128 && d <= 127) {
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x8d, 0x64, 0x24 }, 4);
		emit_u8(e, (uint8_t)(int8_t)d);
	} else {
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x8d, 0xa4, 0x24 }, 4);
		emit_u32(e, (uint32_t)d);
	}
	e->esp_lag = 0;
}

static bool is_esp(ZydisRegister r)
{
	return r == ZYDIS_REGISTER_ESP || r == ZYDIS_REGISTER_SP ||
	       r == ZYDIS_REGISTER_SPL || r == ZYDIS_REGISTER_RSP;
}

bool bt_takes_esp_lag(const struct bt_insn *in, enum bt_class c)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	const ZydisDecodedOperand *op = &in->ops[0];
	if (c == BT_CLASS_STACK) {
		/* PUSH r32/imm/m32 and POP r32, 4 bytes, not of ESP itself */
		if (zi->operand_width != 32)
			return false;
		if (zi->mnemonic == ZYDIS_MNEMONIC_PUSH)
			return !(op->type == ZYDIS_OPERAND_TYPE_REGISTER &&
			 (is_esp(op->reg.value) || op->reg.value < ZYDIS_REGISTER_EAX ||
			  op->reg.value > ZYDIS_REGISTER_EDI));
		return zi->mnemonic == ZYDIS_MNEMONIC_POP &&
		       op->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		       op->reg.value >= ZYDIS_REGISTER_EAX && op->reg.value <= ZYDIS_REGISTER_EDI &&
		       !is_esp(op->reg.value);
	}
	if (c != BT_CLASS_IDENT)
		return false;
	for (unsigned i = 0; i < zi->operand_count; i++) {
		const ZydisDecodedOperand *o = &in->ops[i];
		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && is_esp(o->reg.value))
			return false;
		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (is_esp(o->mem.index) ||
		     (is_esp(o->mem.base) &&
		      o->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT)))
			return false;
	}
	return true;
}

/* mov dword [r15 + off8], imm32 */
static void emit_store_cpu32(struct bt_emit *e, uint8_t off, uint32_t v)
{
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xc7, 0x47, off }, 4);
	emit_u32(e, v);
}

/* jmp qword [r15 + off8] */
static void emit_jmp_cpu(struct bt_emit *e, uint8_t off)
{
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xff, 0x67, off }, 4);
}

void emit_exit(struct bt_tx *tx, uint32_t eip, enum bt_exit reason)
{
	struct bt_emit *e = &tx->e;
	emit_store_cpu32(e, BT_CPU_EIP, eip);
	emit_store_cpu32(e, BT_CPU_EXIT_REASON, reason);
	/* mov qword [r15 + exit_site], 0 */
	emit_bytes(e, (const uint8_t[]){ 0x49, 0xc7, 0x47, BT_CPU_EXIT_SITE }, 4);
	emit_u32(e, 0);
	emit_jmp_cpu(e, BT_CPU_EXIT_COMMON);
}

static void add_stub(struct bt_tx *tx, uint8_t *rel32, uint32_t target)
{
	BTVMM_CHECK(tx->n_stubs < (int)(sizeof tx->stubs / sizeof tx->stubs[0]));
	tx->stubs[tx->n_stubs].rel32 = rel32;
	tx->stubs[tx->n_stubs].target = target;
	tx->n_stubs++;
}

void emit_jump_to(struct bt_tx *tx, uint32_t target)
{
	emit_u8(&tx->e, 0xe9);
	add_stub(tx, tx->e.p, target);
	emit_u32(&tx->e, 0);
}

void emit_jcc_to(struct bt_tx *tx, unsigned cc, uint32_t target)
{
	emit_u8(&tx->e, 0x0f);
	emit_u8(&tx->e, (uint8_t)(0x80 | (cc & 15)));
	add_stub(tx, tx->e.p, target);
	emit_u32(&tx->e, 0);
}

void emit_jmp_ibl(struct bt_emit *e)
{
	emit_jmp_cpu(e, BT_CPU_IBL);
}

/*
 * Exit stubs, one per pending jump site. A chainable stub records its own
 * site so that bt_run can patch the site's rel32 to jump straight to the
 * target block ("chaining"); unchaining points it back at the stub.
 *
 *   stub: mov dword [r15+eip], target
 *         lea r11, [rip + site_rel32]
 *         mov [r15+exit_site], r11
 *         mov dword [r15+exit_reason], BT_EXIT_LOOKUP
 *         jmp [r15+exit_common]
 *
 * For bt_step's throw-away blocks the stubs are plain BT_EXIT_STEP exits.
 */
void emit_pending_stubs(struct bt_tx *tx)
{
	struct bt_emit *e = &tx->e;
	for (int i = 0; i < tx->n_stubs; i++) {
		struct bt_pending_stub *s = &tx->stubs[i];
		int32_t rel = (int32_t)(e->p - (s->rel32 + 4));
		memcpy(s->rel32, &rel, 4);
		if (tx->bt->single) {
			emit_exit(tx, s->target, BT_EXIT_STEP);
			continue;
		}
		emit_store_cpu32(e, BT_CPU_EIP, s->target);
		emit_bytes(e, (const uint8_t[]){ 0x4c, 0x8d, 0x1d }, 3);
		int32_t back = (int32_t)(s->rel32 - (e->p + 4));
		emit_u32(e, (uint32_t)back);
		emit_bytes(e, (const uint8_t[]){ 0x4d, 0x89, 0x5f, BT_CPU_EXIT_SITE }, 4);
		emit_store_cpu32(e, BT_CPU_EXIT_REASON, BT_EXIT_LOOKUP);
		emit_jmp_cpu(e, BT_CPU_EXIT_COMMON);
	}
	tx->n_stubs = 0;
}

/* ---- inline sequences with the guest flags parked (emit_flags.c, emit_seg.c) ---- */

void emit_park_flags(struct bt_emit *e)
{
	/* mov r12, rsp ; lea rsp, [r15 + BT_CPU_FLAG_STACK] ; pushfq */
	emit_bytes(e, (const uint8_t[]){ 0x49, 0x89, 0xe4, 0x49, 0x8d, 0xa7 }, 6);
	emit_u32(e, BT_CPU_FLAG_STACK);
	emit_u8(e, 0x9c);
}

void emit_unpark_flags(struct bt_emit *e)
{
	/* popfq ; mov rsp, r12 */
	emit_bytes(e, (const uint8_t[]){ 0x9d, 0x4c, 0x89, 0xe4 }, 4);
}

void emit_cmp_cpu_byte0(struct bt_emit *e, uint32_t off)
{
	/* cmp byte [r15 + off], 0 */
	emit_bytes(e, (const uint8_t[]){ 0x41, 0x80, 0xbf }, 3);
	emit_u32(e, off);
	emit_u8(e, 0);
}

uint8_t *emit_jcc_fwd(struct bt_emit *e, unsigned cc)
{
	emit_u8(e, 0x0f);
	emit_u8(e, (uint8_t)(0x80 | (cc & 15)));
	uint8_t *field = e->p;
	emit_u32(e, 0);
	return field;
}

uint8_t *emit_jmp_fwd(struct bt_emit *e)
{
	emit_u8(e, 0xe9);
	uint8_t *field = e->p;
	emit_u32(e, 0);
	return field;
}

void emit_patch_here(struct bt_emit *e, uint8_t *field)
{
	int32_t rel = (int32_t)(e->p - (field + 4));
	memcpy(field, &rel, 4);
}
