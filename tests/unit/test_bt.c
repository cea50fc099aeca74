/* Unit tests for bt/: the classification table and the translator's rewriting rules. */
#define _GNU_SOURCE /* memmem, REG_* */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_private.h"
#include "hostdriver.h"

static ZydisDecoder dec;

/* Decode one 32-bit guest instruction at `eip`. */
static void decode(struct bt_insn *in, const uint8_t *code, size_t len, uint32_t eip)
{
	memset(in, 0, sizeof *in);
	ck_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code, len, &in->zi, in->ops)));
	in->bytes = code;
	in->eip = eip;
	in->next_eip = eip + in->zi.length;
	for (unsigned i = 0; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY)
			in->has_mem = true;
}

static enum bt_class classify(const uint8_t *code, size_t len)
{
	struct bt_insn in;
	decode(&in, code, len, 0x1000);
	return bt_classify(&in);
}
#define CLASS(...) classify((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* Translate one instruction with its class's emitter; return the bytes. */
static struct bt fake_bt;
static struct bt_tx tx;
static uint8_t out[256];
static bool s_block; /* emit for an S block (the rewrite tests below are U blocks') */

static size_t emit(const uint8_t *code, size_t len, uint32_t eip)
{
	struct bt_insn in;
	decode(&in, code, len, eip);
	memset(&tx, 0, sizeof tx);
	memset(out, 0xcc, sizeof out);
	tx.bt = &fake_bt;
	tx.e.p = tx.e.start = out;
	tx.e.user = !s_block;
	bool ok = false;
	switch (bt_classify(&in)) {
	case BT_CLASS_IDENT: ok = emit_ident(&tx, &in); break;
	case BT_CLASS_STACK: ok = emit_stack(&tx, &in); break;
	case BT_CLASS_BRANCH: ok = emit_branch(&tx, &in); break;
	default: break;
	}
	ck_assert_msg(ok, "instruction not translated");
	emit_esp_settle(&tx.e); /* as at the end of a block */
	return (size_t)(tx.e.p - out);
}

static void expect(const uint8_t *code, size_t len, const uint8_t *want, size_t wlen)
{
	size_t n = emit(code, len, 0x1000);
	char got[3 * sizeof out + 1] = "";
	for (size_t i = 0; i < n && i < sizeof out; i++)
		sprintf(got + 3 * i, "%02x ", out[i]);
	ck_assert_msg(n == wlen && !memcmp(out, want, wlen),
		      "rewritten bytes differ: got %s(%zu bytes, want %zu)", got, n, wlen);
}
#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })
#define EXPECT(code, want) expect(code, want)

START_TEST(every_mnemonic_has_a_class)
{
	for (int m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++) {
		enum bt_class c = bt_classify_mnemonic(m);
		ck_assert_int_lt(c, BT_CLASS_COUNT);
		ck_assert_ptr_nonnull(bt_class_name(c));
	}
	ck_assert_int_eq(bt_classify_mnemonic(-1), BT_CLASS_EMULATE);
	ck_assert_int_eq(bt_classify_mnemonic(ZYDIS_MNEMONIC_MAX_VALUE + 1), BT_CLASS_EMULATE);
}
END_TEST

/* Robin & Irvine's 17 and the rest of ARCHITECTURE.md §5 are never
 * copied as they are: each is a row of its own in classify.def (where
 * each goes, translated and emulated: unit.routes). */
START_TEST(sensitive_mnemonics_are_emulated)
{
	static const ZydisMnemonic m[] = {
		ZYDIS_MNEMONIC_SGDT, ZYDIS_MNEMONIC_SIDT, ZYDIS_MNEMONIC_SLDT,
		ZYDIS_MNEMONIC_SMSW, ZYDIS_MNEMONIC_PUSHF, ZYDIS_MNEMONIC_PUSHFD,
		ZYDIS_MNEMONIC_POPF, ZYDIS_MNEMONIC_POPFD, ZYDIS_MNEMONIC_LAR,
		ZYDIS_MNEMONIC_LSL, ZYDIS_MNEMONIC_VERR, ZYDIS_MNEMONIC_VERW,
		ZYDIS_MNEMONIC_INT, ZYDIS_MNEMONIC_STR, ZYDIS_MNEMONIC_CLI,
		ZYDIS_MNEMONIC_STI, ZYDIS_MNEMONIC_IRET, ZYDIS_MNEMONIC_IRETD,
		ZYDIS_MNEMONIC_INT3, ZYDIS_MNEMONIC_INTO, ZYDIS_MNEMONIC_HLT,
		ZYDIS_MNEMONIC_IN, ZYDIS_MNEMONIC_OUT, ZYDIS_MNEMONIC_INSB,
		ZYDIS_MNEMONIC_OUTSD, ZYDIS_MNEMONIC_LGDT, ZYDIS_MNEMONIC_LIDT,
		ZYDIS_MNEMONIC_LLDT, ZYDIS_MNEMONIC_LTR, ZYDIS_MNEMONIC_LMSW,
		ZYDIS_MNEMONIC_LDS, ZYDIS_MNEMONIC_LES, ZYDIS_MNEMONIC_LFS,
		ZYDIS_MNEMONIC_LGS, ZYDIS_MNEMONIC_LSS, ZYDIS_MNEMONIC_CPUID,
		ZYDIS_MNEMONIC_RDTSC, ZYDIS_MNEMONIC_RDMSR, ZYDIS_MNEMONIC_WRMSR,
		ZYDIS_MNEMONIC_SYSENTER, ZYDIS_MNEMONIC_SYSEXIT, ZYDIS_MNEMONIC_SYSCALL,
		ZYDIS_MNEMONIC_INVLPG, ZYDIS_MNEMONIC_INVD, ZYDIS_MNEMONIC_WBINVD,
		ZYDIS_MNEMONIC_CLTS, ZYDIS_MNEMONIC_PUSHAD, ZYDIS_MNEMONIC_POPAD,
		ZYDIS_MNEMONIC_BOUND, ZYDIS_MNEMONIC_ARPL, ZYDIS_MNEMONIC_DAA,
		ZYDIS_MNEMONIC_DAS, ZYDIS_MNEMONIC_AAA, ZYDIS_MNEMONIC_AAS,
		ZYDIS_MNEMONIC_AAM, ZYDIS_MNEMONIC_AAD, ZYDIS_MNEMONIC_SALC,
		ZYDIS_MNEMONIC_ENTER, ZYDIS_MNEMONIC_UD2, ZYDIS_MNEMONIC_XSETBV,
	};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		ck_assert_msg(bt_classify_mnemonic(m[i]) == BT_CLASS_EMULATE,
			      "%s is not emulated", ZydisMnemonicGetString(m[i]));
		ck_assert_msg(bt_form_of(&(ZydisDecodedInstruction){ .mnemonic = m[i] },
					 NULL) != BT_FORM_NONE,
			      "%s has no row", ZydisMnemonicGetString(m[i]));
	}
	/* Ordinary instructions have no row. */
	struct bt_insn in;
	decode(&in, B(0x01, 0xc8), 0x1000); /* add eax, ecx */
	ck_assert_int_eq(bt_form_of(&in.zi, in.ops), BT_FORM_NONE);
	decode(&in, B(0x50), 0x1000); /* push eax */
	ck_assert_int_eq(bt_form_of(&in.zi, in.ops), BT_FORM_NONE);
}
END_TEST

static enum bt_isa_verdict isa_check(const struct bt_isa *isa, const uint8_t *code, size_t len)
{
	struct bt_insn in;
	decode(&in, code, len, 0x1000);
	return bt_isa_check(isa, &in.zi);
}
#define ISA(isa, ...) isa_check(isa, (const uint8_t[]){ __VA_ARGS__ }, \
				sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* An instruction is the CPU's exactly when its CPUID bit is set; the hint
 * NOP space is a NOP without it. */
