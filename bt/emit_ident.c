/* bt: innocuous instructions, copied with the fixes 64-bit mode needs. */
#include "bt_private.h"

/*
 * An innocuous instruction runs as itself, with these fixes:
 *  - memory operands get an address-size prefix (0x67), so the effective
 *    address is computed in 32 bits, and a GS override, which adds the
 *    current view's window (bt.h: view_base): every access lands in the
 *    4 GiB of that view -- the translator is the sandbox;
 *  - segment overrides are dropped (CS/SS/DS/ES are flat; FS/GS-relative
 *    operands get their address computed inline, emit_ident_fsgs), and
 *    string instructions run on window-based registers (emit_string);
 *  - ModRM 00/101 ([disp32]) is RIP-relative in 64-bit mode and is
 *    re-encoded with a SIB byte;
 *  - one-byte INC/DEC (0x40-0x4f) are REX prefixes in 64-bit mode and become
 *    FF /0 and FF /1; the 0x82 alias of group 1 is invalid and becomes 0x80.
 * NB: the fault handler relies on every copied instruction being a single
 * host instruction, so a fault anywhere in it is precise.
 */
static void emit_prefixes(struct bt_emit *e, const struct bt_insn *in);

/* AH, CH, DH or BH among the operands: they cannot be named once a REX
 * prefix is present (the same codes then mean SPL, BPL, SIL, DIL). */
static bool names_high_byte(const struct bt_insn *in)
{
	for (unsigned i = 0; i < in->zi.operand_count; i++) {
		const ZydisDecodedOperand *o = &in->ops[i];
		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    (o->reg.value == ZYDIS_REGISTER_AH || o->reg.value == ZYDIS_REGISTER_CH ||
		     o->reg.value == ZYDIS_REGISTER_DH || o->reg.value == ZYDIS_REGISTER_BH))
			return true;
	}
	return false;
}

/* [r15 + BT_CPU_SCRATCH + d] as ModRM (mod 10, rm r15) + disp32, reg field r */
static void emit_scratch_operand(struct bt_emit *e, unsigned r, unsigned d)
{
	emit_u8(e, (uint8_t)(0x87 | (r & 7) << 3));
	emit_u32(e, BT_CPU_SCRATCH + d);
}

/*
 * An FS/GS-relative instruction with an explicit memory operand: its
 * address is computed into r11 (emit_fsgs_address), and the instruction
 * runs as itself on [r11]: the guest's prefixes minus the segment
 * override, REX.B, the opcode, ModRM with mod 00 and rm r11, then the
 * immediate. The moffs forms of MOV (A0-A3) become 8A/8B/88/89 on [r11].
 *
 * With REX present, register codes 4-7 of a byte operand mean SPL..DIL,
 * not AH..BH. An instruction naming AH..BH (in ModRM.reg: the other
 * operand is the memory) runs on r13b instead, which takes the byte
 * through bt_cpu's scratch word with plain moves (no flags touched, and
 * nothing the guest sees changes before the access), and gives it back
 * the same way if the instruction wrote it:
 *
 *   mov [r15+scratch], e?x ; movzx r13d, byte [r15+scratch+1]
 *   <insn with ModRM.reg = r13, REX.R>
 *   mov [r15+scratch], e?x ; mov [r15+scratch+1], r13b ; mov e?x, [r15+scratch]
 *
 * (the second store picks up what the instruction did to the rest of the
 * register: CMPXCHG's AL). Shapes this cannot express -- implicit operands
 * (string instructions, XLAT), VEX/EVEX encodings -- return false: the
 * monitor takes them.
 */
static bool emit_ident_fsgs(struct bt_tx *tx, const struct bt_insn *in)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	struct bt_emit *e = &tx->e;
	unsigned npre = zi->raw.prefix_count;
	uint8_t op = in->bytes[npre];
	bool modrm = zi->attributes & ZYDIS_ATTRIB_HAS_MODRM;
	bool moffs = !modrm && op >= 0xa0 && op <= 0xa3 && npre + 1 + 4 == zi->length;
	bool legacy = zi->encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY;
	if (!legacy || !(moffs || (modrm && zi->raw.modrm.mod != 3)))
		return false;
	bool high = names_high_byte(in);
	unsigned hr = (zi->raw.modrm.reg & 7) - 4; /* AH..BH: EAX..EBX */
	if (high && (moffs || zi->raw.modrm.reg < 4))
		return false;
	emit_fsgs_address(e, in, 0);
	if (high) {
		emit_bytes(e, (const uint8_t[]){ 0x41, 0x89 }, 2);
		emit_scratch_operand(e, hr, 0);
		emit_bytes(e, (const uint8_t[]){ 0x45, 0x0f, 0xb6 }, 3);
		emit_scratch_operand(e, 5, 1);
	}
	emit_prefixes(e, in);
	emit_view(e); /* the window, added to the linear address in r11 */
	emit_u8(e, high ? 0x45 : 0x41); /* REX.B: rm names r11; REX.R: r13 */
	if (moffs) {
		static const uint8_t as_modrm[4] = { 0x8a, 0x8b, 0x88, 0x89 };
		emit_u8(e, as_modrm[op - 0xa0]);
		emit_u8(e, 0x03); /* [r11], reg AL/EAX */
		return true;
	}
	unsigned mo = zi->raw.modrm.offset;
	emit_bytes(e, in->bytes + npre, mo - npre);
	if (op == 0x82)
		e->p[-(int)(mo - npre)] = 0x80;
	emit_u8(e, (uint8_t)((high ? 5 : zi->raw.modrm.reg & 7) << 3 | 3));
	unsigned after = mo + 1 + (zi->raw.modrm.rm == 4 ? 1 : 0) + zi->raw.disp.size / 8;
	emit_bytes(e, in->bytes + after, zi->length - after);
	if (high) {
		emit_bytes(e, (const uint8_t[]){ 0x41, 0x89 }, 2);
		emit_scratch_operand(e, hr, 0);
		emit_bytes(e, (const uint8_t[]){ 0x45, 0x88 }, 2);
		emit_scratch_operand(e, 5, 1);
		emit_bytes(e, (const uint8_t[]){ 0x41, 0x8b }, 2);
		emit_scratch_operand(e, hr, 0);
	}
	return true;
}

