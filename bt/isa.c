/* bt: the one place that decides whether the virtual CPU has an instruction, from its CPUID flags. */
#include "bt_private.h"

#include <string.h>

/*
 * An instruction is the virtual CPU's if the CPUID bit of its extension is
 * set in the flags the monitor gives (bt_set_isa: the very words its CPUID
 * answers, so the two cannot disagree). Zydis names each instruction's
 * extension (its ISA set); the table below says which CPUID bit claims
 * each set. A set missing from the table is one no CPUID bit of ours can
 * claim: #UD. A few instructions need a finer bit than their set's (the
 * rows of by_mnemonic).
 *
 * Encodings in the hint-NOP space (0F 18-0F 1F: ENDBR32, RDSSPD, the
 * prefetches) execute as NOPs on a CPU without their extension (SDM vol. 2,
 * "NOP"; QEMU too), not #UD.
 */

enum word { NEVER, ALWAYS, L1_ECX, L1_EDX, L7_EBX, L7_ECX, L7_EDX, X1_ECX, X1_EDX };

struct need {
	uint8_t word; /* enum word */
	uint8_t bit;
};

static const struct need by_set[ZYDIS_ISA_SET_MAX_VALUE + 1] = {
	/* the 8086 to the Pentium Pro, and NOP spaces: every CPU we could be */
	[ZYDIS_ISA_SET_I86] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_I186] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_I286REAL] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_I286PROTECTED] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_I386] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_I486REAL] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_I486] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_PENTIUMREAL] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_PPRO] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_RDPMC] = { ALWAYS, 0 },       /* its #GP/#UD: emulate.c */
	[ZYDIS_ISA_SET_LAHF] = { ALWAYS, 0 },        /* a CPUID bit in 64-bit mode only */
	[ZYDIS_ISA_SET_PAUSE] = { ALWAYS, 0 },       /* REP NOP before SSE2 */
	[ZYDIS_ISA_SET_FAT_NOP] = { ALWAYS, 0 },
	[ZYDIS_ISA_SET_PREFETCH_NOP] = { ALWAYS, 0 },
	/* leaf 1 EDX */
	[ZYDIS_ISA_SET_X87] = { L1_EDX, 0 },
	[ZYDIS_ISA_SET_CMOV] = { L1_EDX, 15 },
	[ZYDIS_ISA_SET_FCMOV] = { L1_EDX, 15 },      /* and FPU */
	[ZYDIS_ISA_SET_CLFSH] = { L1_EDX, 19 },
	[ZYDIS_ISA_SET_PENTIUMMMX] = { L1_EDX, 23 },
	[ZYDIS_ISA_SET_FXSAVE] = { L1_EDX, 24 },
	[ZYDIS_ISA_SET_SSE] = { L1_EDX, 25 },
	[ZYDIS_ISA_SET_SSEMXCSR] = { L1_EDX, 25 },
	[ZYDIS_ISA_SET_SSE_PREFETCH] = { L1_EDX, 25 },
	[ZYDIS_ISA_SET_SSE2] = { L1_EDX, 26 },
	[ZYDIS_ISA_SET_SSE2MMX] = { L1_EDX, 26 },
	/* leaf 1 ECX */
	[ZYDIS_ISA_SET_SSE3] = { L1_ECX, 0 },
	[ZYDIS_ISA_SET_SSE3X87] = { L1_ECX, 0 },
	[ZYDIS_ISA_SET_PCLMULQDQ] = { L1_ECX, 1 },
	[ZYDIS_ISA_SET_MONITOR] = { L1_ECX, 3 },
	[ZYDIS_ISA_SET_VTX] = { L1_ECX, 5 },
	[ZYDIS_ISA_SET_SMX] = { L1_ECX, 6 },
	[ZYDIS_ISA_SET_SSSE3] = { L1_ECX, 9 },
	[ZYDIS_ISA_SET_SSSE3MMX] = { L1_ECX, 9 },
	[ZYDIS_ISA_SET_FMA] = { L1_ECX, 12 },
	[ZYDIS_ISA_SET_SSE4] = { L1_ECX, 19 },
	[ZYDIS_ISA_SET_SSE42] = { L1_ECX, 20 },
	[ZYDIS_ISA_SET_MOVBE] = { L1_ECX, 22 },
	[ZYDIS_ISA_SET_POPCNT] = { L1_ECX, 23 },
	[ZYDIS_ISA_SET_AES] = { L1_ECX, 25 },
	[ZYDIS_ISA_SET_XSAVE] = { L1_ECX, 26 },
	[ZYDIS_ISA_SET_AVX] = { L1_ECX, 28 },
	[ZYDIS_ISA_SET_AVXAES] = { L1_ECX, 28 },
	[ZYDIS_ISA_SET_F16C] = { L1_ECX, 29 },
	[ZYDIS_ISA_SET_RDRAND] = { L1_ECX, 30 },
	/* leaf 7 */
	[ZYDIS_ISA_SET_BMI1] = { L7_EBX, 3 },
	[ZYDIS_ISA_SET_AVX2] = { L7_EBX, 5 },
	[ZYDIS_ISA_SET_AVX2GATHER] = { L7_EBX, 5 },
	[ZYDIS_ISA_SET_BMI2] = { L7_EBX, 8 },
	[ZYDIS_ISA_SET_INVPCID] = { L7_EBX, 10 },
	[ZYDIS_ISA_SET_RTM] = { L7_EBX, 11 },
	[ZYDIS_ISA_SET_MPX] = { L7_EBX, 14 },
	[ZYDIS_ISA_SET_RDSEED] = { L7_EBX, 18 },
	[ZYDIS_ISA_SET_ADOX_ADCX] = { L7_EBX, 19 },
	[ZYDIS_ISA_SET_SMAP] = { L7_EBX, 20 },
	[ZYDIS_ISA_SET_CLFLUSHOPT] = { L7_EBX, 23 },
	[ZYDIS_ISA_SET_CLWB] = { L7_EBX, 24 },
	[ZYDIS_ISA_SET_SHA] = { L7_EBX, 29 },
	[ZYDIS_ISA_SET_PREFETCHWT1] = { L7_ECX, 0 },
	[ZYDIS_ISA_SET_PKU] = { L7_ECX, 4 },         /* OSPKE */
	[ZYDIS_ISA_SET_WAITPKG] = { L7_ECX, 5 },
	[ZYDIS_ISA_SET_GFNI] = { L7_ECX, 8 },
	[ZYDIS_ISA_SET_VAES] = { L7_ECX, 9 },
	[ZYDIS_ISA_SET_VPCLMULQDQ] = { L7_ECX, 10 },
	[ZYDIS_ISA_SET_RDPID] = { L7_ECX, 22 },
	[ZYDIS_ISA_SET_CLDEMOTE] = { L7_ECX, 25 },
	[ZYDIS_ISA_SET_MOVDIR] = { L7_ECX, 27 },
	[ZYDIS_ISA_SET_SERIALIZE] = { L7_EDX, 14 },
	/* leaf 0x80000001 */
	[ZYDIS_ISA_SET_LZCNT] = { X1_ECX, 5 },
	[ZYDIS_ISA_SET_SSE4A] = { X1_ECX, 6 },
	[ZYDIS_ISA_SET_XOP] = { X1_ECX, 11 },
	[ZYDIS_ISA_SET_LWP] = { X1_ECX, 15 },
	[ZYDIS_ISA_SET_FMA4] = { X1_ECX, 16 },
	[ZYDIS_ISA_SET_TBM] = { X1_ECX, 21 },
	[ZYDIS_ISA_SET_MONITORX] = { X1_ECX, 29 },
	[ZYDIS_ISA_SET_RDTSCP] = { X1_EDX, 27 },
	[ZYDIS_ISA_SET_AMD3DNOW] = { X1_EDX, 31 },
};

