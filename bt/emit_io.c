/* bt: the callouts from translated code, no exit: port I/O, page-table stores, and the SYSENTER/INT n/SYSEXIT/IRETD transitions. */
#include "bt_private.h"

#include <string.h>

/*
 * `in al, imm8` / `out imm8, al` (and the AX/EAX forms) to a port the
 * monitor accepts (bt_env.inline_port) become:
 *
 *   mov dword [r15 + callout_arg], port | size << 16 | out << 24
 *   mov dword [r15 + callout_eip], eip
 *   lea r11, [rip + back]
 *   mov [r15 + callout_back], r11
 *   jmp [r15 + callout_in]         ; bt_callout_port (entry.S)
 * back:
 *
 * If the guest may not do port I/O at its current CPL, the callout leaves
 * through bt_callout_refused with the instruction's EIP instead, and the
 * monitor emulates it (the guest's #GP).
 *
 * NB: nothing here can fault, so the sequence needs no fault bookkeeping;
 * the callout keeps every guest register but EAX (IN's result) and the
 * flags.
 */
/* mov dword [r15 + off], imm32 */
static void emit_cpu_store32(struct bt_emit *e, uint32_t off, uint32_t v)
{
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xc7, 0x87 }, 3);
	emit_u32(e, off);
	emit_u32(e, v);
}

/* The callout's way in, for the instruction at eip: callout_eip, and
 * callout_back[0] = right after this sequence, then to `to`:
 *   mov dword [r15 + callout_eip], eip
 *   lea r11, [rip + back] ; mov [r15 + callout_back], r11
 *   mov r11, to ; jmp r11
 * back: */
static void emit_callout_to(struct bt_emit *e, uint32_t eip, void (*to)(void))
{
	emit_cpu_store32(e, BT_CPU_CALLOUT_EIP, eip);
	emit_bytes(e, (const uint8_t[]){ 0x4c, 0x8d, 0x1d }, 3);
	emit_u32(e, 7 + 10 + 3); /* the mov to callout_back, the mov r11 and the jmp */
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x89, 0x9f }, 3);
	emit_u32(e, BT_CPU_CALLOUT_BACK);
	emit_bytes(e, (const uint8_t[]){ 0x49, 0xbb }, 2);
	uint64_t at = (uint64_t)to;
	emit_bytes(e, &at, 8);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xff, 0xe3 }, 3);
}

bool emit_inline_io(struct bt_tx *tx, const struct bt_insn *in)
{
	const struct bt_env *env = &tx->bt->env;
	const ZydisDecodedInstruction *zi = &in->zi;
	bool out = zi->mnemonic == ZYDIS_MNEMONIC_OUT;
	if ((!out && zi->mnemonic != ZYDIS_MNEMONIC_IN) || !env->inline_port ||
	    !env->port_in || !env->port_out)
		return false;
	const ZydisDecodedOperand *port_op = &in->ops[out ? 0 : 1];
	if (port_op->type != ZYDIS_OPERAND_TYPE_IMMEDIATE)
		return false; /* DX forms: the port is not known here */
	uint16_t port = (uint16_t)port_op->imm.value.u;
	unsigned size = zi->operand_width / 8;
	if (!env->inline_port(env->ctx, port, out))
		return false;
	struct bt_emit *e = &tx->e;
	uint32_t arg = port | size << 16 | (out ? 1u : 0u) << 24;
	emit_cpu_store32(e, BT_CPU_CALLOUT_ARG, arg);
	emit_cpu_store32(e, BT_CPU_CALLOUT_EIP, in->eip);
	emit_bytes(e, (const uint8_t[]){ 0x4c, 0x8d, 0x1d }, 3);
	emit_u32(e, 14); /* the mov and the jmp below */
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x89, 0x9f }, 3);
	emit_u32(e, BT_CPU_CALLOUT_BACK);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xff, 0xa7 }, 3);
	emit_u32(e, BT_CPU_CALLOUT_PORT);
	return true;
}

