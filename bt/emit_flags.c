/* bt: CLI, STI, PUSHF and POPF inside translated code, on the virtual IF; MOV r32, CR2. */
#include "bt_private.h"

/*
 * Linux's entry code and every spin_lock_irqsave/irqrestore pair run these
 * four; as exits each cost a round trip through the monitor. Inline, they
 * act on the virtual EFLAGS in bt_cpu (IF, IOPL, TF ... live only there)
 * and on the live arithmetic flags in host RFLAGS.
 *
 * Flags must survive, so each sequence runs between
 *     mov r12, rsp ; lea rsp, [r15 + flag_stack_top] ; pushfq
 * and
 *     popfq ; mov rsp, r12
 * which parks the guest's live flags in bt_cpu (no guest memory touched,
 * nothing that can fault while RSP is not the guest's ESP: the guest
 * stack accesses come before the save or after the restore). Inside, any
 * ALU instruction may be used.
 *
 * The fast path holds only in ring 0 (bt_cpu.ring0, set by the monitor at
 * each entry); otherwise, and for anything unusual (POPF setting TF, 16-bit
 * operands), the instruction leaves translated code and is emulated.
 *
 * Interrupts: the monitor sets bt_cpu.irq_waiting while an interrupt is
 * requested that IF holds back (its timer handler too, when a deadline
 * passes with IF clear). STI and POPF that set IF test it after setting IF
 * (so a timer signal between the two is seen by one or the other):
 *  - POPF then leaves with BT_EXIT_IRQ after completing (no shadow);
 *  - STI undoes its IF and leaves to be emulated, so the monitor applies
 *    the one-instruction interrupt shadow. The translator inlines an STI
 *    only when the next instruction is certain to be in the same block
 *    (translate.c: next_in_block), so no interrupt comes before it.
 */

#define FLAG_SLOT BT_CPU_FLAG_SLOT

/* The shared tail: `slow` lands here with flags saved; leave to emulate. */
static void slow_path(struct bt_tx *tx, const struct bt_insn *in, uint8_t *done)
{
	emit_unpark_flags(&tx->e);
	emit_exit(tx, in->eip, BT_EXIT_EMULATE);
	emit_patch_here(&tx->e, done);
}

static void emit_cli_sti(struct bt_tx *tx, const struct bt_insn *in, bool sti)
{
	struct bt_emit *e = &tx->e;
	emit_park_flags(e);
	emit_cmp_cpu_byte0(e, BT_CPU_RING0);
	uint8_t *not_ring0 = emit_jcc_fwd(e, BT_CC_Z);
	/* and/or dword [r15 + eflags], IF */
	emit_bytes(e, (const uint8_t[]){ 0x41, 0x81, sti ? 0x4f : 0x67, BT_CPU_EFLAGS }, 4);
	emit_u32(e, sti ? BT_FL_IF : ~BT_FL_IF);
	uint8_t *waiting = NULL;
	if (sti) {
		emit_cmp_cpu_byte0(e, BT_CPU_IRQ_WAITING);
		waiting = emit_jcc_fwd(e, BT_CC_NZ);
	}
	emit_unpark_flags(e);
	uint8_t *done = emit_jmp_fwd(e);
	if (sti) {
		/* An interrupt waits: clear IF again and let the emulator
		 * do this STI, shadow included. */
		emit_patch_here(e, waiting);
		emit_bytes(e, (const uint8_t[]){ 0x41, 0x81, 0x67, BT_CPU_EFLAGS }, 4);
		emit_u32(e, ~BT_FL_IF);
	}
	emit_patch_here(e, not_ring0);
	slow_path(tx, in, done);
}

static void emit_pushfd(struct bt_tx *tx, const struct bt_insn *in)
{
	struct bt_emit *e = &tx->e;
	emit_park_flags(e);
	emit_cmp_cpu_byte0(e, BT_CPU_RING0);
	uint8_t *not_ring0 = emit_jcc_fwd(e, BT_CC_Z);
	static const uint8_t value[] = {
		0x45, 0x8b, 0xaf, FLAG_SLOT, 0, 0, 0,     /* mov r13d, [r15 + slot] */
		0x41, 0x81, 0xe5, 0xd5, 0x0c, 0, 0,       /* and r13d, LIVE */
		0x45, 0x8b, 0x77, BT_CPU_EFLAGS,          /* mov r14d, [r15 + eflags] */
		0x41, 0x81, 0xe6,                         /* and r14d, ~(LIVE|RF|VM) */
	};
	emit_bytes(e, value, sizeof value);
	emit_u32(e, ~(BT_FL_LIVE | BT_FL_RF | BT_FL_VM));
	/* or r13d, r14d ; or r13d, 2 */
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x09, 0xf5, 0x41, 0x83, 0xcd, 0x02 }, 7);
	emit_unpark_flags(e);
	/* mov [esp - 4], r13d ; lea esp, [esp - 4] */
	emit_view(e);
	emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x89, 0x6c, 0x24, 0xfc,
					 0x67, 0x8d, 0x64, 0x24, 0xfc }, 11);
	uint8_t *done = emit_jmp_fwd(e);
	emit_patch_here(e, not_ring0);
	slow_path(tx, in, done);
}

/* Bits POPF loads in ring 0 (as the emulator's POPF_MASK). */
#define POPF_BITS (BT_FL_LIVE | BT_FL_TF | BT_FL_IF | BT_FL_IOPL | BT_FL_NT | \
		   BT_FL_AC | BT_FL_ID)