START_TEST(isa_follows_cpuid_bits)
{
	struct bt_isa none = { 0 }, isa = { 0 };
	ck_assert_int_eq(ISA(&none, 0x89, 0xc8), BT_ISA_HAS);               /* mov eax, ecx */
	ck_assert_int_eq(ISA(&none, 0x0f, 0xa2), BT_ISA_HAS);               /* cpuid */
	ck_assert_int_eq(ISA(&none, 0xf3, 0x0f, 0xb8, 0xc1), BT_ISA_UD);    /* popcnt */
	ck_assert_int_eq(ISA(&none, 0xd9, 0xc0), BT_ISA_UD);                /* fld st0: no FPU */
	ck_assert_int_eq(ISA(&none, 0x0f, 0x05), BT_ISA_UD);                /* syscall */
	ck_assert_int_eq(ISA(&none, 0xf3, 0x0f, 0x1e, 0xfb), BT_ISA_NOP);   /* endbr32 */
	ck_assert_int_eq(ISA(&none, 0xf3, 0x0f, 0x1e, 0xc8), BT_ISA_NOP);   /* rdsspd */
	/* lzcnt, as this test's decoder sees it (bt_decoder_init's: rep bsr) */
	ck_assert_int_eq(ISA(&none, 0xf3, 0x0f, 0xbd, 0xc1), BT_ISA_UD);
	isa.l1_ecx = 1u << 23;
	isa.l1_edx = 1u << 0 | 1u << 25;
	isa.x1_edx = 1u << 11;
	isa.l7_ebx = 1u << 3;
	ck_assert_int_eq(ISA(&isa, 0xf3, 0x0f, 0xb8, 0xc1), BT_ISA_HAS);
	ck_assert_int_eq(ISA(&isa, 0xd9, 0xc0), BT_ISA_HAS);
	ck_assert_int_eq(ISA(&isa, 0x0f, 0x58, 0xc1), BT_ISA_HAS);          /* addps */
	ck_assert_int_eq(ISA(&isa, 0x66, 0x0f, 0xd4, 0xc1), BT_ISA_UD);     /* paddq: SSE2 */
	ck_assert_int_eq(ISA(&isa, 0x0f, 0x05), BT_ISA_HAS);
	ck_assert_int_eq(ISA(&isa, 0xc4, 0xe2, 0x70, 0xf2, 0xc2), BT_ISA_HAS); /* andn */
	ck_assert_int_eq(ISA(&isa, 0xc5, 0xf0, 0x58, 0xc2), BT_ISA_UD);     /* vaddps: AVX */
	ck_assert_int_eq(ISA(&isa, 0x0f, 0x01, 0xf9), BT_ISA_UD);           /* rdtscp */
}
END_TEST

/* Operand checks refine the table. */
START_TEST(operand_refinements)
{
	ck_assert_int_eq(CLASS(0x8e, 0xd8), BT_CLASS_EMULATE);        /* mov ds, ax */
	ck_assert_int_eq(CLASS(0x8c, 0xc8), BT_CLASS_EMULATE);        /* mov eax, cs */
	ck_assert_int_eq(CLASS(0x0f, 0x20, 0xc0), BT_CLASS_EMULATE);  /* mov eax, cr0 */
	ck_assert_int_eq(CLASS(0x0f, 0x23, 0xf8), BT_CLASS_EMULATE);  /* mov dr7, eax */
	ck_assert_int_eq(CLASS(0x1e), BT_CLASS_EMULATE);              /* push ds */
	ck_assert_int_eq(CLASS(0x0f, 0xa9), BT_CLASS_EMULATE);        /* pop gs */
	ck_assert_int_eq(CLASS(0xea, 0, 0, 0x10, 0, 0x08, 0), BT_CLASS_EMULATE); /* jmp far */
	ck_assert_int_eq(CLASS(0xff, 0x18), BT_CLASS_EMULATE);        /* call far [eax] */
	ck_assert_int_eq(CLASS(0xcb), BT_CLASS_EMULATE);              /* retf */
	ck_assert_int_eq(CLASS(0xcd, 0x80), BT_CLASS_EMULATE);        /* int 0x80 */
	ck_assert_int_eq(CLASS(0x0f, 0x05), BT_CLASS_EMULATE);        /* syscall */
	ck_assert_int_eq(CLASS(0x0f, 0xae, 0x20), BT_CLASS_EMULATE);  /* xsave [eax] */
	ck_assert_int_eq(CLASS(0xc5, 0xf8, 0x58, 0xc1), BT_CLASS_EMULATE); /* vaddps (AVX) */
	ck_assert_int_eq(CLASS(0x8b, 0xc3), BT_CLASS_IDENT);          /* mov eax, ebx */
	ck_assert_int_eq(CLASS(0xd8, 0xc1), BT_CLASS_IDENT);          /* fadd st0, st1 */
	ck_assert_int_eq(CLASS(0x0f, 0x58, 0xc1), BT_CLASS_IDENT);    /* addps */
	ck_assert_int_eq(CLASS(0x66, 0x0f, 0xef, 0xc0), BT_CLASS_IDENT); /* pxor */
	ck_assert_int_eq(CLASS(0x0f, 0xae, 0x00), BT_CLASS_IDENT);    /* fxsave [eax] */
	ck_assert_int_eq(CLASS(0x53), BT_CLASS_STACK);                /* push ebx */
	ck_assert_int_eq(CLASS(0xc9), BT_CLASS_STACK);                /* leave */
	ck_assert_int_eq(CLASS(0xc3), BT_CLASS_BRANCH);               /* ret */
	ck_assert_int_eq(CLASS(0xe2, 0xfe), BT_CLASS_BRANCH);         /* loop */
}
END_TEST

/* Every guest access of a U block carries the GS override that adds the
 * user view's window, and a 32-bit address. */
#define ACC 0x65, 0x67

START_TEST(ident_rewrites)
{
	EXPECT(B(0x01, 0xd8), B(0x01, 0xd8));                         /* add eax, ebx: as is */
	EXPECT(B(0x40), B(0xff, 0xc0));                               /* inc eax */
	EXPECT(B(0x4f), B(0xff, 0xcf));                               /* dec edi */
	EXPECT(B(0x66, 0x41), B(0x66, 0xff, 0xc1));                   /* inc cx */
	EXPECT(B(0x8b, 0x05, 0x34, 0x12, 0, 0),                       /* mov eax, [0x1234] */
	       B(ACC, 0x8b, 0x04, 0x25, 0x34, 0x12, 0, 0));
	EXPECT(B(0xc7, 0x05, 0, 0x10, 0, 0, 0x78, 0x56, 0x34, 0x12),  /* mov [0x1000], imm */
	       B(ACC, 0xc7, 0x04, 0x25, 0, 0x10, 0, 0, 0x78, 0x56, 0x34, 0x12));
	EXPECT(B(0x82, 0x00, 0x01), B(ACC, 0x80, 0x00, 0x01));        /* add byte [eax], 1 */
	EXPECT(B(0x3e, 0x82, 0x00, 0x01), B(ACC, 0x80, 0x00, 0x01));  /* ds: dropped */
	EXPECT(B(0xa1, 0x00, 0x20, 0, 0), B(ACC, 0xa1, 0x00, 0x20, 0, 0)); /* mov eax, [moffs] */
	EXPECT(B(0x8d, 0x44, 0x24, 0x08), B(ACC, 0x8d, 0x44, 0x24, 0x08)); /* lea eax, [esp+8] */
	EXPECT(B(0xf0, 0x01, 0x01), B(ACC, 0xf0, 0x01, 0x01));        /* lock add [ecx], eax */
	EXPECT(B(0xd7), B(ACC, 0xd7));                                /* xlat */
}
END_TEST

/* String instructions: ESI/EDI moved into the window, then back. */
#define STR_IN 0x4d, 0x8b, 0x5f, BT_CPU_VIEW_BASE, 0x89, 0xf6, 0x89, 0xff, 0x89, 0xc9, \
	       0x4a, 0x8d, 0x34, 0x1e, 0x4a, 0x8d, 0x3c, 0x1f
