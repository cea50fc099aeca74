/* Basic guest: integer ALU and shift instructions against a C model of their defined results and flags. */
#include "basic.h"

uint32_t basic_hash;
static uint32_t group_cases_failed_printed;

void group_begin(const char *name)
{
	basic_hash = 2166136261u;	/* FNV offset basis */
	group_cases_failed_printed = 0;
	rt_section(name);
}

void group_end(uint32_t cases)
{
	rt_printf("  %u cases, hash %08x\n", cases, basic_hash);
	rt_section_end();
}

/*
 * Operand values: zero, ones, both sides of every sign boundary and some
 * mixed patterns. 8- and 16-bit forms use the same words, so the bits above
 * the operand are non-zero and must come through untouched.
 */
const uint32_t vals[NVALS] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
	0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
	0x12345678, 0xdeadbeef, 0x0f0f0f0f, 0xf0f1f2f3,
};

/* Operand shapes: low byte, high byte (ah..dh), word, dword. */
enum { W8, W8H, W16, W32, NWIDTHS };
static const int width_bits[NWIDTHS] = { 8, 8, 16, 32 };
static const int width_shift[NWIDTHS] = { 0, 8, 0, 0 };
static const char *const width_name[NWIDTHS] = { "8", "8h", "16", "32" };

static uint32_t width_mask(int bits)
{
	return bits == 32 ? 0xffffffffu : (1u << bits) - 1;
}

static uint32_t flags_szp(uint32_t r, int bits)
{
	uint32_t f = 0;
	if ((r & width_mask(bits)) == 0)
		f |= F_ZF;
	if ((r >> (bits - 1)) & 1)
		f |= F_SF;
	if (even_parity(r))
		f |= F_PF;
	return f;
}

void basic_expect(const char *what, uint32_t a, uint32_t b, uint32_t got, uint32_t want)
{
	mix(got);
	if (got == want)
		return;
	if (group_cases_failed_printed++ < 16)
		rt_printf("FAIL %s a=%08x b=%08x: got %08x want %08x\n", what, a, b, got, want);
	rt_failures++;
}

/* Compares one case and folds it into the hash; details for the first few. */
static void expect(const char *op, int width, uint32_t a, uint32_t b, uint32_t got_r,
		   uint32_t got_f, uint32_t want_r, uint32_t want_f, uint32_t fmask)
{
	mix(got_r);
	mix(got_f & fmask);
	if (got_r == want_r && !((got_f ^ want_f) & fmask))
		return;
	if (group_cases_failed_printed++ < 16)
		rt_printf("FAIL %s%s a=%08x b=%08x: got %08x/%03x want %08x/%03x\n", op,
			  width_name[width], a, b, got_r, got_f & fmask, want_r, want_f & fmask);
	rt_failures++;
}

/* ---- two-operand ALU ops ---- */

enum binop { ADD, ADC, SUB, SBB, CMP, AND, OR, XOR, TEST };

/* The reference model: result and flags from the SDM's definitions. */
static uint32_t model_binop(enum binop op, uint32_t a, uint32_t b, uint32_t fin, int bits,
			    uint32_t *fout, uint32_t *fmask)
{
	uint32_t m = width_mask(bits), sign = bits - 1;
	uint32_t c = (op == ADC || op == SBB) ? (fin & F_CF) : 0;
	uint32_t r, f;
	uint64_t wide;
	a &= m;
	b &= m;
	*fmask = F_ARITH;
	switch (op) {
	case ADD:
	case ADC:
		wide = (uint64_t)a + b + c;
		r = (uint32_t)wide & m;
		f = flags_szp(r, bits) | (wide > m ? F_CF : 0);
		f |= (((a ^ r) & (b ^ r)) >> sign & 1) ? F_OF : 0;
		f |= (a ^ b ^ r) & F_AF;
		break;
	case SUB:
	case SBB:
	case CMP:
		r = (a - b - c) & m;
		f = flags_szp(r, bits) | ((uint64_t)b + c > a ? F_CF : 0);
		f |= (((a ^ b) & (a ^ r)) >> sign & 1) ? F_OF : 0;
		f |= (a ^ b ^ r) & F_AF;
		if (op == CMP)
			r = a;
		break;
	default:
		r = op == OR ? a | b : op == XOR ? a ^ b : a & b;
		f = flags_szp(r, bits);	/* CF = OF = 0; AF undefined */
		*fmask = F_ARITH & ~F_AF;
		if (op == TEST)
			r = a;
		break;
	}
	*fout = f | F_FIXED;
	return r;
}

