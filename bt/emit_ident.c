/* bt: innocuous instructions, copied with the fixes 64-bit mode needs. */
#include "bt_private.h"

/*
 * An innocuous instruction runs as itself, with three fixes:
 *  - memory operands get an address-size prefix (0x67), so the effective
 *    address is computed in 32 bits and lands in the S-view [0, 4 GiB):
 *    the translator is the sandbox;
 *  - ModRM 00/101 ([disp32]) is RIP-relative in 64-bit mode and is
 *    re-encoded with a SIB byte;
 *  - one-byte INC/DEC (0x40-0x4f) are REX prefixes in 64-bit mode and become
 *    FF /0 and FF /1; the 0x82 alias of group 1 is invalid and becomes 0x80.
 * NB: the fault handler relies on every copied instruction being a single
 * host instruction, so a fault anywhere in it is precise.
 */
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

/*
 * An FS/GS-relative instruction with an explicit memory operand: its
 * address is computed into r11 (emit_fsgs_address), and the instruction
 * runs as itself on [r11]: the guest's prefixes minus the segment
 * override, REX.B, the opcode, ModRM with mod 00 and rm r11, then the
 * immediate. The moffs forms of MOV (A0-A3) become 8A/8B/88/89 on [r11].
 * Shapes this cannot express -- implicit operands (string instructions,
 * XLAT), AH..BH operands, VEX/EVEX encodings -- return false: the caller
 * then copies them with their segment prefix if the host's FS/GS bases
 * hold the guest's (host_seg_bases in bt.h), or has them emulated.
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
	if (!legacy || names_high_byte(in) || !(moffs || (modrm && zi->raw.modrm.mod != 3)))
		return false;
	emit_fsgs_address(e, in, 0);
	for (unsigned i = 0; i < npre; i++)
		if (in->bytes[i] != 0x64 && in->bytes[i] != 0x65)
			emit_u8(e, in->bytes[i]);
	emit_u8(e, 0x41); /* REX.B: rm names r11 */
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
	emit_u8(e, (uint8_t)((zi->raw.modrm.reg & 7) << 3 | 3));
	unsigned after = mo + 1 + (zi->raw.modrm.rm == 4 ? 1 : 0) + zi->raw.disp.size / 8;
	emit_bytes(e, in->bytes + after, zi->length - after);
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
		emit_bytes(e, in->bytes, npre);
		emit_u8(e, 0xff);
		emit_u8(e, (uint8_t)(0xc0 | (op >= 0x48 ? 8 : 0) | (op & 7)));
		return true;
	}

	if (emit_is_fsgs(in)) {
		if (emit_ident_fsgs(tx, in))
			return true;
		if (!tx->bt->host_seg_bases)
			return false; /* left to the monitor */
		/* else copied below, segment prefix and all */
	}
	if (in->has_mem)
		emit_u8(e, 0x67);
	bool has_modrm = zi->attributes & ZYDIS_ATTRIB_HAS_MODRM;
	if (!has_modrm || zi->raw.modrm.mod == 3 ||
	    !(zi->raw.modrm.mod == 0 && zi->raw.modrm.rm == 5)) {
		uint8_t *start = e->p;
		emit_bytes(e, in->bytes, zi->length);
		if (op == 0x82)
			start[npre] = 0x80;
		return true;
	}
	/* [disp32]: prefixes and opcode, the re-encoded operand, then the
	 * immediate bytes that followed the displacement. */
	unsigned mo = zi->raw.modrm.offset;
	uint8_t *start = e->p;
	emit_bytes(e, in->bytes, mo);
	if (op == 0x82)
		start[npre] = 0x80;
	emit_modrm_mem(e, in, zi->raw.modrm.reg);
	unsigned after = mo + 1 + 4;
	emit_bytes(e, in->bytes + after, zi->length - after);
	return true;
}