static void emit_popfd(struct bt_tx *tx, const struct bt_insn *in)
{
	struct bt_emit *e = &tx->e;
	/* mov r13d, [esp]: the one guest access, before anything changes */
	emit_view(e);
	emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x8b, 0x2c, 0x24 }, 5);
	emit_park_flags(e);
	emit_cmp_cpu_byte0(e, BT_CPU_RING0);
	uint8_t *not_ring0 = emit_jcc_fwd(e, BT_CC_Z);
	/* test r13d, TF */
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xf7, 0xc5 }, 3);
	emit_u32(e, BT_FL_TF);
	uint8_t *trap = emit_jcc_fwd(e, BT_CC_NZ);
	/* virtual EFLAGS = (old & ~(BITS|RF)) | (new & BITS) | 2 */
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x8b, 0x77, BT_CPU_EFLAGS,  /* mov r14d, [eflags] */
					 0x41, 0x81, 0xe6 }, 7);          /* and r14d, imm */
	emit_u32(e, ~(POPF_BITS | BT_FL_RF));
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x89, 0xeb,                 /* mov r11d, r13d */
					 0x41, 0x81, 0xe3 }, 6);          /* and r11d, imm */
	emit_u32(e, POPF_BITS);
	emit_bytes(e, (const uint8_t[]){
		0x45, 0x09, 0xde,                       /* or r14d, r11d */
		0x41, 0x83, 0xce, 0x02,                 /* or r14d, 2 */
		0x45, 0x89, 0x77, BT_CPU_EFLAGS,        /* mov [r15 + eflags], r14d */
		/* the live bits into the parked RFLAGS */
		0x4d, 0x8b, 0x9f, FLAG_SLOT, 0, 0, 0,   /* mov r11, [r15 + slot] */
		0x49, 0x81, 0xe3,                       /* and r11, ~LIVE */
	}, 21);
	emit_u32(e, ~BT_FL_LIVE);
	emit_bytes(e, (const uint8_t[]){
		0x41, 0x81, 0xe5, 0xd5, 0x0c, 0, 0,     /* and r13d, LIVE */
		0x4d, 0x09, 0xeb,                       /* or r11, r13 */
		0x4d, 0x89, 0x9f, FLAG_SLOT, 0, 0, 0,   /* mov [r15 + slot], r11 */
		0x41, 0xf7, 0xc6,                       /* test r14d, IF */
	}, 20);
	emit_u32(e, BT_FL_IF);
	uint8_t *if_clear = emit_jcc_fwd(e, BT_CC_Z);
	emit_cmp_cpu_byte0(e, BT_CPU_IRQ_WAITING);
	uint8_t *waiting = emit_jcc_fwd(e, BT_CC_NZ);
	emit_patch_here(e, if_clear);
	emit_unpark_flags(e);
	static const uint8_t pop4[] = { 0x67, 0x8d, 0x64, 0x24, 0x04 }; /* lea esp, [esp+4] */
	emit_bytes(e, pop4, sizeof pop4);
	uint8_t *done = emit_jmp_fwd(e);
	/* Done, and an interrupt can be taken now: leave for it. */
	emit_patch_here(e, waiting);
	emit_unpark_flags(e);
	emit_bytes(e, pop4, sizeof pop4);
	emit_exit(tx, in->next_eip, BT_EXIT_IRQ);
	emit_patch_here(e, not_ring0);
	emit_patch_here(e, trap);
	slow_path(tx, in, done);
}

bool emit_flags_inline(struct bt_tx *tx, const struct bt_insn *in)
{
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_CLI:
		emit_cli_sti(tx, in, false);
		return true;
	case ZYDIS_MNEMONIC_STI:
		emit_cli_sti(tx, in, true);
		return true;
	case ZYDIS_MNEMONIC_PUSHFD:
		if (in->zi.operand_width != 32)
			return false;
		emit_pushfd(tx, in);
		return true;
	case ZYDIS_MNEMONIC_POPFD:
		if (in->zi.operand_width != 32)
			return false;
		emit_popfd(tx, in);
		return true;
	default:
		return false;
	}
}

/*
 * MOV r32, CR2 in ring 0 (a page-fault handler's first instruction): the
 * guest's CR2 from the monitor's register, flags parked for the ring-0
 * test. Elsewhere it is emulated (#GP, or the real-mode read).
 */
bool emit_cr2_read(struct bt_tx *tx, const struct bt_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	if (!tx->bt->env.cr2 || in->zi.mnemonic != ZYDIS_MNEMONIC_MOV ||
	    src->type != ZYDIS_OPERAND_TYPE_REGISTER || src->reg.value != ZYDIS_REGISTER_CR2 ||
	    dst->type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    ZydisRegisterGetClass(dst->reg.value) != ZYDIS_REGCLASS_GPR32)
		return false;
	struct bt_emit *e = &tx->e;
	unsigned r = (unsigned)ZydisRegisterGetId(dst->reg.value) & 7;
	emit_park_flags(e);
	emit_cmp_cpu_byte0(e, BT_CPU_RING0);
	uint8_t *not_ring0 = emit_jcc_fwd(e, BT_CC_Z);
	emit_unpark_flags(e);
	uint64_t at = (uint64_t)tx->bt->env.cr2;
	emit_bytes(e, (const uint8_t[]){ 0x49, 0xbb }, 2); /* mov r11, imm64 */
	emit_bytes(e, &at, 8);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0x8b, (uint8_t)(r << 3 | 3) }, 3); /* mov r32, [r11] */
	uint8_t *done = emit_jmp_fwd(e);
	emit_patch_here(e, not_ring0);
	slow_path(tx, in, done);
	return true;
}