typedef uint32_t (*hw_binop)(uint32_t a, uint32_t b, uint32_t *flags);

/* Runs insn on registers with EFLAGS = *flags first; returns the whole
   destination register, so writes beyond the operand are caught. */
#define HW_BINOP(name, insn)								\
static uint32_t hw_##name##_8(uint32_t a, uint32_t b, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %b[b], %b[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+q"(a), [f] "+r"(*f) : [b] "q"(b) : "cc");			\
	return a;									\
}											\
static uint32_t hw_##name##_8h(uint32_t a, uint32_t b, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %h[b], %h[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+Q"(a), [f] "+r"(*f) : [b] "Q"(b) : "cc");			\
	return a;									\
}											\
static uint32_t hw_##name##_16(uint32_t a, uint32_t b, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %w[b], %w[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+r"(a), [f] "+r"(*f) : [b] "r"(b) : "cc");			\
	return a;									\
}											\
static uint32_t hw_##name##_32(uint32_t a, uint32_t b, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %[b], %[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+r"(a), [f] "+r"(*f) : [b] "r"(b) : "cc");			\
	return a;									\
}

HW_BINOP(add, "add")
HW_BINOP(adc, "adc")
HW_BINOP(sub, "sub")
HW_BINOP(sbb, "sbb")
HW_BINOP(cmp, "cmp")
HW_BINOP(and, "and")
HW_BINOP(or, "or")
HW_BINOP(xor, "xor")
HW_BINOP(test, "test")

static const struct {
	const char *name;
	enum binop op;
	hw_binop hw[NWIDTHS];
} binops[] = {
#define BINOP_ROW(n, op) { #n, op, { hw_##n##_8, hw_##n##_8h, hw_##n##_16, hw_##n##_32 } }
	BINOP_ROW(add, ADD), BINOP_ROW(adc, ADC), BINOP_ROW(sub, SUB),
	BINOP_ROW(sbb, SBB), BINOP_ROW(cmp, CMP), BINOP_ROW(and, AND),
	BINOP_ROW(or, OR), BINOP_ROW(xor, XOR), BINOP_ROW(test, TEST),
};

/* Memory destination through a plain absolute address (disp32, mod=00
   rm=101: RIP-relative in 64-bit mode, so the translator must rewrite it). */
static uint32_t mem_cell;
#define HW_BINOP_MEM(name, insn)							\
static uint32_t hw_##name##_m32(uint32_t a, uint32_t b, uint32_t *f)			\
{											\
	mem_cell = a;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn "l %[b], %[m]\n\tpushfl\n\tpopl %[f]"	\
		: [m] "+m"(mem_cell), [f] "+r"(*f) : [b] "r"(b) : "cc");		\
	return mem_cell;								\
}
HW_BINOP_MEM(add, "add")
HW_BINOP_MEM(sbb, "sbb")
HW_BINOP_MEM(and, "and")
HW_BINOP_MEM(cmp, "cmp")

