/* bt: port I/O answered inline: a callout from translated code, no exit. */
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
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xc7, 0x87 }, 3);
	emit_u32(e, BT_CPU_CALLOUT_ARG);
	emit_u32(e, arg);
	emit_bytes(e, (const uint8_t[]){ 0x41, 0xc7, 0x87 }, 3);
	emit_u32(e, BT_CPU_CALLOUT_EIP);
	emit_u32(e, in->eip);
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