#define STR_OUT 0x89, 0xf6, 0x89, 0xff

START_TEST(string_rewrites)
{
	EXPECT(B(0xa5), B(STR_IN, 0xa5, STR_OUT));                    /* movsd */
	EXPECT(B(0xf3, 0xa5), B(STR_IN, 0xf3, 0xa5, STR_OUT));        /* rep movsd */
	EXPECT(B(0x26, 0xf3, 0xaa), B(STR_IN, 0xf3, 0xaa, STR_OUT));  /* rep stosb (es: dropped) */
	EXPECT(B(0x66, 0xf2, 0xaf), B(STR_IN, 0x66, 0xf2, 0xaf, STR_OUT)); /* repne scasw */
	EXPECT(B(0xac), B(STR_IN, 0xac, STR_OUT));                    /* lodsb */
}
END_TEST

/* The FS/GS base of every FS/GS-relative operand: r11d = address + base. */
#define FS_ADDR(...) 0x67, 0x44, 0x8d, __VA_ARGS__, 0x4d, 0x8b, 0x67, BT_CPU_FSBASE, \
		     0x67, 0x47, 0x8d, 0x1c, 0x23
#define GS_MOFFS(a, b, c, d) 0x41, 0xbb, a, b, c, d, 0x4d, 0x8b, 0x67, BT_CPU_GSBASE, \
			     0x67, 0x47, 0x8d, 0x1c, 0x23

/* FS/GS-relative accesses never use the host's segment bases (the same
 * code on hosts with and without FSGSBASE): the address is computed into
 * r11, and the access goes to gs:[r11] (the view's window). */
START_TEST(fsgs_rewrites)
{
	EXPECT(B(0x64, 0x8b, 0x03),                                   /* mov eax, fs:[ebx] */
	       B(FS_ADDR(0x1b), 0x65, 0x41, 0x8b, 0x03));
	EXPECT(B(0x65, 0xa1, 0xf8, 0xff, 0xff, 0xff),                 /* mov eax, gs:[-8] */
	       B(GS_MOFFS(0xf8, 0xff, 0xff, 0xff), 0x65, 0x41, 0x8b, 0x03));
	EXPECT(B(0x65, 0xa2, 0x10, 0, 0, 0),                          /* mov gs:[0x10], al */
	       B(GS_MOFFS(0x10, 0, 0, 0), 0x65, 0x41, 0x88, 0x03));
	EXPECT(B(0x64, 0xc7, 0x05, 0x04, 0, 0, 0, 0x78, 0x56, 0x34, 0x12),
	       /* mov dword fs:[4], imm32: [disp32] re-encoded, then the imm */
	       B(FS_ADDR(0x1c, 0x25, 0x04, 0, 0, 0), 0x65, 0x41, 0xc7, 0x03,
		 0x78, 0x56, 0x34, 0x12));
	EXPECT(B(0xf0, 0x64, 0x0f, 0xb1, 0x4c, 0x24, 0x08),           /* lock cmpxchg fs:[esp+8], ecx */
	       B(FS_ADDR(0x5c, 0x24, 0x08), 0xf0, 0x65, 0x41, 0x0f, 0xb1, 0x0b));
	EXPECT(B(0x64, 0xff, 0x35, 0x20, 0, 0, 0),                    /* push dword fs:[0x20] */
	       B(FS_ADDR(0x1c, 0x25, 0x20, 0, 0, 0), 0x65, 0x45, 0x8b, 0x33,
		 ACC, 0x44, 0x89, 0x74, 0x24, 0xfc,
		 0x67, 0x8d, 0x64, 0x24, 0xfc));
	EXPECT(B(0x64, 0x8f, 0x44, 0x24, 0x04),                       /* pop dword fs:[esp+4] */
	       B(ACC, 0x44, 0x8b, 0x34, 0x24,
		 /* the address after the pop: [esp+4] + 4 */
		 0x67, 0x44, 0x8d, 0x5c, 0x24, 0x04, 0x67, 0x45, 0x8d, 0x9b, 4, 0, 0, 0,
		 0x4d, 0x8b, 0x67, BT_CPU_FSBASE, 0x67, 0x47, 0x8d, 0x1c, 0x23,
		 0x65, 0x45, 0x89, 0x33,
		 0x67, 0x8d, 0x64, 0x24, 0x04));
	/* AH..BH go through r13b and the scratch word (REX makes their
	 * codes SPL..DIL). */
	EXPECT(B(0x64, 0x8a, 0x23),                                   /* mov ah, fs:[ebx] */
	       B(FS_ADDR(0x1b),
		 0x41, 0x89, 0x87, BT_CPU_SCRATCH, 0, 0, 0,           /* mov [r15+scratch], eax */
		 0x45, 0x0f, 0xb6, 0xaf, BT_CPU_SCRATCH + 1, 0, 0, 0, /* movzx r13d, byte [..+1] */
		 0x65, 0x45, 0x8a, 0x2b,                              /* mov r13b, [r11] */
		 0x41, 0x89, 0x87, BT_CPU_SCRATCH, 0, 0, 0,           /* mov [r15+scratch], eax */
		 0x45, 0x88, 0xaf, BT_CPU_SCRATCH + 1, 0, 0, 0,       /* mov [..+1], r13b */
		 0x41, 0x8b, 0x87, BT_CPU_SCRATCH, 0, 0, 0));         /* mov eax, [r15+scratch] */
	/* Shapes with no [r11] form are left to the monitor. */
	static const uint8_t refused[][4] = {
		{ 0x64, 0xa5, 0x90 },       /* movsd fs: */
		{ 0x65, 0xd7, 0x90 },       /* xlat gs: */
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		struct bt_insn in;
		decode(&in, refused[i], 4, 0x1000);
		memset(&tx, 0, sizeof tx);
		tx.bt = &fake_bt;
		tx.e.p = tx.e.start = out;
		ck_assert(!emit_ident(&tx, &in));
		ck_assert_ptr_eq(tx.e.p, out); /* nothing emitted */
	}
}
END_TEST

START_TEST(stack_rewrites)
{
	EXPECT(B(0x53),                                               /* push ebx */
	       B(ACC, 0x89, 0x5c, 0x24, 0xfc, 0x67, 0x8d, 0x64, 0x24, 0xfc));
	EXPECT(B(0x59),                                               /* pop ecx */
	       B(ACC, 0x8b, 0x0c, 0x24, 0x67, 0x8d, 0x64, 0x24, 0x04));
	EXPECT(B(0x5c), B(ACC, 0x8b, 0x24, 0x24));                    /* pop esp */
	EXPECT(B(0x6a, 0xff),                                         /* push -1 */
	       B(ACC, 0xc7, 0x44, 0x24, 0xfc, 0xff, 0xff, 0xff, 0xff,
		 0x67, 0x8d, 0x64, 0x24, 0xfc));
	EXPECT(B(0xff, 0x35, 0, 0x20, 0, 0),                          /* push dword [0x2000] */
	       B(ACC, 0x44, 0x8b, 0x34, 0x25, 0, 0x20, 0, 0,
		 ACC, 0x44, 0x89, 0x74, 0x24, 0xfc,
		 0x67, 0x8d, 0x64, 0x24, 0xfc));
	EXPECT(B(0x8f, 0x44, 0x24, 0x04),                             /* pop dword [esp+4] */
	       B(ACC, 0x44, 0x8b, 0x34, 0x24,
		 ACC, 0x44, 0x89, 0xb4, 0x24, 0x08, 0, 0, 0,         /* address after the pop */
		 0x67, 0x8d, 0x64, 0x24, 0x04));
	EXPECT(B(0xc9),                                               /* leave */
	       B(ACC, 0x44, 0x8b, 0x75, 0x00, 0x67, 0x8d, 0x65, 0x04, 0x44, 0x89, 0xf5));
	EXPECT(B(0x66, 0x50),                                         /* push ax */
	       B(0x66, ACC, 0x89, 0x44, 0x24, 0xfe, 0x67, 0x8d, 0x64, 0x24, 0xfe));
}
END_TEST