/* Immediate forms: 0x83 (imm8), 0x81 (imm32), and the short eax forms. */
#define HW_BINOP_IMM(name, insn, imm)							\
static uint32_t hw_##name(uint32_t a, uint32_t b, uint32_t *f)				\
{											\
	(void)b;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " $" #imm ", %[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+a"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}											\
static uint32_t hw_##name##_notax(uint32_t a, uint32_t b, uint32_t *f)			\
{											\
	(void)b;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " $" #imm ", %[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+S"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}
HW_BINOP_IMM(add_i1, "addl", 1)
HW_BINOP_IMM(adc_im128, "adcl", -128)
HW_BINOP_IMM(sub_ibig, "subl", 0x12345678)
HW_BINOP_IMM(sbb_i7f, "sbbl", 0x7f)
HW_BINOP_IMM(cmp_imin, "cmpl", 0x80000000)
HW_BINOP_IMM(and_iff00, "andl", 0xff00)
HW_BINOP_IMM(or_im2, "orl", -2)
HW_BINOP_IMM(xor_ibig, "xorl", 0xa5a5a5a5)
HW_BINOP_IMM(test_i80, "testl", 0x80)

static const struct {
	const char *name;
	enum binop op;
	uint32_t imm;
	hw_binop hw, hw_notax;
} immops[] = {
	{ "add$1_", ADD, 1, hw_add_i1, hw_add_i1_notax },
	{ "adc$-128_", ADC, 0xffffff80, hw_adc_im128, hw_adc_im128_notax },
	{ "sub$big_", SUB, 0x12345678, hw_sub_ibig, hw_sub_ibig_notax },
	{ "sbb$7f_", SBB, 0x7f, hw_sbb_i7f, hw_sbb_i7f_notax },
	{ "cmp$min_", CMP, 0x80000000, hw_cmp_imin, hw_cmp_imin_notax },
	{ "and$ff00_", AND, 0xff00, hw_and_iff00, hw_and_iff00_notax },
	{ "or$-2_", OR, 0xfffffffe, hw_or_im2, hw_or_im2_notax },
	{ "xor$big_", XOR, 0xa5a5a5a5, hw_xor_ibig, hw_xor_ibig_notax },
	{ "test$80_", TEST, 0x80, hw_test_i80, hw_test_i80_notax },
};

/* Two input EFLAGS per case: all arithmetic flags clear, then all set
   (CF=1 feeds adc/sbb, and every written flag must change from it). */
static const uint32_t flags_in[2] = { F_FIXED, F_FIXED | F_ARITH };

/* ---- one-operand ALU ops ---- */

enum unop { NEG, NOT, INC, DEC };

static uint32_t model_unop(enum unop op, uint32_t a, uint32_t fin, int bits, uint32_t *fout,
			   uint32_t *fmask)
{
	uint32_t f, mask, r;
	switch (op) {
	case NEG:
		r = model_binop(SUB, 0, a, 0, bits, &f, &mask);
		break;
	case NOT:	/* no flags change */
		r = ~a & width_mask(bits);
		f = fin;
		break;
	default:	/* inc/dec: like add/sub 1 but CF keeps its value */
		r = model_binop(op == INC ? ADD : SUB, a, 1, 0, bits, &f, &mask);
		f = (f & ~F_CF) | (fin & F_CF);
		break;
	}
	*fmask = F_ARITH;
	*fout = f;
	return r;
}

typedef uint32_t (*hw_unop)(uint32_t a, uint32_t *flags);

#define HW_UNOP(name, insn)								\
static uint32_t hw_##name##_8(uint32_t a, uint32_t *f)					\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %b[a]\n\tpushfl\n\tpopl %[f]"		\
		: [a] "+q"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}											\
static uint32_t hw_##name##_8h(uint32_t a, uint32_t *f)					\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %h[a]\n\tpushfl\n\tpopl %[f]"		\
		: [a] "+Q"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}											\
static uint32_t hw_##name##_16(uint32_t a, uint32_t *f)				\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %w[a]\n\tpushfl\n\tpopl %[f]"		\
		: [a] "+r"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}											\
static uint32_t hw_##name##_32(uint32_t a, uint32_t *f)				\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %[a]\n\tpushfl\n\tpopl %[f]"		\
		: [a] "+r"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}											\
static uint32_t hw_##name##_m32(uint32_t a, uint32_t *f)				\
{											\
	mem_cell = a;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn "l %[m]\n\tpushfl\n\tpopl %[f]"		\
		: [m] "+m"(mem_cell), [f] "+r"(*f) : : "cc");				\
	return mem_cell;								\
}
HW_UNOP(neg, "neg")
HW_UNOP(not, "not")
HW_UNOP(inc, "inc")	/* 32-bit register form: the one-byte 0x40+r */
HW_UNOP(dec, "dec")

