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