/* Sensitive reads of monitor state done inline: MOV from a segment
 * register (any CPL) and MOV from CR2 (ring 0, else the monitor's). */
static struct bt_seg_image fake_segs[6];
static uint32_t fake_cr2;

static size_t emit_read(const uint8_t *code, size_t len, bool (*fn)(struct bt_tx *,
								    const struct bt_insn *))
{
	struct bt_insn in;
	decode(&in, code, len, 0x1000);
	memset(&tx, 0, sizeof tx);
	memset(out, 0xcc, sizeof out);
	tx.bt = &fake_bt;
	tx.e.p = tx.e.start = out;
	tx.e.user = true;
	fake_bt.env.seg_regs = fake_segs;
	fake_bt.env.cr2 = &fake_cr2;
	bool ok = fn(&tx, &in);
	fake_bt.env.seg_regs = NULL;
	fake_bt.env.cr2 = NULL;
	return ok ? (size_t)(tx.e.p - out) : 0;
}

START_TEST(sensitive_reads_inline)
{
	uint64_t ss = (uint64_t)&fake_segs[2], ds = (uint64_t)&fake_segs[3];
	uint8_t want[32] = { 0x49, 0xbb };
	/* mov eax, ss: movzx eax, word [r11] */
	ck_assert_uint_eq(emit_read(B(0x8c, 0xd0), emit_seg_inline), 14);
	memcpy(want + 2, &ss, 8);
	memcpy(want + 10, (const uint8_t[]){ 0x41, 0x0f, 0xb7, 0x03 }, 4);
	ck_assert_mem_eq(out, want, 14);
	/* mov cx, ss: a 16-bit write */
	ck_assert_uint_eq(emit_read(B(0x66, 0x8c, 0xd1), emit_seg_inline), 14);
	memcpy(want + 10, (const uint8_t[]){ 0x66, 0x41, 0x8b, 0x0b }, 4);
	ck_assert_mem_eq(out, want, 14);
	/* mov [ebx], ds: r13w stored through the view */
	ck_assert_uint_eq(emit_read(B(0x8c, 0x1b), emit_seg_inline), 20);
	memcpy(want + 2, &ds, 8);
	memcpy(want + 10, (const uint8_t[]){ 0x45, 0x0f, 0xb7, 0x2b, 0x66, 0x65, 0x67, 0x44, 0x89, 0x2b }, 10);
	ck_assert_mem_eq(out, want, 20);
	/* mov edi, cr2: ring-0 test with flags parked, then mov edi, [r11] */
	size_t n = emit_read(B(0x0f, 0x20, 0xd7), emit_cr2_read);
	ck_assert_uint_gt(n, 0);
	uint64_t cr2 = (uint64_t)&fake_cr2;
	uint8_t load[13] = { 0x49, 0xbb };
	memcpy(load + 2, &cr2, 8);
	memcpy(load + 10, (const uint8_t[]){ 0x41, 0x8b, 0x3b }, 3);
	ck_assert_ptr_nonnull(memmem(out, n, load, sizeof load));
	/* Not reads: left alone. */
	ck_assert_uint_eq(emit_read(B(0x0f, 0x20, 0xd8), emit_cr2_read), 0); /* mov eax, cr3 */
	ck_assert_uint_eq(emit_read(B(0x0f, 0x22, 0xd0), emit_cr2_read), 0); /* mov cr2, eax */
}
END_TEST

/* SYSENTER and INT n from a U block, SYSEXIT and IRETD from an S block go
 * through their callout, then to the target by the indirect-branch
 * lookup; the other way round they stay emulated. */
static enum bt_tr_result fake_sys(void *ctx, enum bt_transition kind, uint8_t vector,
				  uint32_t ecx, uint32_t edx)
{
	(void)ctx, (void)kind, (void)vector, (void)ecx, (void)edx;
	return BT_TR_DONE;
}

static size_t emit_sys(const uint8_t *code, size_t len, bool user)
{
	struct bt_insn in;
	decode(&in, code, len, 0x1000);
	memset(&tx, 0, sizeof tx);
	tx.bt = &fake_bt;
	tx.e.p = tx.e.start = out;
	tx.e.user = user;
	fake_bt.env.transition = fake_sys;
	bool ok = emit_inline_sys(&tx, &in);
	fake_bt.env.transition = NULL;
	ck_assert(ok == tx.end);
	return ok ? (size_t)(tx.e.p - out) : 0;
}

START_TEST(sys_transitions_by_callout)
{
	size_t n = emit_sys(B(0x0f, 0x34), true); /* sysenter, U block */
	ck_assert_uint_eq(n, 11 + 11 + 7 + 7 + 10 + 3 + 4 + 4);
	static const uint8_t arg[] = { 0x41, 0xc7, 0x87, BT_CPU_CALLOUT_ARG, 0, 0, 0, 0, 0, 0, 0 };
	ck_assert_mem_eq(out, arg, sizeof arg);
	static const uint8_t tail[] = { 0x45, 0x8b, 0x77, BT_CPU_EIP, 0x41, 0xff, 0x67, BT_CPU_IBL };
	ck_assert_mem_eq(out + n - sizeof tail, tail, sizeof tail);
	ck_assert_uint_eq(emit_sys(B(0x0f, 0x35), false), n); /* sysexit, S block */
	ck_assert_uint_eq(out[7], 1);
	ck_assert_uint_eq(emit_sys(B(0x0f, 0x34), false), 0);
	ck_assert_uint_eq(emit_sys(B(0x0f, 0x35), true), 0);
	/* IRETD from an S block, INT n (the vector in the argument) from a
	 * U block; not the other way, nor IRETW or a prefixed INT. */
	ck_assert_uint_eq(emit_sys(B(0xcf), false), n);
	ck_assert_uint_eq(out[7], BT_TR_IRET);
	ck_assert_uint_eq(emit_sys(B(0xcd, 0x80), true), n);
	ck_assert_uint_eq(out[7], BT_TR_INT);
	ck_assert_uint_eq(out[8], 0x80);
	ck_assert_uint_eq(emit_sys(B(0xcf), true), 0);
	ck_assert_uint_eq(emit_sys(B(0xcd, 0x80), false), 0);
	ck_assert_uint_eq(emit_sys(B(0x66, 0xcf), false), 0);
	ck_assert_uint_eq(emit_sys(B(0x3e, 0xcd, 0x80), true), 0);
}
END_TEST

/* S blocks reach the S-view at host address 0: the same code with no GS
 * override, so the GS base can stay at the user view across kernel
 * entries. */
START_TEST(s_blocks_take_no_override)
{
	s_block = true;
	EXPECT(B(0x8b, 0x05, 0x34, 0x12, 0, 0),                       /* mov eax, [0x1234] */
	       B(0x67, 0x8b, 0x04, 0x25, 0x34, 0x12, 0, 0));
	EXPECT(B(0x53),                                               /* push ebx */
	       B(0x67, 0x89, 0x5c, 0x24, 0xfc, 0x67, 0x8d, 0x64, 0x24, 0xfc));
	EXPECT(B(0x66, 0x6a, 0x01),                                   /* push word 1 */
	       B(0x66, 0x67, 0xc7, 0x44, 0x24, 0xfe, 0x01, 0x00,
		 0x67, 0x8d, 0x64, 0x24, 0xfe));
	EXPECT(B(0x8f, 0x00),                                         /* pop dword [eax] */
	       B(0x67, 0x44, 0x8b, 0x34, 0x24, 0x67, 0x44, 0x89, 0x30,
		 0x67, 0x8d, 0x64, 0x24, 0x04));
	EXPECT(B(0xc9),                                               /* leave */
	       B(0x67, 0x44, 0x8b, 0x75, 0x00, 0x67, 0x8d, 0x65, 0x04, 0x44, 0x89, 0xf5));
	EXPECT(B(0x64, 0x8b, 0x03),                                   /* mov eax, fs:[ebx] */
	       B(FS_ADDR(0x1b), 0x41, 0x8b, 0x03));
	EXPECT(B(0xc3),                                               /* ret */
	       B(0x67, 0x44, 0x8b, 0x34, 0x24, 0x67, 0x8d, 0xa4, 0x24, 0x04, 0, 0, 0,
		 0x41, 0xff, 0x67, BT_CPU_IBL));
	s_block = false;
}
END_TEST