/* Instructions whose own CPUID bit is finer than their set's. */
static const struct {
	ZydisMnemonic mnemonic;
	struct need need;
} by_mnemonic[] = {
	{ ZYDIS_MNEMONIC_RDTSC, { L1_EDX, 4 } },
	{ ZYDIS_MNEMONIC_RDMSR, { L1_EDX, 5 } },
	{ ZYDIS_MNEMONIC_WRMSR, { L1_EDX, 5 } },
	{ ZYDIS_MNEMONIC_CMPXCHG8B, { L1_EDX, 8 } },
	{ ZYDIS_MNEMONIC_SYSENTER, { L1_EDX, 11 } },
	{ ZYDIS_MNEMONIC_SYSEXIT, { L1_EDX, 11 } },
	{ ZYDIS_MNEMONIC_FCOMI, { L1_EDX, 15 } },
	{ ZYDIS_MNEMONIC_FCOMIP, { L1_EDX, 15 } },
	{ ZYDIS_MNEMONIC_FUCOMI, { L1_EDX, 15 } },
	{ ZYDIS_MNEMONIC_FUCOMIP, { L1_EDX, 15 } },
	/* in Zydis's "AMD" set; the bit is SYSCALL/SYSRET's own */
	{ ZYDIS_MNEMONIC_SYSCALL, { X1_EDX, 11 } },
	{ ZYDIS_MNEMONIC_SYSRET, { X1_EDX, 11 } },
};

static struct need need_of(const ZydisDecodedInstruction *zi)
{
	for (size_t i = 0; i < sizeof by_mnemonic / sizeof by_mnemonic[0]; i++)
		if (by_mnemonic[i].mnemonic == zi->mnemonic)
			return by_mnemonic[i].need;
	return zi->meta.isa_set <= ZYDIS_ISA_SET_MAX_VALUE ? by_set[zi->meta.isa_set]
							   : (struct need){ NEVER, 0 };
}

static bool claimed(const struct bt_isa *isa, struct need n)
{
	uint32_t word;
	switch (n.word) {
	case ALWAYS: return true;
	case L1_ECX: word = isa->l1_ecx; break;
	case L1_EDX: word = isa->l1_edx; break;
	case L7_EBX: word = isa->l7_ebx; break;
	case L7_ECX: word = isa->l7_ecx; break;
	case L7_EDX: word = isa->l7_edx; break;
	case X1_ECX: word = isa->x1_ecx; break;
	case X1_EDX: word = isa->x1_edx; break;
	default: return false;
	}
	return (word >> n.bit) & 1;
}

static bool hint_nop(const ZydisDecodedInstruction *zi)
{
	return zi->encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY &&
	       zi->opcode_map == ZYDIS_OPCODE_MAP_0F && zi->opcode >= 0x18 && zi->opcode <= 0x1f;
}

enum bt_isa_verdict bt_isa_check(const struct bt_isa *isa, const ZydisDecodedInstruction *zi)
{
	if (claimed(isa, need_of(zi)))
		return BT_ISA_HAS;
	return hint_nop(zi) ? BT_ISA_NOP : BT_ISA_UD;
}

void bt_set_isa(struct bt *bt, const struct bt_isa *isa)
{
	if (!memcmp(&bt->isa, isa, sizeof *isa))
		return;
	bt->isa = *isa;
	bt_flush(bt);
}

const struct bt_isa *bt_get_isa(const struct bt *bt)
{
	return &bt->isa;
}