static const struct {
	const char *name;
	enum unop op;
	hw_unop hw[NWIDTHS + 1];	/* the last is the memory form */
} unops[] = {
#define UNOP_ROW(n, op) { #n, op, { hw_##n##_8, hw_##n##_8h, hw_##n##_16, hw_##n##_32, hw_##n##_m32 } }
	UNOP_ROW(neg, NEG), UNOP_ROW(not, NOT), UNOP_ROW(inc, INC), UNOP_ROW(dec, DEC),
};

/* Spot checks worked out by hand, independent of the model above. */
static void alu_hand_checks(void)
{
	uint32_t f = F_FIXED;
	RT_CHECK_EQ(hw_add_32(0x7fffffff, 1, &f), 0x80000000);
	RT_CHECK_EQ(f & F_ARITH, F_OF | F_SF | F_AF | F_PF);
	f = F_FIXED;
	RT_CHECK_EQ(hw_add_32(0xffffffff, 1, &f), 0);
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_ZF | F_AF | F_PF);
	f = F_FIXED | F_CF;
	RT_CHECK_EQ(hw_sbb_32(0, 0, &f), 0xffffffff);
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_SF | F_AF | F_PF);
	f = F_FIXED;
	RT_CHECK_EQ(hw_sub_8(0x1234, 0x35, &f), 0x12ff);	/* 0x34 - 0x35 */
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_SF | F_AF | F_PF);
	f = F_FIXED | F_CF;
	RT_CHECK_EQ(hw_adc_8h(0xaa7fbb, 0x0000, &f), 0xaa80bb);	/* ah 0x7f + 0 + 1 */
	RT_CHECK_EQ(f & F_ARITH, F_OF | F_SF | F_AF);
	f = F_FIXED;
	RT_CHECK_EQ(hw_xor_16(0xffff00ff, 0x55aa, &f), 0xffff5555);
	RT_CHECK_EQ(f & (F_ARITH & ~F_AF), F_PF);
	f = F_FIXED | F_ARITH;
	RT_CHECK_EQ(hw_inc_32(0xffffffff, &f), 0);
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_ZF | F_AF | F_PF);	/* CF kept */
	f = F_FIXED;
	RT_CHECK_EQ(hw_neg_32(0x80000000, &f), 0x80000000);
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_OF | F_SF | F_PF);
	f = F_FIXED;
	RT_CHECK_EQ(hw_cmp_imin(0x7fffffff, 0, &f), 0x7fffffff);
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_OF | F_SF | F_PF);
}