START_TEST(branch_rewrites)
{
	/* ret 8: pop the target into r14d, drop 12 bytes, go to the lookup */
	EXPECT(B(0xc2, 0x08, 0x00),
	       B(ACC, 0x44, 0x8b, 0x34, 0x24, 0x67, 0x8d, 0xa4, 0x24, 0x0c, 0, 0, 0,
		 0x41, 0xff, 0x67, BT_CPU_IBL));
	/* call eax at 0x1000: target first, then push 0x1002 */
	EXPECT(B(0xff, 0xd0),
	       B(0x41, 0x89, 0xc6, ACC, 0xc7, 0x44, 0x24, 0xfc, 0x02, 0x10, 0, 0,
		 0x67, 0x8d, 0x64, 0x24, 0xfc, 0x41, 0xff, 0x67, BT_CPU_IBL));
	ck_assert(tx.end);
}
END_TEST

/* jnz at 0x1000 to 0x1000: a jcc and a jmp, each to a chainable stub
 * that names its guest target and its own site. */
START_TEST(jcc_stubs)
{
	size_t n = emit(B(0x75, 0xfe), 0x1000);
	ck_assert_uint_eq(n, 6 + 5);
	ck_assert_int_eq(out[0], 0x0f);
	ck_assert_int_eq(out[1], 0x85);
	ck_assert_int_eq(out[6], 0xe9);
	ck_assert_int_eq(tx.n_stubs, 2);
	ck_assert_uint_eq(tx.stubs[0].target, 0x1000);
	ck_assert_uint_eq(tx.stubs[1].target, 0x1002);
	emit_pending_stubs(&tx);
	for (int k = 0; k < 2; k++) {
		uint8_t *site = out + (k == 0 ? 2 : 7);
		int32_t rel;
		memcpy(&rel, site, 4);
		uint8_t *stub = site + 4 + rel;
		uint32_t target;
		ck_assert(stub > site && stub < tx.e.p);
		ck_assert_int_eq(stub[0], 0x41);  /* mov dword [r15+eip], target */
		ck_assert_int_eq(stub[3], BT_CPU_EIP);
		memcpy(&target, stub + 4, 4);
		ck_assert_uint_eq(target, k == 0 ? 0x1000 : 0x1002);
		/* lea r11, [rip + d] must point back at the site */
		ck_assert_int_eq(stub[8], 0x4c);
		int32_t back;
		memcpy(&back, stub + 11, 4);
		ck_assert_ptr_eq(stub + 15 + back, site);
	}
}
END_TEST

/* ---- page-table stores through the store callout ---- */

static bool dummy_pt_store(void *ctx, uint32_t eip, uint32_t linear, uint32_t value)
{
	(void)ctx; (void)eip; (void)linear; (void)value;
	return true;
}

static size_t emit_store(const uint8_t *code, size_t len)
{
	struct bt_insn in;
	decode(&in, code, len, 0x1000);
	memset(&tx, 0, sizeof tx);
	memset(out, 0xcc, sizeof out);
	fake_bt.env.pt_store = dummy_pt_store;
	tx.bt = &fake_bt;
	tx.e.p = tx.e.start = out;
	bool ok = emit_inline_store(&tx, &in);
	fake_bt.env.pt_store = NULL;
	return ok ? (size_t)(tx.e.p - out) : 0;
}

START_TEST(page_table_stores)
{
	/* mov [eax + 8], ecx: lea r11d, [eax + 8]; the address and ECX to
	 * the register block; the EIP; back address; jump to the callout. */
	size_t n = emit_store(B(0x89, 0x48, 0x08));
	ck_assert_uint_gt(n, 0);
	static const uint8_t head[] = { 0x67, 0x44, 0x8d, 0x58, 0x08,        /* lea r11d, [eax+8] */
					0x45, 0x89, 0x5f, BT_CPU_CALLOUT_ADDR, /* mov [r15+addr], r11d */
					0x41, 0x89, 0x8f, BT_CPU_CALLOUT_ARG, 0, 0, 0 }; /* mov [r15+arg], ecx */
	ck_assert_mem_eq(out, head, sizeof head);
	ck_assert_uint_eq(out[n - 3], 0x41);  /* jmp r11 */
	ck_assert_uint_eq(out[n - 1], 0xe3);
	/* mov dword [edx], imm32: the immediate goes to the register block. */
	n = emit_store(B(0xc7, 0x02, 0x67, 0x45, 0x23, 0x01));
	ck_assert_uint_gt(n, 0);
	static const uint8_t imm[] = { 0x41, 0xc7, 0x87, BT_CPU_CALLOUT_ARG, 0, 0, 0,
				       0x67, 0x45, 0x23, 0x01 };
	ck_assert_mem_eq(out + 4 + 4, imm, sizeof imm);
	/* Not a 32-bit MOV store: left to the emulator. */
	ck_assert_uint_eq(emit_store(B(0x88, 0x08)), 0);       /* mov [eax], cl */
	ck_assert_uint_eq(emit_store(B(0x66, 0x89, 0x08)), 0); /* mov [eax], cx */
	ck_assert_uint_eq(emit_store(B(0x87, 0x08)), 0);       /* xchg [eax], ecx */
	ck_assert_uint_eq(emit_store(B(0x89, 0xc8)), 0);       /* mov eax, ecx */
}
END_TEST

/* ---- the cache: detached blocks come back only through the same page ---- */

#define RAM_PAGES 8
static uint8_t fake_ram[RAM_PAGES][4096];
static uint32_t lin_to_frame[16];   /* linear page -> frame + 1 (0: unmapped) */
static int protected_pages[RAM_PAGES];

static unsigned fake_fetch(void *ctx, uint32_t eip, uint8_t *buf, unsigned len,
			   uint32_t *page)
{
	(void)ctx;
	unsigned got = 0;
	while (got < len) {
		uint32_t l = (eip + got) >> 12;
		if (l >= 16 || !lin_to_frame[l])
			break;
		uint32_t f = lin_to_frame[l] - 1;
		if (!got)
			*page = f;
		buf[got] = fake_ram[f][(eip + got) & 4095];
		got++;
	}
	return got;
}

static void fake_protect(void *ctx, uint32_t page, bool on)
{
	(void)ctx;
	protected_pages[page] = on;
}

static struct bt *cache_bt(void)
{
	static const struct bt_env env = { .fetch = fake_fetch, .protect_code = fake_protect };
	struct bt_config cfg = { .ram_pages = RAM_PAGES };
	struct bt_cpu *cpu;
	char err[128];
	memset(fake_ram, 0x90, sizeof fake_ram);   /* nops ... */
	memset(lin_to_frame, 0, sizeof lin_to_frame);
	memset(protected_pages, 0, sizeof protected_pages);
	struct bt *bt = bt_create(&cfg, &env, &cpu, err, sizeof err);
	ck_assert_msg(bt != NULL, "%s", err);
	return bt;
}

static struct bt_block *translate(struct bt *bt, uint32_t eip)
{
	bool full = false;
	struct bt_block *b = bt_translate(bt, eip, &full);
	ck_assert_ptr_nonnull(b);
	bt_insert(bt, b);
	return b;
}