/* Called by bt_callout_port on the monitor stack; returns the new EAX, or
 * bit 32 set when the access is refused (the caller exits to emulate). */
uint64_t bt_port_callout(struct bt_cpu *cpu, uint32_t arg, uint32_t eax);
uint64_t bt_port_callout(struct bt_cpu *cpu, uint32_t arg, uint32_t eax)
{
	struct bt *bt = (struct bt *)cpu->owner;
	if (bt->env.io_allowed && !bt->env.io_allowed(bt->env.ctx))
		return 1ull << 32 | eax;
	uint16_t port = (uint16_t)arg;
	unsigned size = (arg >> 16) & 0xff;
	uint32_t mask = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
	bt->stats.inline_io++;
	if (arg >> 24) {
		bt->env.port_out(bt->env.ctx, port, size, eax & mask);
		return eax;
	}
	uint32_t v = bt->env.port_in(bt->env.ctx, port, size);
	return (eax & ~mask) | (v & mask);
}

/*
 * A 32-bit MOV to memory that keeps writing page tables (adaptive
 * translation named it) stores through a callout rather than leaving
 * translated code to be emulated:
 *
 *   lea r11d, [operand]              (FS/GS: emit_fsgs_address)
 *   mov [r15 + callout_addr], r11d
 *   mov [r15 + callout_arg], reg32   (or the immediate)
 *   mov dword [r15 + callout_eip], eip
 *   lea r11, [rip + back] ; mov [r15 + callout_back], r11
 *   mov r11, bt_callout_store ; jmp r11
 * back:
 *
 * The monitor's pt_store does the store as the guest would (its walk sets
 * A/D) and updates the shadows; where it cannot (a fault, a code page,
 * no RAM), the callout leaves through bt_callout_refused
 * and the instruction is emulated. Nothing here faults or touches flags.
 */
bool emit_inline_store(struct bt_tx *tx, const struct bt_insn *in)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	struct bt_emit *e = &tx->e;
	unsigned npre = zi->raw.prefix_count;
	if (!tx->bt->env.pt_store || zi->mnemonic != ZYDIS_MNEMONIC_MOV ||
	    zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY || zi->operand_width != 32 ||
	    zi->address_width != 32 || !(zi->attributes & ZYDIS_ATTRIB_HAS_MODRM) ||
	    zi->raw.modrm.mod == 3)
		return false;
	for (unsigned i = 0; i < npre; i++) {
		uint8_t b = in->bytes[i];
		if (b != 0x26 && b != 0x2e && b != 0x36 && b != 0x3e && b != 0x64 && b != 0x65)
			return false; /* only segment overrides */
	}
	uint8_t op = in->bytes[npre];
	if (op != 0x89 && !(op == 0xc7 && zi->raw.modrm.reg == 0))
		return false;
	if (emit_is_fsgs(in)) {
		emit_fsgs_address(e, in, 0);
	} else {
		emit_bytes(e, (const uint8_t[]){ 0x67, 0x44, 0x8d }, 3);
		emit_modrm_mem(e, in, 3);
	}
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x89, 0x5f, BT_CPU_CALLOUT_ADDR }, 4);
	if (op == 0x89) {
		/* mov [r15 + callout_arg], reg32 (ESP is the low half of RSP) */
		emit_bytes(e, (const uint8_t[]){ 0x41, 0x89,
						 (uint8_t)(0x87 | (zi->raw.modrm.reg & 7) << 3) }, 3);
		emit_u32(e, BT_CPU_CALLOUT_ARG);
	} else {
		emit_cpu_store32(e, BT_CPU_CALLOUT_ARG, (uint32_t)zi->raw.imm[0].value.u);
	}
	emit_callout_to(e, in->eip, bt_callout_store);
	return true;
}

