/* bt: instruction classification, from the one table in classify.def. */
#include "bt_private.h"

static const uint8_t class_of[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
#define BT_INSN(m, c) [ZYDIS_MNEMONIC_##m] = BT_CLASS_##c + 1,
#define BT_SENS(m, g) [ZYDIS_MNEMONIC_##m] = BT_CLASS_EMULATE + 1,
#include "classify.def"
#undef BT_SENS
#undef BT_INSN
};

static const uint8_t group_of[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
#define BT_INSN(m, c)
#define BT_SENS(m, g) [ZYDIS_MNEMONIC_##m] = BT_GROUP_##g,
#include "classify.def"
#undef BT_SENS
#undef BT_INSN
};

enum bt_group bt_group_of(int mnemonic)
{
	if (mnemonic < 0 || mnemonic > ZYDIS_MNEMONIC_MAX_VALUE)
		return BT_GROUP_NONE;
	return (enum bt_group)group_of[mnemonic];
}

enum bt_class bt_classify_mnemonic(int mnemonic)
{
	if (mnemonic < 0 || mnemonic > ZYDIS_MNEMONIC_MAX_VALUE ||
	    !class_of[mnemonic])
		return BT_CLASS_EMULATE;
	return (enum bt_class)(class_of[mnemonic] - 1);
}

const char *bt_class_name(enum bt_class c)
{
	static const char *const names[] = { "ident", "stack", "branch", "emulate" };
	return c < BT_CLASS_COUNT ? names[c] : "?";
}

void bt_decoder_init(ZydisDecoder *d)
{
	ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
	ZydisDecoderEnableMode(d, ZYDIS_DECODER_MODE_LZCNT, false);
	ZydisDecoderEnableMode(d, ZYDIS_DECODER_MODE_TZCNT, false);
}

/* x87/MMX/SSE-family instructions are innocuous: the guest's FP state is
 * live in the host's registers while translated code runs. (Those of
 * extensions the virtual CPUID does not claim never run: isa.c.) */
bool bt_fp_family(const ZydisDecodedInstruction *zi)
{
	if (zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
		return false; /* VEX/EVEX: AVX is not in the virtual CPU */
	if (zi->mnemonic == ZYDIS_MNEMONIC_FWAIT)
		return true;
	switch (zi->meta.isa_ext) {
	case ZYDIS_ISA_EXT_X87:
	case ZYDIS_ISA_EXT_MMX:
	case ZYDIS_ISA_EXT_SSE:
	case ZYDIS_ISA_EXT_SSE2:
	case ZYDIS_ISA_EXT_SSE3:
		return true;
	default:
		return false;
	}
}

bool bt_xmm_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	if (!bt_fp_family(zi) || zi->meta.isa_ext == ZYDIS_ISA_EXT_X87 ||
	    zi->meta.isa_ext == ZYDIS_ISA_EXT_MMX)
		return false;
	if (zi->mnemonic == ZYDIS_MNEMONIC_LDMXCSR || zi->mnemonic == ZYDIS_MNEMONIC_STMXCSR)
		return true;
	for (unsigned i = 0; i < zi->operand_count; i++)
		if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    ZydisRegisterGetClass(ops[i].reg.value) == ZYDIS_REGCLASS_XMM)
			return true;
	return false;
}

enum bt_class bt_classify(const struct bt_insn *in)
{
	return bt_classify_insn(&in->zi, in->ops);
}

enum bt_class bt_classify_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	enum bt_class c = bt_classify_mnemonic(zi->mnemonic);
	if (!class_of[zi->mnemonic] && bt_fp_family(zi))
		c = BT_CLASS_IDENT;
	if (c == BT_CLASS_EMULATE)
		return c;
	if (zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		return BT_CLASS_EMULATE;
	for (unsigned i = 0; i < zi->operand_count; i++) {
		const ZydisDecodedOperand *op = &ops[i];
		if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
			switch (ZydisRegisterGetClass(op->reg.value)) {
			case ZYDIS_REGCLASS_SEGMENT:
			case ZYDIS_REGCLASS_CONTROL:
			case ZYDIS_REGCLASS_DEBUG:
			case ZYDIS_REGCLASS_TEST:
				return BT_CLASS_EMULATE;
			default:
				break;
			}
		}
		/* A hidden stack access in a copied instruction would move 8
		 * bytes through RSP: never copy one. */
		if (c == BT_CLASS_IDENT && op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    op->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN &&
		    (op->mem.base == ZYDIS_REGISTER_ESP ||
		     op->mem.base == ZYDIS_REGISTER_SP))
			return BT_CLASS_EMULATE;
	}
	return c;
}