START_TEST(detached_blocks_come_back_through_their_page)
{
	struct bt *bt = cache_bt();
	fake_ram[2][0x10] = 0xc3;          /* ... ret */
	lin_to_frame[5] = 2 + 1;           /* linear page 5 shows frame 2 */
	struct bt_block *b = translate(bt, 0x5000);
	ck_assert(protected_pages[2]);
	/* Another address space: page 5 shows frame 3 (other code). */
	bt_detach_page(bt, 2);
	ck_assert_ptr_null(bt_lookup(bt, 0x5000));
	lin_to_frame[5] = 3 + 1;
	ck_assert_ptr_null(bt_reattach(bt, 0x5000));
	ck_assert(protected_pages[2]);     /* still code: a write must be seen */
	/* Back: the same block, without translating. */
	lin_to_frame[5] = 2 + 1;
	uint64_t translated = bt_get_stats(bt)->blocks;
	ck_assert_ptr_eq(bt_reattach(bt, 0x5000), b);
	ck_assert_ptr_eq(bt_lookup(bt, 0x5000), b);
	ck_assert_uint_eq(bt_get_stats(bt)->blocks, translated);
	/* The same frame at another linear address: not this block (its
	 * EIP-relative code is for 0x5000). */
	bt_detach_page(bt, 2);
	lin_to_frame[7] = 2 + 1;
	ck_assert_ptr_null(bt_reattach(bt, 0x7000));
	/* A write to the frame drops it for good. */
	bt_invalidate_page(bt, 2);
	ck_assert(!protected_pages[2]);
	ck_assert_ptr_null(bt_reattach(bt, 0x5000));
	ck_assert_ptr_null(bt_lookup(bt, 0x5000));
	bt_destroy(bt);
}
END_TEST

static uint32_t break_at;

static bool fake_stop_before(void *ctx, uint32_t eip)
{
	(void)ctx;
	return eip == break_at;
}

/* A debugger's breakpoint inside a run of NOPs ends the block right there:
 * the instruction is the block's last and has an exit before it. */
START_TEST(a_breakpoint_ends_its_block)
{
	static const struct bt_env env = { .fetch = fake_fetch, .protect_code = fake_protect,
					   .stop_before = fake_stop_before };
	struct bt_config cfg = { .ram_pages = RAM_PAGES };
	struct bt_cpu *cpu;
	char err[128];
	memset(fake_ram, 0x90, sizeof fake_ram);
	memset(lin_to_frame, 0, sizeof lin_to_frame);
	fake_ram[2][0x10] = 0xc3;
	lin_to_frame[5] = 2 + 1;
	struct bt *bt = bt_create(&cfg, &env, &cpu, err, sizeof err);
	ck_assert_msg(bt != NULL, "%s", err);
	break_at = 0x5003;
	struct bt_block *b = translate(bt, 0x5000);
	ck_assert_uint_eq(b->n_insns, 4);
	ck_assert_uint_eq(b->eip + b->guest_off[3], 0x5003);
	/* No breakpoint there any more: the whole run, to the RET. */
	bt_flush(bt);
	break_at = 0;
	b = translate(bt, 0x5000);
	ck_assert_uint_eq(b->n_insns, 0x11);
	/* bt_step never stops: it must run the instruction at a breakpoint. */
	break_at = 0x5000;
	cpu->eip = 0x5000;
	ck_assert_int_eq(bt_step(bt), BT_EXIT_STEP);
	ck_assert_uint_eq(cpu->eip, 0x5001);
	bt_destroy(bt);
}
END_TEST

START_TEST(a_block_across_pages_needs_both)
{
	struct bt *bt = cache_bt();
	/* mov eax, 0x44332211 straddling the page end, then ret. */
	static const uint8_t code[] = { 0xb8, 0x11, 0x22, 0x33, 0x44, 0xc3 };
	memcpy(&fake_ram[2][0xffe], code, 2);
	memcpy(&fake_ram[3][0], code + 2, 4);
	lin_to_frame[5] = 2 + 1;
	/* The second page not there yet: a block for this once, marked so
	 * that it is never looked up again. */
	bool full;
	struct bt_block *once = bt_translate(bt, 0x5ffe, &full);
	ck_assert_ptr_nonnull(once);
	ck_assert(once->cut);
	lin_to_frame[6] = 3 + 1;
	struct bt_block *b = translate(bt, 0x5ffe);
	ck_assert(!b->cut);
	ck_assert_uint_eq(b->page[0], 2);
	ck_assert_uint_eq(b->page[1], 3);
	/* The second page is remapped: detached from both lists' view. */
	bt_detach_page(bt, 3);
	ck_assert_ptr_null(bt_lookup(bt, 0x5ffe));
	lin_to_frame[6] = 4 + 1;
	ck_assert_ptr_null(bt_reattach(bt, 0x5ffe));
	lin_to_frame[6] = 3 + 1;
	ck_assert_ptr_eq(bt_reattach(bt, 0x5ffe), b);
	bt_destroy(bt);
}
END_TEST

static int32_t rel32_at(const uint8_t *p)
{
	int32_t rel;
	memcpy(&rel, p, 4);
	return rel;
}

/* A direct jump chained to its target block goes straight there; when the
 * target's page is written, the jump is pointed back at its exit stub and
 * the target is gone from the hash and the indirect-branch table, while
 * the jumping block (another page) stays. */
START_TEST(chains_are_undone_when_their_target_goes)
{
	struct bt *bt = cache_bt();
	/* page 5 (frame 2): jmp 0x6000; page 6 (frame 3): nops ... */
	static const uint8_t jmp[] = { 0xe9, 0xfb, 0x0f, 0x00, 0x00 };
	memcpy(&fake_ram[2][0], jmp, sizeof jmp);
	lin_to_frame[5] = 2 + 1;
	lin_to_frame[6] = 3 + 1;
	struct bt_block *a = translate(bt, 0x5000);
	struct bt_block *b = translate(bt, 0x6000);
	/* A block that is one direct jump: the poll check (no 0xe9 byte in
	 * it), then the patchable jmp rel32 to its exit stub. */
	uint8_t *jmp_op = memchr(a->host, 0xe9, a->host_len);
	ck_assert_ptr_nonnull(jmp_op);
	uint8_t *site = jmp_op + 1;
	const uint8_t *stub = site + 4 + rel32_at(site);
	ck_assert_ptr_ne(stub, b->host);
	bt_chain(bt, site, b);
	ck_assert_ptr_eq(site + 4 + rel32_at(site), b->host);
	ck_assert_ptr_eq(b->incoming->rel32, site);
	bt_ibl_insert(bt, b);
	ck_assert_uint_eq(bt_ibl_table(bt, b->user)[0x6000 & (BT_IBL_ENTRIES - 1)].host,
			  (uint64_t)b->host);
	bt_invalidate_page(bt, 3);
	ck_assert(!protected_pages[3]);
	ck_assert(protected_pages[2]);
	ck_assert_ptr_eq(site + 4 + rel32_at(site), stub);
	ck_assert_ptr_null(bt_lookup(bt, 0x6000));
	ck_assert_uint_eq(bt_ibl_table(bt, b->user)[0x6000 & (BT_IBL_ENTRIES - 1)].host,
			  (uint64_t)bt_ibl_miss);
	ck_assert_ptr_eq(bt_lookup(bt, 0x5000), a);
	bt_destroy(bt);
}
END_TEST

/* One instruction rewritten: only the blocks holding it go; the page stays
 * protected for the others. */
START_TEST(an_instruction_write_drops_only_its_blocks)
{
	struct bt *bt = cache_bt();
	fake_ram[2][0x100] = 0xc3; /* 0x5000: nops up to a ret at 0x5100 */
	fake_ram[2][0x200] = 0xc3; /* 0x5180: nops up to a ret at 0x5200 */
	lin_to_frame[5] = 2 + 1;
	struct bt_block *a = translate(bt, 0x50f0);
	struct bt_block *b = translate(bt, 0x51f0);
	bt_invalidate_insn(bt, 2, 0x51f8);
	ck_assert_ptr_eq(bt_lookup(bt, 0x50f0), a);
	ck_assert_ptr_null(bt_lookup(bt, 0x51f0));
	ck_assert(!b->valid);
	ck_assert(protected_pages[2]);
	bt_destroy(bt);
}
END_TEST

