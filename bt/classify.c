/* bt: instruction classification, from the one table in classify.def. */
#include "bt_private.h"

static const uint8_t class_of[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
#define BT_INSN(m, c) [ZYDIS_MNEMONIC_##m] = BT_CLASS_##c + 1,
#define BT_SENS(m, g, x, h) [ZYDIS_MNEMONIC_##m] = BT_CLASS_EMULATE + 1,
#define BT_FORM(n, g, x, h)
#include "classify.def"
#undef BT_FORM
#undef BT_SENS
#undef BT_INSN
};

static const uint8_t form_of_mnemonic[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
#define BT_INSN(m, c)
#define BT_SENS(m, g, x, h) [ZYDIS_MNEMONIC_##m] = BT_FORM_##m,
#define BT_FORM(n, g, x, h)
#include "classify.def"
#undef BT_FORM
#undef BT_SENS
#undef BT_INSN
};
_Static_assert(BT_FORM_COUNT <= 256, "form numbers fit form_of_mnemonic");
_Static_assert(BT_XL_COUNT <= 8, "bt_stats.sensitive has a slot per translation");

static const struct bt_form_row rows[BT_FORM_COUNT] = {
	[BT_FORM_NONE] = { "none", BT_GROUP_NONE, BT_XL_EXIT, BT_EMU_NONE },
#define BT_INSN(m, c)
#define BT_SENS(m, g, x, h) \
	[BT_FORM_##m] = { #m, BT_GROUP_##g, BT_XL_##x, BT_EMU_##h },
#define BT_FORM(n, g, x, h) \
	[BT_FORM_##n] = { #n, BT_GROUP_##g, BT_XL_##x, BT_EMU_##h },
#include "classify.def"
#undef BT_FORM
#undef BT_SENS
#undef BT_INSN
};

const struct bt_form_row *bt_form_row(enum bt_form f)
{
	return &rows[f < BT_FORM_COUNT ? f : BT_FORM_NONE];
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

/* An ordinary instruction made sensitive by an operand: a segment,
 * control or debug register, a far branch; or, copied, a hidden stack
 * access, which would move 8 bytes through RSP. (Zydis decodes no MOV to
 * or from a test register in 32-bit mode: 0F 24 and 0F 26 are #UD.) */
static enum bt_form operand_form(const ZydisDecodedInstruction *zi,
				 const ZydisDecodedOperand *ops, enum bt_class c)
{
	if (zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		return BT_FORM_FAR_BRANCH;
	for (unsigned i = 0; i < zi->operand_count; i++) {
		const ZydisDecodedOperand *op = &ops[i];
		if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
			switch (ZydisRegisterGetClass(op->reg.value)) {
			case ZYDIS_REGCLASS_SEGMENT: return BT_FORM_SREG;
			case ZYDIS_REGCLASS_CONTROL: return BT_FORM_MOV_CR;
			case ZYDIS_REGCLASS_DEBUG: return BT_FORM_MOV_DR;
			default: break;
			}
		}
		if (c == BT_CLASS_IDENT && op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    op->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN &&
		    (op->mem.base == ZYDIS_REGISTER_ESP ||
		     op->mem.base == ZYDIS_REGISTER_SP))
			return BT_FORM_HIDDEN_STACK;
	}
	return BT_FORM_NONE;
}

/* The mnemonic's class, FP-family instructions IDENT. */
static enum bt_class mnemonic_class(const ZydisDecodedInstruction *zi)
{
	if (!class_of[zi->mnemonic] && bt_fp_family(zi))
		return BT_CLASS_IDENT;
	return bt_classify_mnemonic(zi->mnemonic);
}

enum bt_form bt_form_of(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	if (form_of_mnemonic[zi->mnemonic])
		return (enum bt_form)form_of_mnemonic[zi->mnemonic];
	enum bt_class c = mnemonic_class(zi);
	return c == BT_CLASS_EMULATE ? BT_FORM_NONE : operand_form(zi, ops, c);
}

enum bt_class bt_classify_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	enum bt_class c = mnemonic_class(zi);
	if (c != BT_CLASS_EMULATE && operand_form(zi, ops, c) != BT_FORM_NONE)
		return BT_CLASS_EMULATE;
	return c;
}