void test_alu(void)
{
	uint32_t cases = 0, fout, fmask, want_f;
	group_begin("alu");
	alu_hand_checks();
	for (unsigned o = 0; o < sizeof(binops) / sizeof(binops[0]); o++)
		for (int w = 0; w < NWIDTHS; w++) {
			int bits = width_bits[w], sh = width_shift[w];
			uint32_t m = width_mask(bits) << sh;
			for (unsigned i = 0; i < NVALS; i++)
				for (unsigned j = 0; j < NVALS; j++)
					for (int k = 0; k < 2; k++) {
						uint32_t a = vals[i], b = vals[(j + w) % NVALS];
						fout = flags_in[k];
						uint32_t got = binops[o].hw[w](a, b, &fout);
						uint32_t r = model_binop(binops[o].op, a >> sh, b >> sh,
									 flags_in[k], bits, &want_f,
									 &fmask);
						expect(binops[o].name, w, a, b, got, fout,
						       (a & ~m) | (r << sh), want_f, fmask);
						cases++;
					}
		}
	static const struct { const char *name; enum binop op; hw_binop hw; } memops[] = {
		{ "add", ADD, hw_add_m32 }, { "sbb", SBB, hw_sbb_m32 },
		{ "and", AND, hw_and_m32 }, { "cmp", CMP, hw_cmp_m32 },
	};
	for (unsigned o = 0; o < sizeof(memops) / sizeof(memops[0]); o++)
		for (unsigned i = 0; i < NVALS; i++)
			for (unsigned j = 0; j < NVALS; j++)
				for (int k = 0; k < 2; k++) {
					fout = flags_in[k];
					uint32_t got = memops[o].hw(vals[i], vals[j], &fout);
					uint32_t r = model_binop(memops[o].op, vals[i], vals[j],
								 flags_in[k], 32, &want_f, &fmask);
					expect(memops[o].name, W32, vals[i], vals[j], got, fout, r,
					       want_f, fmask);
					cases++;
				}
	for (unsigned o = 0; o < sizeof(immops) / sizeof(immops[0]); o++)
		for (unsigned i = 0; i < NVALS; i++)
			for (int k = 0; k < 2; k++) {
				uint32_t r = model_binop(immops[o].op, vals[i], immops[o].imm,
							 flags_in[k], 32, &want_f, &fmask);
				fout = flags_in[k];
				uint32_t got = immops[o].hw(vals[i], 0, &fout);
				expect(immops[o].name, W32, vals[i], immops[o].imm, got, fout, r,
				       want_f, fmask);
				fout = flags_in[k];
				got = immops[o].hw_notax(vals[i], 0, &fout);
				expect(immops[o].name, W32, vals[i], immops[o].imm, got, fout, r,
				       want_f, fmask);
				cases += 2;
			}
	for (unsigned o = 0; o < sizeof(unops) / sizeof(unops[0]); o++)
		for (int w = 0; w <= NWIDTHS; w++) {
			int ww = w == NWIDTHS ? W32 : w;
			int bits = width_bits[ww], sh = width_shift[ww];
			uint32_t m = width_mask(bits) << sh;
			for (unsigned i = 0; i < NVALS; i++)
				for (int k = 0; k < 2; k++) {
					uint32_t a = vals[i];
					fout = flags_in[k];
					uint32_t got = unops[o].hw[w](a, &fout);
					uint32_t r = model_unop(unops[o].op, (a >> sh) & (m >> sh),
								flags_in[k], bits, &want_f, &fmask);
					expect(unops[o].name, ww, a, 0, got, fout, (a & ~m) | (r << sh),
					       want_f, fmask);
					cases++;
				}
		}
	group_end(cases);
}

/* ---- shifts and rotates ---- */

enum shop { SHL, SHR, SAR, ROL, ROR, RCL, RCR };

/* One bit at a time, as the SDM's pseudo-code does it. */
static uint32_t model_shift(enum shop op, uint32_t a, uint32_t count, uint32_t fin, int bits,
			    uint32_t *fout, uint32_t *fmask)
{
	uint32_t m = width_mask(bits), msb = 1u << (bits - 1);
	uint32_t n = count & 0x1f, cf = fin & F_CF, r = a & m, f;
	if (op == RCL || op == RCR)
		n %= (uint32_t)bits + 1;
	*fmask = F_ARITH;
	if (n == 0) {
		*fout = fin;
		return r;
	}
	uint32_t of_rcr = ((r & msb) ? 1 : 0) ^ cf;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t out;
		switch (op) {
		case SHL:
			cf = (r & msb) != 0;
			r = (r << 1) & m;
			break;
		case SHR:
			cf = r & 1;
			r >>= 1;
			break;
		case SAR:
			cf = r & 1;
			r = (r >> 1) | (r & msb);
			break;
		case ROL:
			cf = (r & msb) != 0;
			r = ((r << 1) & m) | cf;
			break;
		case ROR:
			cf = r & 1;
			r = (r >> 1) | (cf ? msb : 0);
			break;
		case RCL:
			out = (r & msb) != 0;
			r = ((r << 1) & m) | cf;
			cf = out;
			break;
		case RCR:
			out = r & 1;
			r = (r >> 1) | (cf ? msb : 0);
			cf = out;
			break;
		}
	}
	uint32_t top = (r & msb) != 0, next = (r & (msb >> 1)) != 0;
	if (op <= SAR) {
		/* Shifts write SZP; AF is undefined. */
		f = flags_szp(r, bits) | cf;
		*fmask = F_CF | F_PF | F_ZF | F_SF;
	} else {
		/* Rotates write only CF (and OF): the rest keep their value. */
		f = (fin & ~(F_CF | F_OF)) | cf;
		*fmask = F_ARITH & ~F_OF;
	}
	if (n == 1) {
		*fmask |= F_OF;
		uint32_t of = op == SHL || op == ROL || op == RCL ? top ^ cf
			      : op == SHR ? (a & msb) != 0
			      : op == SAR ? 0
			      : op == ROR ? top ^ next
			      : of_rcr;
		f |= of ? F_OF : 0;
	}
	*fout = f | F_FIXED;
	return r;
}