/* Segment-override prefixes: CS/SS/DS/ES are flat for the guest (and no-ops
 * in 64-bit mode); FS/GS were dealt with. None is copied: the host's GS
 * override selects the view instead. */
static bool is_seg_prefix(uint8_t b)
{
	return b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65;
}

/* The guest's prefixes but its segment overrides, and but the REP in
 * front of BSF/BSR: the guest's CPU ignores it there, the host's would
 * run TZCNT/LZCNT. */
static void emit_prefixes(struct bt_emit *e, const struct bt_insn *in)
{
	bool bsx = in->zi.mnemonic == ZYDIS_MNEMONIC_BSF || in->zi.mnemonic == ZYDIS_MNEMONIC_BSR;
	for (unsigned i = 0; i < in->zi.raw.prefix_count; i++)
		if (!is_seg_prefix(in->bytes[i]) && !(bsx && in->bytes[i] == 0xf3))
			emit_u8(e, in->bytes[i]);
}

/*
 * String instructions (MOVS CMPS STOS LODS SCAS, REP forms included): the
 * destination ES:EDI takes no segment override, so the window is added to
 * the registers themselves and the instruction runs with 64-bit addresses:
 *
 *   mov r11, [r15 + view_base]
 *   mov esi, esi ; mov edi, edi ; mov ecx, ecx    (zero-extend)
 *   lea rsi, [rsi + r11] ; lea rdi, [rdi + r11]
 *   <rep> movsd                                    (no 0x67)
 *   mov esi, esi ; mov edi, edi                    (back to 32 bits)
 *
 * The window is a multiple of 4 GiB, so the low halves stay the guest's
 * ESI/EDI throughout: a fault part-way through a REP leaves exactly the
 * guest's registers (the fault handler keeps the low halves), and the
 * instruction restarts as on hardware. Nothing here touches the flags.
 */
static bool emit_string(struct bt_tx *tx, const struct bt_insn *in)
{
	struct bt_emit *e = &tx->e;
	emit_bytes(e, (const uint8_t[]){ 0x4d, 0x8b, 0x5f, BT_CPU_VIEW_BASE,
					 0x89, 0xf6, 0x89, 0xff, 0x89, 0xc9,
					 0x4a, 0x8d, 0x34, 0x1e, 0x4a, 0x8d, 0x3c, 0x1f }, 18);
	emit_prefixes(e, in);
	emit_u8(e, in->bytes[in->zi.raw.prefix_count]);
	emit_bytes(e, (const uint8_t[]){ 0x89, 0xf6, 0x89, 0xff }, 4);
	return true;
}

bool emit_ident(struct bt_tx *tx, const struct bt_insn *in)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	struct bt_emit *e = &tx->e;
	unsigned npre = zi->raw.prefix_count;
	uint8_t op = in->bytes[npre];

	if (in->has_mem && zi->address_width != 32)
		return false; /* 16-bit addressing: not in flat 32-bit code */

	if ((zi->mnemonic == ZYDIS_MNEMONIC_INC ||
	     zi->mnemonic == ZYDIS_MNEMONIC_DEC) &&
	    op >= 0x40 && op <= 0x4f) {
		emit_prefixes(e, in);
		emit_u8(e, 0xff);
		emit_u8(e, (uint8_t)(0xc0 | (op >= 0x48 ? 8 : 0) | (op & 7)));
		return true;
	}

	if (emit_is_fsgs(in))
		return emit_ident_fsgs(tx, in); /* or left to the monitor */
	bool string = zi->length == npre + 1 &&
		      ((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf));
	if (string)
		return emit_string(tx, in);
	if (in->has_mem) {
		emit_view(e);
		emit_u8(e, 0x67);
	}
	emit_prefixes(e, in);
	uint8_t *opcode = e->p;
	bool has_modrm = zi->attributes & ZYDIS_ATTRIB_HAS_MODRM;
	bool reencode = has_modrm && zi->raw.modrm.mod != 3 &&
			((zi->raw.modrm.mod == 0 && zi->raw.modrm.rm == 5) ||
			 (e->esp_lag && emit_esp_based(in)));
	if (!reencode) {
		emit_bytes(e, in->bytes + npre, zi->length - npre);
		if (op == 0x82)
			*opcode = 0x80;
		return true;
	}
	/* [disp32], or [esp + ...] with the lag: the opcode, the re-encoded
	 * operand, then the immediate bytes that followed the displacement. */
	unsigned mo = zi->raw.modrm.offset;
	emit_bytes(e, in->bytes + npre, mo - npre);
	if (op == 0x82)
		*opcode = 0x80;
	emit_modrm_mem(e, in, zi->raw.modrm.reg);
	unsigned after = mo + 1 + (zi->raw.modrm.rm == 4 ? 1 : 0) + zi->raw.disp.size / 8;
	emit_bytes(e, in->bytes + after, zi->length - after);
	return true;
}
