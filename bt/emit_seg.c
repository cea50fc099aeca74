/* bt: PUSH Sreg, MOV/POP to DS ES FS GS, and VERW inside translated code. */
#include "bt_private.h"

#include <stddef.h>

/*
 * Linux's entry code saves and reloads DS, ES and FS on every system call
 * and interrupt, and clears CPU buffers with VERW on the way out. Emulated,
 * each is a round trip through the monitor; here they run inline:
 *
 *  - PUSH Sreg pushes the selector from the monitor's segment register
 *    (zero-extended, as the emulator and QEMU do), and MOV r/m, Sreg
 *    stores it (zero-extended into a 32-bit register, 16 bits otherwise),
 *    at any CPL: Linux's exception entry reads SS this way;
 *  - a load of a null selector into DS/ES/FS/GS (ring 0) clears the
 *    register, as the monitor's own load does;
 *  - a load of a GDT selector, and VERW, use the segment-load cache in
 *    bt_cpu (bt.h): the entry for the selector must exist and the
 *    descriptor in guest memory must still be what the monitor checked.
 *    The load then copies the cached register image into the monitor's
 *    segment register and, for FS and GS, sets the host base;
 *  - anything else (other CPLs, LDT selectors, a cache miss, SS) leaves
 *    translated code and is emulated, which fills the cache.
 *
 * The selector is read first (the one guest access; a fault there leaves
 * precise state), then the flags are parked as in emit_flags.c.
 */

#define SEGC_FIELD(f) (BT_CPU_SEGC + (uint32_t)offsetof(struct bt_seg_cache, f))
#define FLAG_SLOT BT_CPU_FLAG_SLOT
#define ZF 0x40u

/* mov r11, imm64 */
static void mov_r11_imm64(struct bt_emit *e, const void *p)
{
	uint64_t v = (uint64_t)p;
	emit_bytes(e, (const uint8_t[]){ 0x49, 0xbb }, 2);
	emit_bytes(e, &v, 8);
}

/* r13d = the selector operand (register or memory: the guest access). */
static bool load_selector(struct bt_emit *e, const struct bt_insn *in,
			  const ZydisDecodedOperand *op)
{
	if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		ZydisRegisterClass c = ZydisRegisterGetClass(op->reg.value);
		if (c != ZYDIS_REGCLASS_GPR16 && c != ZYDIS_REGCLASS_GPR32)
			return false;
		/* movzx r13d, r16 */
		emit_bytes(e, (const uint8_t[]){ 0x44, 0x0f, 0xb7 }, 3);
		emit_u8(e, (uint8_t)(0xe8 | (ZydisRegisterGetId(op->reg.value) & 7)));
		return true;
	}
	if (op->type != ZYDIS_OPERAND_TYPE_MEMORY || in->zi.address_width != 32)
		return false;
	/* movzx r13d, word [mem] */
	emit_mem_access(e, in, false, (const uint8_t[]){ 0x0f, 0xb7 }, 2, 13, 0);
	return true;
}

/*
 * With flags parked and r13d = a non-null selector: find its cache entry
 * in r11, check it, and jump to `miss` (returned for patching, one per
 * check) unless it is valid and has `flag`.
 */
static void lookup(struct bt_emit *e, uint32_t flag, uint8_t *miss[4])
{
	/* test r13d, 4 (an LDT selector) */
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xf7, 0xc5, 4, 0, 0, 0 }, 7);
	miss[0] = emit_jcc_fwd(e, BT_CC_NZ);
	static const uint8_t entry[] = {
		0x45, 0x89, 0xeb,       /* mov r11d, r13d */
		0x41, 0x83, 0xe3, 0x38, /* and r11d, 0x38: index * 8 */
		0x4f, 0x8d, 0x1c, 0x9b, /* lea r11, [r11 + r11 * 4]: * 40 / 8 */
		0x4d, 0x01, 0xfb,       /* add r11, r15 */
		0x45, 0x3b, 0xab,       /* cmp r13d, [r11 + sel] */
	};
	emit_bytes(e, entry, sizeof entry);
	emit_u32(e, SEGC_FIELD(sel));
	miss[1] = emit_jcc_fwd(e, BT_CC_NZ);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xf6, 0x83 }, 3); /* test byte [r11 + flags], flag */
	emit_u32(e, SEGC_FIELD(flags));
	emit_u8(e, (uint8_t)flag);
	miss[2] = emit_jcc_fwd(e, BT_CC_Z);
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x8b, 0xb3 }, 3); /* mov r14, [r11 + desc_host] */
	emit_u32(e, SEGC_FIELD(desc_host));
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x8b, 0x36,        /* mov r14, [r14] */
					 0x4d, 0x3b, 0xb3 }, 6);  /* cmp r14, [r11 + desc] */
	emit_u32(e, SEGC_FIELD(desc));
	miss[3] = emit_jcc_fwd(e, BT_CC_NZ);
}

/* For FS/GS: bt_cpu's copy of the base from r14d, which inline FS/GS
 * accesses read (emit_fsgs_address). */