typedef uint32_t (*hw_shift)(uint32_t a, uint32_t count, uint32_t *flags);

#define HW_SHIFT(name, insn)								\
static uint32_t hw_##name##_8(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %%cl, %b[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+q"(a), [f] "+r"(*f) : "c"(n) : "cc");				\
	return a;									\
}											\
static uint32_t hw_##name##_8h(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %%cl, %h[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+Q"(a), [f] "+r"(*f) : "c"(n) : "cc");				\
	return a;									\
}											\
static uint32_t hw_##name##_16(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %%cl, %w[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+r"(a), [f] "+r"(*f) : "c"(n) : "cc");				\
	return a;									\
}											\
static uint32_t hw_##name##_32(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %%cl, %[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+r"(a), [f] "+r"(*f) : "c"(n) : "cc");				\
	return a;									\
}											\
static uint32_t hw_##name##_m32(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	mem_cell = a;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn "l %%cl, %[m]\n\tpushfl\n\tpopl %[f]"	\
		: [m] "+m"(mem_cell), [f] "+r"(*f) : "c"(n) : "cc");			\
	return mem_cell;								\
}											\
/* D1 /r (by one) and C1 /r ib with a few counts. */					\
static uint32_t hw_##name##_by1(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	(void)n;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " %[a]\n\tpushfl\n\tpopl %[f]"		\
		: [a] "+r"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}											\
static uint32_t hw_##name##_by7(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	(void)n;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " $7, %[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+r"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}											\
static uint32_t hw_##name##_by31(uint32_t a, uint32_t n, uint32_t *f)			\
{											\
	(void)n;									\
	__asm__("pushl %[f]\n\tpopfl\n\t" insn " $31, %[a]\n\tpushfl\n\tpopl %[f]"	\
		: [a] "+r"(a), [f] "+r"(*f) : : "cc");					\
	return a;									\
}
HW_SHIFT(shl, "shl")
HW_SHIFT(shr, "shr")
HW_SHIFT(sar, "sar")
HW_SHIFT(rol, "rol")
HW_SHIFT(ror, "ror")
HW_SHIFT(rcl, "rcl")
HW_SHIFT(rcr, "rcr")