/* A flush forgets every block, releases every code page and starts the
 * cache over from its beginning. */
START_TEST(a_flush_starts_over)
{
	struct bt *bt = cache_bt();
	fake_ram[2][0x10] = 0xc3;
	fake_ram[3][0x10] = 0xc3;
	lin_to_frame[5] = 2 + 1;
	lin_to_frame[6] = 3 + 1;
	struct bt_block *a = translate(bt, 0x5000);
	uint8_t *first = a->host;
	struct bt_block *b = translate(bt, 0x6000);
	bt_ibl_insert(bt, b);
	uint64_t epoch = bt_code_epoch(bt);
	bt_flush(bt);
	ck_assert(!protected_pages[2] && !protected_pages[3]);
	ck_assert_ptr_null(bt_lookup(bt, 0x5000));
	ck_assert_ptr_null(bt_lookup(bt, 0x6000));
	ck_assert_uint_eq(bt_ibl_table(bt, b->user)[0x6000 & (BT_IBL_ENTRIES - 1)].host,
			  (uint64_t)bt_ibl_miss);
	ck_assert_uint_gt(bt_code_epoch(bt), epoch);
	ck_assert_uint_eq(bt_get_stats(bt)->flushes, 1);
	ck_assert_ptr_eq(translate(bt, 0x6000)->host, first);
	ck_assert(protected_pages[3]);
	bt_destroy(bt);
}
END_TEST

/*
 * The lagging stack pointer: a run of PUSH, POP and ESP-based operands
 * moves no ESP until something reads it; each instruction's lag is kept,
 * and a fault inside the run reports the guest's ESP at that instruction.
 */
START_TEST(stack_runs_lag_esp)
{
	struct bt *bt = cache_bt();
	static const uint8_t code[] = {
		0x53,                   /* push ebx */
		0x6a, 0x05,             /* push 5 */
		0x03, 0x44, 0x24, 0x04, /* add eax, [esp+4] */
		0x59,                   /* pop ecx */
		0x89, 0xe5,             /* mov ebp, esp */
		0x5b,                   /* pop ebx */
		0xc3,                   /* ret */
	};
	memcpy(&fake_ram[2][0], code, sizeof code);
	lin_to_frame[5] = 2 + 1;
	struct bt_block *b = translate(bt, 0x5000);
	ck_assert_uint_eq(b->n_insns, 7);
	static const int8_t lag[7] = { 0, -4, -8, -8, 0, 0, 0 };
	for (unsigned i = 0; i < 7; i++)
		ck_assert_int_eq(b->esp_lag[i], lag[i]);
	static const uint8_t want[] = {
		0x67, 0x89, 0x5c, 0x24, 0xfc,                         /* mov [esp-4], ebx */
		0x67, 0xc7, 0x44, 0x24, 0xf8, 5, 0, 0, 0,             /* mov dword [esp-8], 5 */
		0x67, 0x03, 0x44, 0x24, 0xfc,                         /* add eax, [esp-4] */
		0x67, 0x8b, 0x4c, 0x24, 0xf8,                         /* mov ecx, [esp-8] */
		0x67, 0x8d, 0x64, 0x24, 0xfc,                         /* lea esp, [esp-4] */
		0x89, 0xe5,                                           /* mov ebp, esp */
		0x67, 0x8b, 0x1c, 0x24,                               /* mov ebx, [esp] */
		0x67, 0x8d, 0x64, 0x24, 0x04,                         /* lea esp, [esp+4] */
	};
	ck_assert(!memcmp(b->host + sizeof bt_poll_load, want, sizeof want));
	ck_assert_uint_eq(b->host_off[4], sizeof bt_poll_load + 29); /* after the LEA */
	ck_assert_uint_eq(b->host_off[6], sizeof bt_poll_load + sizeof want);

	/* A fault in `pop ecx` (host ESP 0x1000, lag -8): ESP 0xff8. */
	struct hd_fault f = { .signo = SIGSEGV, .trapno = EXC_PF };
	f.rip = (uint64_t)(uintptr_t)(b->host + b->host_off[3] + 2);
	f.gpr[HD_RSP] = 0x1000;
	ck_assert(bt_handle_host_fault(bt, &f));
	struct bt_cpu *cpu = bt->cpu;
	ck_assert_uint_eq(cpu->eip, 0x5007);
	ck_assert_uint_eq(cpu->gpr[BT_ESP], 0xff8);
	ck_assert_uint_eq(cpu->exit_reason, BT_EXIT_FAULT);
	/* The context leaves through the exit path, on the monitor's stack. */
	ck_assert_uint_eq(f.rip, (uint64_t)(uintptr_t)bt_exit_from_signal);
	ck_assert_uint_eq(f.gpr[HD_RSP], cpu->host_rsp);
	ck_assert_uint_eq(f.gpr[HD_R15], (uint64_t)(uintptr_t)cpu);

	/* A #PF on the poll page is a request to leave, not a fault. */
	f = (struct hd_fault){ .signo = SIGSEGV, .trapno = EXC_PF,
			       .addr = (uint64_t)(uintptr_t)bt->cpu_mem + 8 };
	f.rip = (uint64_t)(uintptr_t)b->host;
	ck_assert(bt_handle_host_fault(bt, &f));
	ck_assert_uint_eq(cpu->exit_reason, BT_EXIT_POLL);
	bt_destroy(bt);
}
END_TEST

/* Where a chained jump at rel32 goes. */
static const uint8_t *jump_target(const uint8_t *rel32)
{
	int32_t rel;
	memcpy(&rel, rel32, 4);
	return rel32 + 4 + rel;
}

/* A detached block's entry jumps to its own exit for its EIP; the chains
 * into it stay. Taking a block back restores its entry, and its linear
 * page's other blocks come back with it; another block found for a
 * detached block's EIP takes its chains. */
START_TEST(detached_blocks_exit_at_their_entry)
{
	struct bt *bt = cache_bt();
	static const uint8_t jmp_a[] = { 0xe9, 0x0b, 0, 0, 0 };          /* 0x5000: jmp 0x5010 */
	static const uint8_t jmp_c[] = { 0xe9, 0x0b, 0xf0, 0xff, 0xff }; /* 0x6000: jmp 0x5010 */
	memcpy(&fake_ram[2][0], jmp_a, sizeof jmp_a);
	fake_ram[2][0x10] = 0xc3;
	memcpy(&fake_ram[3][0], jmp_c, sizeof jmp_c);
	fake_ram[4][0x10] = 0xc3;
	lin_to_frame[5] = 2 + 1;
	lin_to_frame[6] = 3 + 1;
	struct bt_block *a = translate(bt, 0x5000), *b = translate(bt, 0x5010),
			*c = translate(bt, 0x6000);
	ck_assert_uint_eq(a->host[7], 0xe9); /* the jump after the poll load */
	ck_assert_uint_eq(c->host[7], 0xe9);
	const uint8_t *stub_c = jump_target(c->host + 8);
	bt_chain(bt, a->host + 8, b);
	bt_chain(bt, c->host + 8, b);
	bt_detach_page(bt, 2);
	ck_assert_uint_eq(b->host[0], 0xe9);
	ck_assert_ptr_eq(jump_target(b->host + 1), b->away);
	ck_assert_ptr_eq(jump_target(a->host + 8), b->host);
	ck_assert_ptr_eq(jump_target(c->host + 8), b->host);
	ck_assert_ptr_null(bt_lookup(bt, 0x5010));
	/* a comes back, and b with it: same linear page, same frame. */
	ck_assert_ptr_eq(bt_reattach(bt, 0x5000), a);
	ck_assert(!b->detached);
	ck_assert_mem_eq(b->host, bt_poll_load, sizeof bt_poll_load);
	ck_assert_ptr_eq(bt_lookup(bt, 0x5010), b);
	/* Page 5 shows frame 4 now: another block for 0x5010 takes b's
	 * chains (those from a, detached again, too: whenever a comes back,
	 * 0x5010 shows frame 4 or b2 is detached in turn). */
	bt_detach_page(bt, 2);
	lin_to_frame[5] = 4 + 1;
	ck_assert_ptr_null(bt_reattach(bt, 0x5010));
	struct bt_block *b2 = translate(bt, 0x5010);
	uint64_t chained = bt_get_stats(bt)->chained;
	bt_take_chains(bt, b2);
	ck_assert_ptr_eq(jump_target(c->host + 8), b2->host);
	ck_assert_ptr_eq(jump_target(a->host + 8), b2->host);
	bt_chain(bt, c->host + 8, b2); /* already listed */
	ck_assert_uint_eq(bt_get_stats(bt)->chained, chained);
	/* A write to frame 4 drops b2: its chains go back to their stubs. */
	bt_invalidate_page(bt, 4);
	ck_assert_ptr_eq(jump_target(c->host + 8), stub_c);
	ck_assert(!b2->valid && b->valid && b->detached);
	bt_destroy(bt);
}
END_TEST