static void set_guest_base(struct bt_tx *tx, int sreg)
{
	bool fs = sreg == 4;
	/* mov [r15 + fsbase/gsbase], r14 */
	emit_bytes(&tx->e, (const uint8_t[]){ 0x4d, 0x89, 0x77, fs ? BT_CPU_FSBASE : BT_CPU_GSBASE }, 4);
}

static const uint8_t pop4[] = { 0x67, 0x8d, 0x64, 0x24, 0x04 }; /* lea esp, [esp+4] */

/* The common end: `done` jumps over the emulate exit that `slow` reaches. */
static void finish(struct bt_tx *tx, const struct bt_insn *in, uint8_t **slow,
		   unsigned n_slow, uint8_t **done, unsigned n_done)
{
	struct bt_emit *e = &tx->e;
	for (unsigned i = 0; i < n_slow; i++)
		emit_patch_here(e, slow[i]);
	emit_unpark_flags(e);
	emit_exit(tx, in->eip, BT_EXIT_EMULATE);
	for (unsigned i = 0; i < n_done; i++)
		emit_patch_here(e, done[i]);
}

/* MOV Sreg, r/m16 or POP Sreg (32-bit), for DS ES FS GS (sreg 0, 3, 4, 5). */
static bool emit_load(struct bt_tx *tx, const struct bt_insn *in, int sreg,
		      const ZydisDecodedOperand *src, bool pop)
{
	struct bt_emit *e = &tx->e;
	struct bt_seg_image *reg = &tx->bt->env.seg_regs[sreg];
	bool fsgs = sreg == 4 || sreg == 5;
	if (pop) {
		/* movzx r13d, word [esp] */
		emit_view(e);
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x0f, 0xb7, 0x2c, 0x24 }, 6);
	} else if (!load_selector(e, in, src)) {
		return false;
	}
	emit_park_flags(e);
	emit_cmp_cpu_byte0(e, BT_CPU_RING0);
	uint8_t *slow[5];
	slow[0] = emit_jcc_fwd(e, BT_CC_Z);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xf7, 0xc5, 0xfc, 0xff, 0, 0 }, 7); /* test r13d, ~3 */
	uint8_t *null = emit_jcc_fwd(e, BT_CC_Z);
	lookup(e, fsgs ? BT_SEGC_FSGS : BT_SEGC_DSES, slow + 1);
	/* Hit: copy the cached image into the monitor's register. */
	emit_bytes(e, (const uint8_t[]){ 0x49, 0xbd }, 2); /* mov r13, imm64 */
	emit_bytes(e, &(uint64_t){ (uint64_t)reg }, 8);
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x8b, 0xb3 }, 3); /* mov r14, [r11 + image] */
	emit_u32(e, SEGC_FIELD(image));
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x89, 0x75, 0x00,   /* mov [r13], r14 */
					 0x45, 0x8b, 0xb3 }, 7);   /* mov r14d, [r11 + image.limit] */
	emit_u32(e, SEGC_FIELD(image) + offsetof(struct bt_seg_image, limit));
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x89, 0x75,
					 offsetof(struct bt_seg_image, limit) }, 4); /* mov [r13 + 8], r14d */
	if (fsgs) {
		emit_bytes(e, (const uint8_t[]){ 0x45, 0x8b, 0xb3 }, 3); /* mov r14d, [r11 + image.base] */
		emit_u32(e, SEGC_FIELD(image) + offsetof(struct bt_seg_image, base));
		set_guest_base(tx, sreg);
	}
	uint8_t *done[2];
	emit_unpark_flags(e);
	if (pop)
		emit_bytes(e, pop4, sizeof pop4);
	done[0] = emit_jmp_fwd(e);
	/* Null selector: the register is cleared (base 0). */
	emit_patch_here(e, null);
	mov_r11_imm64(e, reg);
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x89, 0x2b,                          /* mov [r11], r13d */
					 0x49, 0xc7, 0x43, 0x04, 0, 0, 0, 0 }, 11); /* mov qword [r11+4], 0 */
	if (fsgs) {
		emit_bytes(e, (const uint8_t[]){ 0x45, 0x31, 0xf6 }, 3); /* xor r14d, r14d */
		set_guest_base(tx, sreg);
	}
	emit_unpark_flags(e);
	if (pop)
		emit_bytes(e, pop4, sizeof pop4);
	done[1] = emit_jmp_fwd(e);
	finish(tx, in, slow, 5, done, 2);
	return true;
}