static const struct {
	const char *name;
	enum shop op;
	hw_shift hw[NWIDTHS + 1];
	hw_shift imm[3];	/* by 1, by 7, by 31 */
} shops[] = {
#define SHIFT_ROW(n, op) { #n, op,							\
	{ hw_##n##_8, hw_##n##_8h, hw_##n##_16, hw_##n##_32, hw_##n##_m32 },		\
	{ hw_##n##_by1, hw_##n##_by7, hw_##n##_by31 } }
	SHIFT_ROW(shl, SHL), SHIFT_ROW(shr, SHR), SHIFT_ROW(sar, SAR),
	SHIFT_ROW(rol, ROL), SHIFT_ROW(ror, ROR), SHIFT_ROW(rcl, RCL), SHIFT_ROW(rcr, RCR),
};

/* Double shifts: shld/shrd by CL, by immediate, and into memory. */
static uint32_t model_dshift(int left, uint32_t d, uint32_t s, uint32_t count, uint32_t fin,
			     int bits, uint32_t *fout, uint32_t *fmask)
{
	uint32_t m = width_mask(bits), msb = 1u << (bits - 1), n = count & 0x1f, cf = 0;
	uint32_t r = d & m;
	s &= m;
	*fmask = F_ARITH;
	if (n == 0) {
		*fout = fin;
		return r;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (left) {
			cf = (r & msb) != 0;
			r = ((r << 1) & m) | ((s & msb) != 0);
			s = (s << 1) & m;
		} else {
			cf = r & 1;
			r = (r >> 1) | ((s & 1) ? msb : 0);
			s >>= 1;
		}
	}
	*fmask = F_CF | F_PF | F_ZF | F_SF;
	uint32_t f = flags_szp(r, bits) | cf;
	if (n == 1) {
		*fmask |= F_OF;
		f |= ((r ^ d) & msb) ? F_OF : 0;	/* the sign changed */
	}
	*fout = f | F_FIXED;
	return r;
}

static uint32_t hw_shld32(uint32_t d, uint32_t s, uint32_t n, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\tshld %%cl, %[s], %[d]\n\tpushfl\n\tpopl %[f]"
		: [d] "+r"(d), [f] "+r"(*f) : [s] "r"(s), "c"(n) : "cc");
	return d;
}
static uint32_t hw_shrd32(uint32_t d, uint32_t s, uint32_t n, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\tshrd %%cl, %[s], %[d]\n\tpushfl\n\tpopl %[f]"
		: [d] "+r"(d), [f] "+r"(*f) : [s] "r"(s), "c"(n) : "cc");
	return d;
}
static uint32_t hw_shld16(uint32_t d, uint32_t s, uint32_t n, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\tshld %%cl, %w[s], %w[d]\n\tpushfl\n\tpopl %[f]"
		: [d] "+r"(d), [f] "+r"(*f) : [s] "r"(s), "c"(n) : "cc");
	return d;
}
static uint32_t hw_shrd16(uint32_t d, uint32_t s, uint32_t n, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\tshrd %%cl, %w[s], %w[d]\n\tpushfl\n\tpopl %[f]"
		: [d] "+r"(d), [f] "+r"(*f) : [s] "r"(s), "c"(n) : "cc");
	return d;
}
static uint32_t hw_shrd32_m(uint32_t d, uint32_t s, uint32_t n, uint32_t *f)
{
	mem_cell = d;
	__asm__("pushl %[f]\n\tpopfl\n\tshrdl %%cl, %[s], %[m]\n\tpushfl\n\tpopl %[f]"
		: [m] "+m"(mem_cell), [f] "+r"(*f) : [s] "r"(s), "c"(n) : "cc");
	return mem_cell;
}
static uint32_t hw_shld32_i5(uint32_t d, uint32_t s, uint32_t n, uint32_t *f)
{
	(void)n;
	__asm__("pushl %[f]\n\tpopfl\n\tshld $5, %[s], %[d]\n\tpushfl\n\tpopl %[f]"
		: [d] "+r"(d), [f] "+r"(*f) : [s] "r"(s) : "cc");
	return d;
}
static uint32_t hw_shrd32_i1(uint32_t d, uint32_t s, uint32_t n, uint32_t *f)
{
	(void)n;
	__asm__("pushl %[f]\n\tpopfl\n\tshrd $1, %[s], %[d]\n\tpushfl\n\tpopl %[f]"
		: [d] "+r"(d), [f] "+r"(*f) : [s] "r"(s) : "cc");
	return d;
}

static void shift_hand_checks(void)
{
	uint32_t f = F_FIXED;
	RT_CHECK_EQ(hw_shl_32(0x80000001, 1, &f), 2);
	RT_CHECK_EQ(f & (F_CF | F_OF | F_ZF | F_SF | F_PF), F_CF | F_OF);
	f = F_FIXED;
	RT_CHECK_EQ(hw_sar_8(0xab80, 3, &f), 0xabf0);
	RT_CHECK_EQ(f & (F_CF | F_ZF | F_SF | F_PF), F_SF | F_PF);
	f = F_FIXED | F_CF;
	RT_CHECK_EQ(hw_rcr_16(0x0001, 1, &f), 0x8000);	/* CF in at the top, bit 0 out */
	RT_CHECK_EQ(f & (F_CF | F_OF), F_CF | F_OF);
	f = F_FIXED | F_ZF;
	RT_CHECK_EQ(hw_rol_32(0x12345678, 36, &f), 0x23456781);	/* count masked to 4 */
	RT_CHECK_EQ(f & (F_CF | F_ZF), F_CF | F_ZF);		/* ZF untouched */
	f = F_FIXED;
	RT_CHECK_EQ(hw_shld32(0x12345678, 0x9abcdef0, 8, &f), 0x3456789a);
	f = F_FIXED;
	RT_CHECK_EQ(hw_shrd16(0xffff1234, 0xabcd, 4, &f), 0xffffd123);
	RT_CHECK_EQ(f & F_CF, 0);
}