/* In ring 0 a page's U blocks wait for ring 3: bt_set_user_view keeps
 * those whose page shows them again and sets the others aside. */
START_TEST(user_blocks_wait_for_ring3)
{
	struct bt *bt = cache_bt();
	fake_ram[2][0x10] = 0xc3;
	fake_ram[2][0x20] = 0xc3;
	fake_ram[3][0x10] = 0xc3;
	lin_to_frame[5] = 2 + 1;
	lin_to_frame[6] = 3 + 1;
	bt_set_user_view(bt, true);
	struct bt_block *u = translate(bt, 0x5010), *v = translate(bt, 0x6010);
	bt_ibl_insert(bt, u);
	bt_set_user_view(bt, false);
	struct bt_block *s = translate(bt, 0x5020);
	bt_ibl_insert(bt, s);
	/* Ring 0 clears both pages' entries: the S block goes at once, the
	 * U blocks wait. */
	bt_detach_page(bt, 2);
	bt_detach_page(bt, 3);
	lin_to_frame[5] = 0;
	lin_to_frame[6] = 0;
	ck_assert_ptr_null(bt_lookup(bt, 0x5020));
	ck_assert(!u->detached && !v->detached);
	/* Page 5 shows frame 2 again, page 6 shows another frame. */
	lin_to_frame[5] = 2 + 1;
	lin_to_frame[6] = 4 + 1;
	bt_set_user_view(bt, true);
	ck_assert(!u->detached);
	ck_assert(v->detached);
	ck_assert_ptr_eq(bt_lookup(bt, 0x5010), u);
	const struct bt_ibl_entry *ut = bt_ibl_table(bt, true);
	ck_assert_uint_eq(ut[0x5010 & (BT_IBL_ENTRIES - 1)].host, (uint64_t)u->host);
	ck_assert_ptr_null(bt_lookup(bt, 0x6010));
	/* In ring 3 a detach is at once. */
	bt_detach_page(bt, 2);
	ck_assert(u->detached);
	bt_destroy(bt);
}
END_TEST

/* Adaptive translation retranslates one instruction: only the blocks
 * holding it go, the page's others stay (and the page stays protected). */
START_TEST(one_instruction_retranslated)
{
	struct bt *bt = cache_bt();
	fake_ram[2][0x0f] = 0xc3;          /* 0x5000: 15 nops, ret */
	fake_ram[2][0x20] = 0xc3;          /* 0x5010: 16 nops, ret */
	lin_to_frame[5] = 2 + 1;
	struct bt_block *a = translate(bt, 0x5000), *b = translate(bt, 0x5010);
	bt_invalidate_insn(bt, 2, 0x5014);
	ck_assert(a->valid);
	ck_assert(!b->valid);
	ck_assert_ptr_eq(bt_lookup(bt, 0x5000), a);
	ck_assert_ptr_null(bt_lookup(bt, 0x5010));
	ck_assert(protected_pages[2]);
	bt_invalidate_insn(bt, 2, 0x5000);
	ck_assert(!a->valid);
	bt_destroy(bt);
}
END_TEST

/* U and S blocks at the same EIP are different translations: each is found
 * only in its own mode, by the lookup and by the indirect-branch table. */
START_TEST(user_and_kernel_blocks_apart)
{
	struct bt *bt = cache_bt();
	fake_ram[2][0] = 0x50;             /* push eax */
	fake_ram[2][1] = 0xc3;             /* ret */
	lin_to_frame[5] = 2 + 1;
	struct bt_block *s = translate(bt, 0x5000);
	ck_assert(!s->user);
	bt_ibl_insert(bt, s);
	bt_set_user_view(bt, true);
	ck_assert_ptr_null(bt_lookup(bt, 0x5000));
	struct bt_ibl_entry *ut = (struct bt_ibl_entry *)bt->cpu->ibl_table;
	ck_assert_ptr_eq(ut, bt_ibl_table(bt, true));
	ck_assert_uint_ne(ut[0x5000 & (BT_IBL_ENTRIES - 1)].eip, 0x5000);
	struct bt_block *u = translate(bt, 0x5000);
	ck_assert(u->user);
	ck_assert_ptr_ne(u, s);
	ck_assert_uint_eq(u->host[7], 0x65); /* after the poll load: push through GS */
	ck_assert_uint_eq(s->host[7], 0x67); /* the S-view at 0: no override */
	bt_ibl_insert(bt, u);
	ck_assert_uint_eq(ut[0x5000 & (BT_IBL_ENTRIES - 1)].host, (uint64_t)u->host);
	ck_assert_ptr_eq(bt_lookup(bt, 0x5000), u);
	/* A detached page gives each mode back its own block. */
	bt_detach_page(bt, 2);
	ck_assert_uint_eq(u->host[0], 0xe9); /* the table's entry leads to an exit */
	ck_assert_ptr_eq(bt_reattach(bt, 0x5000), u);
	bt_set_user_view(bt, false);
	ck_assert_ptr_eq((struct bt_ibl_entry *)bt->cpu->ibl_table, bt_ibl_table(bt, false));
	ck_assert_ptr_null(bt_lookup(bt, 0x5000));
	ck_assert_ptr_eq(bt_reattach(bt, 0x5000), s);
	ck_assert_ptr_eq(bt_lookup(bt, 0x5000), s);
	bt_destroy(bt);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bt");
	TCase *t = tcase_create("classify");
	tcase_add_test(t, every_mnemonic_has_a_class);
	tcase_add_test(t, sensitive_mnemonics_are_emulated);
	tcase_add_test(t, operand_refinements);
	tcase_add_test(t, isa_follows_cpuid_bits);
	suite_add_tcase(s, t);
	t = tcase_create("rewrite");
	tcase_add_test(t, ident_rewrites);
	tcase_add_test(t, string_rewrites);
	tcase_add_test(t, fsgs_rewrites);
	tcase_add_test(t, stack_rewrites);
	tcase_add_test(t, branch_rewrites);
	tcase_add_test(t, s_blocks_take_no_override);
	tcase_add_test(t, sensitive_reads_inline);
	tcase_add_test(t, sys_transitions_by_callout);
	tcase_add_test(t, jcc_stubs);
	tcase_add_test(t, page_table_stores);
	suite_add_tcase(s, t);
	t = tcase_create("cache");
	tcase_add_test(t, detached_blocks_come_back_through_their_page);
	tcase_add_test(t, a_block_across_pages_needs_both);
	tcase_add_test(t, chains_are_undone_when_their_target_goes);
	tcase_add_test(t, an_instruction_write_drops_only_its_blocks);
	tcase_add_test(t, a_flush_starts_over);
	tcase_add_test(t, a_breakpoint_ends_its_block);
	tcase_add_test(t, user_and_kernel_blocks_apart);
	tcase_add_test(t, one_instruction_retranslated);
	tcase_add_test(t, detached_blocks_exit_at_their_entry);
	tcase_add_test(t, user_blocks_wait_for_ring3);
	tcase_add_test(t, stack_runs_lag_esp);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