/* VERW r/m16 in ring 0: ZF from the cache entry (a null selector: ZF = 0). */
static bool emit_verw(struct bt_tx *tx, const struct bt_insn *in)
{
	struct bt_emit *e = &tx->e;
	if (!load_selector(e, in, &in->ops[0]))
		return false;
	emit_park_flags(e);
	emit_cmp_cpu_byte0(e, BT_CPU_RING0);
	uint8_t *slow[5];
	slow[0] = emit_jcc_fwd(e, BT_CC_Z);
	/* r14 = parked RFLAGS without ZF */
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x8b, 0xb7, FLAG_SLOT, 0, 0, 0,   /* mov r14, [r15 + slot] */
					 0x49, 0x83, 0xe6, 0xbf,                 /* and r14, ~ZF */
					 0x41, 0xf7, 0xc5, 0xfc, 0xff, 0, 0 }, 18); /* test r13d, ~3 */
	uint8_t *null = emit_jcc_fwd(e, BT_CC_Z);
	/* The lookup keeps r14 only until it loads the descriptor: park it. */
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x89, 0xb7, FLAG_SLOT, 0, 0, 0 }, 7); /* mov [r15 + slot], r14 */
	lookup(e, BT_SEGC_VERW, slow + 1);
	/* Valid and writable: ZF = 1. */
	emit_bytes(e, (const uint8_t[]){ 0x49, 0x83, 0x8f, FLAG_SLOT, 0, 0, 0, ZF }, 8); /* or qword [r15 + slot], ZF */
	emit_unpark_flags(e);
	uint8_t *done[2];
	done[0] = emit_jmp_fwd(e);
	emit_patch_here(e, null);
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x89, 0xb7, FLAG_SLOT, 0, 0, 0 }, 7); /* mov [r15 + slot], r14 */
	emit_unpark_flags(e);
	done[1] = emit_jmp_fwd(e);
	finish(tx, in, slow, 5, done, 2);
	return true;
}

/* MOV r/m, Sreg: r13d = the selector, then the one guest access (for a
 * memory destination) or the register write. */
static bool emit_store(struct bt_tx *tx, const struct bt_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	if (src->type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    ZydisRegisterGetClass(src->reg.value) != ZYDIS_REGCLASS_SEGMENT)
		return false;
	int sreg = ZydisRegisterGetId(src->reg.value);
	if (sreg < 0 || sreg > 5)
		return false;
	struct bt_emit *e = &tx->e;
	if (dst->type == ZYDIS_OPERAND_TYPE_MEMORY) {
		if (in->zi.address_width != 32)
			return false;
		mov_r11_imm64(e, &tx->bt->env.seg_regs[sreg]);
		emit_bytes(e, (const uint8_t[]){ 0x45, 0x0f, 0xb7, 0x2b }, 4); /* movzx r13d, word [r11] */
		emit_mem_access(e, in, true, (const uint8_t[]){ 0x89 }, 1, 13, 0); /* mov word [mem], r13w */
		return true;
	}
	if (dst->type != ZYDIS_OPERAND_TYPE_REGISTER)
		return false;
	ZydisRegisterClass c = ZydisRegisterGetClass(dst->reg.value);
	if (c != ZYDIS_REGCLASS_GPR16 && c != ZYDIS_REGCLASS_GPR32)
		return false;
	unsigned r = (unsigned)ZydisRegisterGetId(dst->reg.value) & 7;
	mov_r11_imm64(e, &tx->bt->env.seg_regs[sreg]);
	if (c == ZYDIS_REGCLASS_GPR32) /* movzx r32, word [r11] */
		emit_bytes(e, (const uint8_t[]){ 0x41, 0x0f, 0xb7, (uint8_t)(r << 3 | 3) }, 4);
	else /* mov r16, word [r11] */
		emit_bytes(e, (const uint8_t[]){ 0x66, 0x41, 0x8b, (uint8_t)(r << 3 | 3) }, 4);
	return true;
}

bool emit_seg_inline(struct bt_tx *tx, const struct bt_insn *in)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	if (!tx->bt->env.seg_regs)
		return false;
	const ZydisDecodedOperand *op0 = &in->ops[0];
	bool sreg_op = op0->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		       ZydisRegisterGetClass(op0->reg.value) == ZYDIS_REGCLASS_SEGMENT;
	int sreg = sreg_op ? ZydisRegisterGetId(op0->reg.value) : -1;
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_PUSH: {
		if (!sreg_op || zi->operand_width != 32)
			return false;
		struct bt_emit *e = &tx->e;
		mov_r11_imm64(e, &tx->bt->env.seg_regs[sreg]);
		emit_bytes(e, (const uint8_t[]){ 0x45, 0x0f, 0xb7, 0x2b }, 4); /* movzx r13d, word [r11] */
		emit_view(e);
		emit_bytes(e, (const uint8_t[]){
			0x67, 0x44, 0x89, 0x6c, 0x24, 0xfc, /* mov [esp - 4], r13d */
			0x67, 0x8d, 0x64, 0x24, 0xfc,       /* lea esp, [esp - 4] */
		}, 11);
		return true;
	}
	case ZYDIS_MNEMONIC_POP:
		if (!sreg_op || zi->operand_width != 32 ||
		    (sreg != 0 && sreg != 3 && sreg != 4 && sreg != 5))
			return false;
		return emit_load(tx, in, sreg, NULL, true);
	case ZYDIS_MNEMONIC_MOV:
		if (!sreg_op)
			return emit_store(tx, in);
		if (sreg != 0 && sreg != 3 && sreg != 4 && sreg != 5)
			return false;
		return emit_load(tx, in, sreg, &in->ops[1], false);
	case ZYDIS_MNEMONIC_VERW:
		return emit_verw(tx, in);
	default:
		return false;
	}
}