void test_shift(void)
{
	uint32_t cases = 0, fout, fmask, want_f;
	group_begin("shift");
	shift_hand_checks();
	for (unsigned o = 0; o < sizeof(shops) / sizeof(shops[0]); o++) {
		for (int w = 0; w <= NWIDTHS; w++) {
			int ww = w == NWIDTHS ? W32 : w;
			int bits = width_bits[ww], sh = width_shift[ww];
			uint32_t m = width_mask(bits) << sh;
			/* 8/16-bit counts past the width leave CF undefined. */
			uint32_t counts = bits == 32 ? 40 : (uint32_t)bits;
			for (unsigned i = 0; i < NVALS; i++)
				for (uint32_t n = 0; n < counts; n++)
					for (int k = 0; k < 2; k++) {
						uint32_t a = vals[i];
						fout = flags_in[k];
						uint32_t got = shops[o].hw[w](a, n, &fout);
						uint32_t r = model_shift(shops[o].op, (a & m) >> sh, n,
									 flags_in[k], bits, &want_f,
									 &fmask);
						expect(shops[o].name, ww, a, n, got, fout,
						       (a & ~m) | (r << sh), want_f, fmask);
						cases++;
					}
		}
		static const uint32_t imm_counts[3] = { 1, 7, 31 };
		for (int c = 0; c < 3; c++)
			for (unsigned i = 0; i < NVALS; i++)
				for (int k = 0; k < 2; k++) {
					fout = flags_in[k];
					uint32_t got = shops[o].imm[c](vals[i], 0, &fout);
					uint32_t r = model_shift(shops[o].op, vals[i], imm_counts[c],
								 flags_in[k], 32, &want_f, &fmask);
					expect(shops[o].name, W32, vals[i], imm_counts[c], got, fout, r,
					       want_f, fmask);
					cases++;
				}
	}
	static const struct {
		const char *name;
		int left, bits;
		uint32_t fixed_count;	/* 0: by CL over the range */
		uint32_t (*hw)(uint32_t, uint32_t, uint32_t, uint32_t *);
	} dops[] = {
		{ "shld", 1, 32, 0, hw_shld32 }, { "shrd", 0, 32, 0, hw_shrd32 },
		{ "shld", 1, 16, 0, hw_shld16 }, { "shrd", 0, 16, 0, hw_shrd16 },
		{ "shrd-mem", 0, 32, 0, hw_shrd32_m }, { "shld$5-", 1, 32, 5, hw_shld32_i5 },
		{ "shrd$1-", 0, 32, 1, hw_shrd32_i1 },
	};
	for (unsigned o = 0; o < sizeof(dops) / sizeof(dops[0]); o++) {
		int w = dops[o].bits == 32 ? W32 : W16;
		uint32_t m = width_mask(dops[o].bits);
		for (unsigned i = 0; i < NVALS; i++)
			for (unsigned j = 0; j < NVALS; j += 3)
				for (uint32_t n = 0; n < (uint32_t)dops[o].bits; n++) {
					uint32_t count = dops[o].fixed_count ? dops[o].fixed_count : n;
					uint32_t fin = flags_in[n & 1];
					fout = fin;
					uint32_t got = dops[o].hw(vals[i], vals[j], count, &fout);
					uint32_t r = model_dshift(dops[o].left, vals[i], vals[j], count,
								  fin, dops[o].bits, &want_f, &fmask);
					expect(dops[o].name, w, vals[i], vals[j] ^ count, got, fout,
					       (vals[i] & ~m) | r, want_f, fmask);
					cases++;
					if (dops[o].fixed_count)
						break;
				}
	}
	group_end(cases);
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_info;
	rt_puts("basic: integer instructions\n");
	RT_CHECK_EQ(mb_magic, 0x2badb002);
	test_alu();
	test_shift();
	test_muldiv();
	test_bits();
	test_cond();
	test_mov();
	test_lea();
	test_xchg();
	test_string();
	test_stack();
	test_calls();
	test_jumps();
	test_loops();
	test_recursion();
}