/* Called by bt_callout_store on the monitor stack: 0 done, 1 refused. */
uint32_t bt_store_callout(struct bt_cpu *cpu, uint32_t linear, uint32_t value);
uint32_t bt_store_callout(struct bt_cpu *cpu, uint32_t linear, uint32_t value)
{
	struct bt *bt = (struct bt *)cpu->owner;
	if (!bt->env.pt_store(bt->env.ctx, cpu->callout_eip, linear, value))
		return 1;
	bt->stats.inline_stores++;
	return 0;
}

/*
 * SYSENTER and INT n in a U block, SYSEXIT and IRETD in an S block (a
 * guest system call's way in and out): the callout makes the transition,
 * then the block goes on to the target through the indirect-branch
 * lookup, in the other kind's table (bt_set_user_view switched it):
 *
 *   mov dword [r15 + callout_arg], kind | vector << 8
 *   mov dword [r15 + callout_eip], eip
 *   lea r11, [rip + back] ; mov [r15 + callout_back], r11
 *   mov r11, bt_callout_sys ; jmp r11
 * back:
 *   mov r14d, [r15 + eip] ; jmp [r15 + ibl]
 *
 * Refused, the instruction is emulated. It ends the block.
 */
bool emit_inline_sys(struct bt_tx *tx, const struct bt_insn *in)
{
	struct bt_emit *e = &tx->e;
	enum bt_transition kind;
	uint8_t vector = 0;
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_SYSENTER: kind = BT_TR_SYSENTER; break;
	case ZYDIS_MNEMONIC_SYSEXIT: kind = BT_TR_SYSEXIT; break;
	case ZYDIS_MNEMONIC_IRETD: kind = BT_TR_IRET; break;
	case ZYDIS_MNEMONIC_INT:
		if (in->zi.length != 2)
			return false; /* prefixed: the emulator's */
		kind = BT_TR_INT;
		vector = (uint8_t)in->ops[0].imm.value.u;
		break;
	default:
		return false;
	}
	bool from_user = kind == BT_TR_SYSENTER || kind == BT_TR_INT;
	if (!tx->bt->env.transition || from_user != e->user || in->zi.operand_width != 32)
		return false;
	emit_cpu_store32(e, BT_CPU_CALLOUT_ARG, kind | (uint32_t)vector << 8);
	emit_callout_to(e, in->eip, bt_callout_sys);
	emit_bytes(e, (const uint8_t[]){ 0x45, 0x8b, 0x77, BT_CPU_EIP }, 4); /* mov r14d, [r15 + eip] */
	emit_jmp_ibl(e);
	tx->end = true;
	return true;
}

/* Called by bt_callout_sys on the monitor stack, with the guest's flags
 * in the callout frame: 0 done, 1 refused. */
uint32_t bt_sys_callout(struct bt_cpu *cpu, uint32_t arg, uint32_t ecx, uint32_t edx,
			uint64_t *rflags);
uint32_t bt_sys_callout(struct bt_cpu *cpu, uint32_t arg, uint32_t ecx, uint32_t edx,
			uint64_t *rflags)
{
	struct bt *bt = (struct bt *)cpu->owner;
	uint32_t before = cpu->eflags;
	cpu->eflags = (cpu->eflags & ~BT_FL_LIVE) | ((uint32_t)*rflags & BT_FL_LIVE);
	switch (bt->env.transition(bt->env.ctx, (enum bt_transition)(arg & 0xff),
				   (uint8_t)(arg >> 8), ecx, edx)) {
	case BT_TR_REFUSED:
		cpu->eflags = before;
		return 1;
	case BT_TR_DONE_EXIT:
		cpu->callout_back[0] = (uint64_t)bt_callout_runloop;
		break;
	case BT_TR_DONE:
		break;
	}
	*rflags = (*rflags & ~(uint64_t)BT_FL_LIVE) | (cpu->eflags & BT_FL_LIVE);
	return 0;
}
