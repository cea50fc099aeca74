/* FPU guest: x87 arithmetic, compares, integer loads/stores, control/status words, fxsave/fxrstor, SSE/SSE2. */
#include "rt.h"

/*
 * Every asm here is volatile: results depend on FCW/MXCSR, which the
 * compiler cannot see, so it must neither merge nor hoist them.
 *
 * Expected floating-point bit patterns were worked out independently with
 * exact rational arithmetic (IEEE round-to-nearest-even to 24, 53 or 64
 * significant bits); integer SSE2 results come from scalar C models of
 * each lane (the guest is built with -fno-tree-vectorize so the models do
 * not turn into the instructions under test).
 */

#define F_CF 0x001u
#define F_PF 0x004u
#define F_AF 0x010u
#define F_ZF 0x040u
#define F_SF 0x080u
#define F_OF 0x800u

typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef uint16_t u16x8 __attribute__((vector_size(16)));
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint64_t u64x2 __attribute__((vector_size(16)));

static uint32_t hash;
static void mix(uint32_t v) { hash = (hash ^ v) * 16777619u; }
static void mix64(uint64_t v) { mix((uint32_t)v); mix((uint32_t)(v >> 32)); }

static void section(const char *name)
{
	hash = 2166136261u;
	rt_section(name);
}

static void section_end(void)
{
	rt_printf("  hash %08x\n", hash);
	rt_section_end();
}

static void check64(const char *file, int line, const char *what, uint64_t got, uint64_t want)
{
	mix64(got);
	if (got != want) {
		rt_printf("FAIL %s:%d %s: got %08x%08x want %08x%08x\n", file, line, what,
			  (uint32_t)(got >> 32), (uint32_t)got, (uint32_t)(want >> 32), (uint32_t)want);
		rt_failures++;
	}
}
#define CHECK64(got, want) check64("fpu.c", __LINE__, #got, (got), (want))
#define CHECK32(got, want) do { mix(got); RT_CHECK_EQ(got, want); } while (0)

static void check_vec(int line, const char *what, u32x4 got, u32x4 want)
{
	for (int i = 0; i < 4; i++) {
		mix(got[i]);
		if (got[i] != want[i]) {
			rt_printf("FAIL fpu.c:%d %s lane %d: got %08x want %08x\n", line, what, i,
				  got[i], want[i]);
			rt_failures++;
		}
	}
}
#define CHECKV(got, ...) check_vec(__LINE__, #got, (u32x4)(got), ((u32x4){ __VA_ARGS__ }))

/* Bit patterns as doubles/floats, and back. */
static double dbl(uint64_t bits) { union { uint64_t u; double d; } v = { bits }; return v.d; }
static uint64_t bits64(double d) { union { double d; uint64_t u; } v = { d }; return v.u; }
static uint32_t bits32(float f) { union { float f; uint32_t u; } v = { f }; return v.u; }

/* An 80-bit x87 value as stored by fstpt. */
struct ext80 { uint64_t mant; uint16_t se; } __attribute__((packed));

static void enable_sse(void)
{
	uint32_t cr0, cr4;
	__asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
	cr0 = (cr0 & ~(1u << 2 | 1u << 3)) | 1u << 1;	/* EM=0, TS=0, MP=1 */
	__asm__ volatile("movl %0, %%cr0" : : "r"(cr0));
	__asm__ volatile("movl %%cr4, %0" : "=r"(cr4));
	cr4 |= 1u << 9 | 1u << 10;			/* OSFXSR, OSXMMEXCPT */
	__asm__ volatile("movl %0, %%cr4" : : "r"(cr4));
	__asm__ volatile("fninit");
}

/* ---- x87 arithmetic ---- */

static uint64_t x87_op(int op, double a, double b)
{
	double r;
	switch (op) {
	case 0: __asm__ volatile("fldl %1\n\tfaddl %2\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b)); break;
	case 1: __asm__ volatile("fldl %1\n\tfsubl %2\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b)); break;
	case 2: __asm__ volatile("fldl %1\n\tfmull %2\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b)); break;
	case 3: __asm__ volatile("fldl %1\n\tfdivl %2\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b)); break;
	case 4: __asm__ volatile("fldl %1\n\tfsubrl %2\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b)); break;
	case 5: __asm__ volatile("fldl %1\n\tfdivrl %2\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b)); break;
	/* register forms: st0 = a, st1 = b */
	case 6: __asm__ volatile("fldl %2\n\tfldl %1\n\tfsub %%st(1), %%st\n\tfstpl %0\n\tfstp %%st"
			: "=m"(r) : "m"(a), "m"(b)); break;
	case 7: __asm__ volatile("fldl %2\n\tfldl %1\n\tfmulp\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b)); break;
	default: __asm__ volatile("fldl %1\n\tfsqrt\n\tfstpl %0" : "=m"(r) : "m"(a)); break;
	}
	return bits64(r);
}

static struct ext80 x87_div_ext(double a, double b)
{
	struct ext80 r;
	__asm__ volatile("fldl %1\n\tfdivl %2\n\tfstpt %0" : "=m"(r) : "m"(a), "m"(b));
	return r;
}

static void set_fcw(uint16_t cw) { __asm__ volatile("fldcw %0" : : "m"(cw)); }
static uint16_t get_fcw(void) { uint16_t cw; __asm__ volatile("fnstcw %0" : "=m"(cw)); return cw; }
static uint16_t get_fsw(void) { uint16_t sw; __asm__ volatile("fnstsw %0" : "=a"(sw)); return sw; }

static void test_x87_arith(void)
{
	section("x87 arithmetic");
	__asm__ volatile("fninit");
	CHECK64(x87_op(0, 1.5, 2.25), 0x400e000000000000);		/* 3.75 */
	CHECK64(x87_op(1, 10.0, 0.125), 0x4023c00000000000);		/* 9.875 */
	CHECK64(x87_op(2, 7.0, 0.5), 0x400c000000000000);		/* 3.5 */
	CHECK64(x87_op(3, 7.0, 2.0), 0x400c000000000000);		/* 3.5 */
	CHECK64(x87_op(4, 0.125, 10.0), 0x4023c00000000000);		/* 10 - 0.125 */
	CHECK64(x87_op(5, 2.0, 7.0), 0x400c000000000000);		/* 7 / 2 */
	CHECK64(x87_op(6, 10.0, 0.125), 0x4023c00000000000);
	CHECK64(x87_op(7, 1.5, 2.0), 0x4008000000000000);		/* 3 */
	CHECK64(x87_op(8, 2.25, 0), 0x3ff8000000000000);		/* sqrt 2.25 */
	/* Inexact: computed to 64 bits, then rounded to 53 on the store. */
	CHECK64(x87_op(3, 1.0, 3.0), 0x3fd5555555555555);
	CHECK64(x87_op(8, 2.0, 0), 0x3ff6a09e667f3bcd);
	CHECK64(x87_op(0, dbl(0x3fb999999999999a), dbl(0x3fc999999999999a)),
		0x3fd3333333333334);					/* 0.1 + 0.2 */
	CHECK64(x87_op(3, 2.0, 7.0), 0x3fd2492492492492);
	struct ext80 e = x87_div_ext(1.0, 3.0);
	CHECK64(e.mant, 0xaaaaaaaaaaaaaaab);
	CHECK32(e.se, 0x3ffd);
	double two = 2.0;
	__asm__ volatile("fldl %1\n\tfsqrt\n\tfstpt %0" : "=m"(e) : "m"(two));
	CHECK64(e.mant, 0xb504f333f9de6484);
	CHECK32(e.se, 0x3fff);
	/* Precision control: the same division rounded to 53 and 24 bits. */
	set_fcw(0x027f);
	e = x87_div_ext(1.0, 3.0);
	CHECK64(e.mant, 0xaaaaaaaaaaaaa800);
	set_fcw(0x007f);
	e = x87_div_ext(1.0, 3.0);
	CHECK64(e.mant, 0xaaaaab0000000000);
	set_fcw(0x037f);

	/* fld1, fldz, fchs, fabs, fxch, fscale, frndint */
	double r1, r2;
	__asm__ volatile("fld1\n\tfldz\n\tfxch\n\tfchs\n\tfstpl %0\n\tfabs\n\tfstpl %1"
		: "=m"(r1), "=m"(r2));
	CHECK64(bits64(r1), 0xbff0000000000000);			/* -1 */
	CHECK64(bits64(r2), 0x0000000000000000);			/* |0| */
	double three = 3.0, onehalf = 1.5;
	__asm__ volatile("fldl %1\n\tfldl %2\n\tfscale\n\tfstpl %0\n\tfstp %%st" : "=m"(r1)
		: "m"(three), "m"(onehalf));
	CHECK64(bits64(r1), 0x4028000000000000);			/* 1.5 * 2^3 */
	static const struct { uint64_t in, nearest, down, up, chop; } rnd[] = {
		{ 0x4004000000000000, 0x4000000000000000, 0x4000000000000000,	/* 2.5 */
		  0x4008000000000000, 0x4000000000000000 },
		{ 0x400c000000000000, 0x4010000000000000, 0x4008000000000000,	/* 3.5 */
		  0x4010000000000000, 0x4008000000000000 },
		{ 0xc004000000000000, 0xc000000000000000, 0xc008000000000000,	/* -2.5 */
		  0xc000000000000000, 0xc000000000000000 },
		{ 0xbfe0000000000000, 0x8000000000000000, 0xbff0000000000000,	/* -0.5 */
		  0x8000000000000000, 0x8000000000000000 },
	};
	for (unsigned i = 0; i < sizeof(rnd) / sizeof(rnd[0]); i++) {
		const uint64_t *want = &rnd[i].nearest;
		for (int rc = 0; rc < 4; rc++) {
			double in = dbl(rnd[i].in);
			set_fcw((uint16_t)(0x037f | rc << 10));
			__asm__ volatile("fldl %1\n\tfrndint\n\tfstpl %0" : "=m"(r1) : "m"(in));
			CHECK64(bits64(r1), want[rc]);
		}
	}
	set_fcw(0x037f);
	section_end();
}

/* ---- x87 compares ---- */

/* fcomi / fucomi: ZF PF CF; fcom + fnstsw: C3 C2 C0. */
static uint32_t x87_fcomi(double a, double b, int unordered_ok)
{
	uint32_t f;
	if (unordered_ok)
		__asm__ volatile("fldl %2\n\tfldl %1\n\tfucomi %%st(1), %%st\n\tpushfl\n\tpopl %0\n\t"
			"fstp %%st\n\tfstp %%st" : "=r"(f) : "m"(a), "m"(b) : "cc");
	else
		__asm__ volatile("fldl %2\n\tfldl %1\n\tfcomip %%st(1), %%st\n\tpushfl\n\tpopl %0\n\t"
			"fstp %%st" : "=r"(f) : "m"(a), "m"(b) : "cc");
	/* Only these three are defined: QEMU keeps OF/SF/AF, some CPUs clear them. */
	return f & (F_ZF | F_PF | F_CF);
}

static uint16_t x87_fcom(double a, double b)
{
	uint16_t sw;
	__asm__ volatile("fldl %1\n\tfcompl %2\n\tfnstsw %0" : "=a"(sw) : "m"(a), "m"(b));
	return sw & 0x4500;	/* C3, C2, C0 */
}

static void test_x87_compare(void)
{
	section("x87 compare");
	__asm__ volatile("fninit");
	double nan = dbl(0x7ff8000000000000), inf = dbl(0x7ff0000000000000);
	static const struct { double a, b; uint32_t flags; uint16_t cc; } cases[] = {
		{ 1.0, 2.0, F_CF, 0x0100 },
		{ 2.0, 1.0, 0, 0x0000 },
		{ -0.0, 0.0, F_ZF, 0x4000 },	/* zeros compare equal */
		{ -1e300, 1e-300, F_CF, 0x0100 },
	};
	for (unsigned i = 0; i < 4; i++) {
		CHECK32(x87_fcomi(cases[i].a, cases[i].b, 1), cases[i].flags);
		CHECK32(x87_fcomi(cases[i].a, cases[i].b, 0), cases[i].flags);
		CHECK32(x87_fcom(cases[i].a, cases[i].b), cases[i].cc);
	}
	CHECK32(x87_fcomi(inf, 1e308, 1), 0);
	/* Unordered: all three set; fcomi also flags invalid, fucomi does not. */
	__asm__ volatile("fnclex");
	CHECK32(x87_fcomi(nan, 1.0, 1), F_ZF | F_PF | F_CF);
	CHECK32(get_fsw() & 0x01, 0);
	CHECK32(x87_fcomi(1.0, nan, 0), F_ZF | F_PF | F_CF);
	CHECK32(get_fsw() & 0x01, 0x01);
	__asm__ volatile("fnclex");
	CHECK32(x87_fcom(nan, 1.0), 0x4500);

	/* ftst and fxam (C3 C2 C1 C0 = bits 14 10 9 8). */
	static const struct { uint64_t v; uint16_t tst, xam; } cls[] = {
		{ 0x3ff0000000000000, 0x0000, 0x0400 },		/* 1: normal */
		{ 0xbff0000000000000, 0x0100, 0x0600 },		/* -1: normal, negative */
		{ 0x0000000000000000, 0x4000, 0x4000 },		/* zero */
		{ 0xfff0000000000000, 0x0100, 0x0700 },		/* -inf */
		{ 0x7ff8000000000000, 0x4500, 0x0100 },		/* NaN */
	};
	for (unsigned i = 0; i < sizeof(cls) / sizeof(cls[0]); i++) {
		double v = dbl(cls[i].v);
		uint16_t a, b;
		__asm__ volatile("fldl %2\n\tftst\n\tfnstsw %%ax\n\tmovw %%ax, %0\n\tfxam\n\tfnstsw %%ax\n\t"
			"movw %%ax, %1\n\tfstp %%st" : "=m"(a), "=m"(b) : "m"(v) : "eax");
		CHECK32(a & 0x4500u, cls[i].tst);
		CHECK32(b & 0x4700u, cls[i].xam);
	}
	__asm__ volatile("fnclex");
	section_end();
}

/* ---- integer loads and stores, rounding ---- */

static void test_x87_int(void)
{
	section("x87 integers");
	__asm__ volatile("fninit");
	int16_t i16 = -12345, o16;
	int32_t i32 = -123456789, o32;
	int64_t i64 = 0x123456789abcdef0, o64;
	double d;
	__asm__ volatile("filds %1\n\tfistps %0" : "=m"(o16) : "m"(i16));
	CHECK32((uint32_t)o16, (uint32_t)-12345);
	__asm__ volatile("fildl %1\n\tfistpl %0" : "=m"(o32) : "m"(i32));
	CHECK32((uint32_t)o32, (uint32_t)-123456789);
	__asm__ volatile("fildll %1\n\tfistpll %0" : "=m"(o64) : "m"(i64));
	CHECK64((uint64_t)o64, 0x123456789abcdef0);
	__asm__ volatile("fildl %1\n\tfstpl %0" : "=m"(d) : "m"(i32));
	CHECK64(bits64(d), 0xc19d6f3454000000);		/* -123456789.0 */
	/* fist with each rounding mode: 2.5, -2.5, 1.5, -0.5 */
	static const struct { uint64_t in; int32_t want[4]; } rnd[] = {
		{ 0x4004000000000000, { 2, 2, 3, 2 } },
		{ 0xc004000000000000, { -2, -3, -2, -2 } },
		{ 0x3ff8000000000000, { 2, 1, 2, 1 } },
		{ 0xbfe0000000000000, { 0, -1, 0, 0 } },
	};
	for (unsigned i = 0; i < 4; i++)
		for (int rc = 0; rc < 4; rc++) {
			double in = dbl(rnd[i].in);
			set_fcw((uint16_t)(0x037f | rc << 10));
			__asm__ volatile("fldl %1\n\tfistpl %0" : "=m"(o32) : "m"(in));
			CHECK32((uint32_t)o32, (uint32_t)rnd[i].want[rc]);
		}
	set_fcw(0x037f);
	/* Out of range with invalid masked: the integer indefinite, and IE. */
	__asm__ volatile("fnclex");
	d = 3e9;
	__asm__ volatile("fldl %1\n\tfistpl %0" : "=m"(o32) : "m"(d));
	CHECK32((uint32_t)o32, 0x80000000);
	CHECK32(get_fsw() & 0x3fu, 0x01);
	__asm__ volatile("fldl %1\n\tfistps %0" : "=m"(o16) : "m"(d));
	CHECK32((uint16_t)o16, 0x8000);
	__asm__ volatile("fnclex");
	section_end();
}

/* ---- control, status and tag words ---- */

struct fpu_env { uint32_t cw, sw, tw, rest[4]; };	/* 32-bit protected-mode fnstenv */

static void test_x87_env(void)
{
	struct fpu_env env;
	double r, one = 1.0, zero = 0.0, big = 1e308;
	section("x87 control/status");
	__asm__ volatile("fninit");
	CHECK32(get_fcw(), 0x037f);
	CHECK32(get_fsw(), 0);
	__asm__ volatile("fnstenv %0" : "=m"(env));
	CHECK32(env.cw & 0xffff, 0x037f);
	CHECK32(env.tw & 0xffff, 0xffff);		/* all empty */
	__asm__ volatile("fld1\n\tfldz");
	CHECK32(get_fsw() & 0x3800u, 6u << 11);		/* TOP = 6 */
	__asm__ volatile("fnstenv %0" : "=m"(env));
	/* fnstenv masks all exceptions afterwards; the saved word is the old one. */
	CHECK32(env.cw & 0xffff, 0x037f);
	CHECK32(env.sw & 0x3800, 6u << 11);
	CHECK32(env.tw & 0xffff, 0x1fff);		/* reg 7 valid (00), reg 6 zero (01) */
	__asm__ volatile("fldenv %0\n\tfstp %%st\n\tfstp %%st" : : "m"(env));
	CHECK32(get_fsw() & 0x3800u, 0);
	set_fcw(0x0c7f);
	CHECK32(get_fcw(), 0x0c7f);
	set_fcw(0x037f);
	/* Masked exceptions: flags in FSW, default results. */
	__asm__ volatile("fnclex");
	__asm__ volatile("fldl %1\n\tfdivl %2\n\tfstpl %0" : "=m"(r) : "m"(one), "m"(zero));
	CHECK64(bits64(r), 0x7ff0000000000000);
	CHECK32(get_fsw() & 0x3fu, 0x04);		/* ZE */
	__asm__ volatile("fnclex");
	__asm__ volatile("fldl %1\n\tfdivl %2\n\tfstpl %0" : "=m"(r) : "m"(zero), "m"(zero));
	CHECK64(bits64(r), 0xfff8000000000000);		/* the default NaN */
	CHECK32(get_fsw() & 0x3fu, 0x01);		/* IE */
	__asm__ volatile("fnclex");
	__asm__ volatile("fldl %1\n\tfmull %1\n\tfstpl %0" : "=m"(r) : "m"(big));
	CHECK64(bits64(r), 0x7ff0000000000000);
	CHECK32(get_fsw() & 0x3fu, 0x28);		/* OE, PE (on the store) */
	__asm__ volatile("fnclex");
	CHECK32(get_fsw() & 0xbfu, 0);
	section_end();
}

/* ---- fxsave/fxrstor, fnsave/frstor ---- */

static uint8_t fx_area[512] __attribute__((aligned(16)));
static uint8_t fx_area2[512] __attribute__((aligned(16)));
static uint32_t xmm_in[8][4], xmm_out[8][4];

static void load_xmms(void)
{
	__asm__ volatile("movdqu 0(%0), %%xmm0\n\tmovdqu 16(%0), %%xmm1\n\tmovdqu 32(%0), %%xmm2\n\t"
			 "movdqu 48(%0), %%xmm3\n\tmovdqu 64(%0), %%xmm4\n\tmovdqu 80(%0), %%xmm5\n\t"
			 "movdqu 96(%0), %%xmm6\n\tmovdqu 112(%0), %%xmm7"
			 : : "r"(xmm_in) : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
			   "xmm7", "memory");
}

static void store_xmms(void)
{
	__asm__ volatile("movdqu %%xmm0, 0(%0)\n\tmovdqu %%xmm1, 16(%0)\n\tmovdqu %%xmm2, 32(%0)\n\t"
			 "movdqu %%xmm3, 48(%0)\n\tmovdqu %%xmm4, 64(%0)\n\tmovdqu %%xmm5, 80(%0)\n\t"
			 "movdqu %%xmm6, 96(%0)\n\tmovdqu %%xmm7, 112(%0)"
			 : : "r"(xmm_out) : "memory");
}

static void clobber_state(void)
{
	uint32_t mx = 0x1f80;
	__asm__ volatile("fninit\n\tldmxcsr %0\n\t"
			 "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
			 "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
			 "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7"
			 : : "m"(mx) : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void test_fxsave(void)
{
	double third = dbl(0x3fd5555555555555), r[3];
	uint32_t mx_in = 0x3f80 | 0x8000 /* FTZ */, mx_out;
	section("fxsave/fxrstor");
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			xmm_in[i][j] = 0x01010101u * (uint32_t)(i * 4 + j) ^ 0x9e3779b9u;
	/* Three x87 values (1, -2.5, 1/3), control word with RC=up, xmm0-7. */
	__asm__ volatile("fninit\n\tfld1\n\tfld1\n\tfadd %%st(0), %%st\n\tfchs\n\t"
			 "fldl %0" : : "m"(third));
	set_fcw(0x0b7f);
	__asm__ volatile("ldmxcsr %0" : : "m"(mx_in));
	load_xmms();
	__asm__ volatile("fxsave %0" : "=m"(fx_area));

	CHECK32(rd16(fx_area + 0), 0x0b7f);		/* FCW */
	CHECK32(rd16(fx_area + 2) & 0x3800u, 5u << 11);	/* FSW.TOP */
	CHECK32(fx_area[4], 0xe0);			/* abridged FTW: regs 5-7 */
	CHECK32(rd32(fx_area + 24), mx_in);		/* MXCSR */
	CHECK64(rd64(fx_area + 32), 0xaaaaaaaaaaaaa800);	/* ST0 = 1/3 as a double */
	CHECK32(rd16(fx_area + 40), 0x3ffd);
	CHECK64(rd64(fx_area + 48), 0x8000000000000000);	/* ST1 = -2 */
	CHECK32(rd16(fx_area + 56), 0xc000);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			CHECK32(rd32(fx_area + 160 + 16 * i + 4 * j), xmm_in[i][j]);

	clobber_state();
	__asm__ volatile("fxrstor %0" : : "m"(fx_area));
	store_xmms();
	__asm__ volatile("stmxcsr %0" : "=m"(mx_out));
	CHECK32(mx_out, mx_in);
	CHECK32(get_fcw(), 0x0b7f);
	CHECK32(get_fsw() & 0x3800u, 5u << 11);
	__asm__ volatile("fstpl %0\n\tfstpl %1\n\tfstpl %2" : "=m"(r[0]), "=m"(r[1]), "=m"(r[2]));
	CHECK64(bits64(r[0]), 0x3fd5555555555555);
	CHECK64(bits64(r[1]), 0xc000000000000000);
	CHECK64(bits64(r[2]), 0x3ff0000000000000);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			CHECK32(xmm_out[i][j], xmm_in[i][j]);
	/* A second save of the restored state gives the same control fields. */
	__asm__ volatile("fxsave %0" : "=m"(fx_area2));
	CHECK32(rd16(fx_area2 + 0), 0x0b7f);
	CHECK32(rd32(fx_area2 + 24), mx_in);
	CHECK32(fx_area2[4], 0);			/* the three pops emptied them */

	/* fnsave/frstor: the 108-byte image, which also reinitializes the FPU. */
	static uint8_t save_area[108];
	__asm__ volatile("fninit\n\tfld1\n\tfldl %0" : : "m"(third));
	set_fcw(0x077f);
	__asm__ volatile("fnsave %0" : "=m"(save_area));
	CHECK32(get_fcw(), 0x037f);
	CHECK32(rd16(save_area + 0), 0x077f);
	CHECK32(rd16(save_area + 8), 0x0fff);		/* tags: regs 6, 7 valid */
	CHECK64(rd64(save_area + 28), 0xaaaaaaaaaaaaa800);
	__asm__ volatile("frstor %0" : : "m"(save_area));
	CHECK32(get_fcw(), 0x077f);
	__asm__ volatile("fstpl %0\n\tfstpl %1" : "=m"(r[0]), "=m"(r[1]));
	CHECK64(bits64(r[0]), 0x3fd5555555555555);
	CHECK64(bits64(r[1]), 0x3ff0000000000000);
	__asm__ volatile("fninit");
	mx_in = 0x1f80;
	__asm__ volatile("ldmxcsr %0" : : "m"(mx_in));
	section_end();
}

/* ---- SSE/SSE2 floating point ---- */

#define SSE_OP(insn, a, b) ({ u32x4 _a = (u32x4)(a);					\
	__asm__ volatile(insn " %1, %0" : "+x"(_a) : "x"((u32x4)(b))); _a; })
#define SSE_OPI(insn, imm, a, b) ({ u32x4 _a = (u32x4)(a);				\
	__asm__ volatile(insn " $" #imm ", %1, %0" : "+x"(_a) : "x"((u32x4)(b))); _a; })

static uint32_t get_mxcsr(void) { uint32_t m; __asm__ volatile("stmxcsr %0" : "=m"(m)); return m; }
static void set_mxcsr(uint32_t m) { __asm__ volatile("ldmxcsr %0" : : "m"(m)); }

/* comiss/ucomiss: the flags, and whether invalid was raised. */
static uint32_t sse_comi(int unordered_ok, uint32_t a, uint32_t b)
{
	u32x4 va = { a }, vb = { b };
	uint32_t f = F_OF | F_SF | F_AF;	/* all three must be cleared */
	if (unordered_ok)
		__asm__ volatile("pushl %0\n\tpopfl\n\tucomiss %2, %1\n\tpushfl\n\tpopl %0"
			: "+r"(f) : "x"(va), "x"(vb) : "cc");
	else
		__asm__ volatile("pushl %0\n\tpopfl\n\tcomiss %2, %1\n\tpushfl\n\tpopl %0"
			: "+r"(f) : "x"(va), "x"(vb) : "cc");
	return f & (F_ZF | F_PF | F_CF | F_OF | F_SF | F_AF);
}

static void test_sse_float(void)
{
	section("sse float");
	set_mxcsr(0x1f80);
	CHECK32(get_mxcsr(), 0x1f80);
	/* Scalar single; the upper lanes of the destination stay. */
	u32x4 hi = { 0, 0x11111111, 0x22222222, 0x33333333 };
	CHECKV(SSE_OP("addss", hi + ((u32x4){ 0x3fc00000 }), ((u32x4){ 0x40100000, 7, 7, 7 })),
	       0x40700000, 0x11111111, 0x22222222, 0x33333333);		/* 1.5 + 2.25 */
	CHECKV(SSE_OP("subss", ((u32x4){ 0x3f800000 }), ((u32x4){ 0x40400000 })), 0xc0000000);
	CHECKV(SSE_OP("mulss", ((u32x4){ 0x3f8ccccd }), ((u32x4){ 0x3f8ccccd })), 0x3f9ae148);
	CHECKV(SSE_OP("divss", ((u32x4){ 0x3f800000 }), ((u32x4){ 0x40400000 })), 0x3eaaaaab);
	CHECKV(SSE_OP("sqrtss", hi, ((u32x4){ 0x40000000 })),
	       0x3fb504f3, 0x11111111, 0x22222222, 0x33333333);
	/* min/max return the second operand for zeros and NaNs. */
	CHECKV(SSE_OP("minss", ((u32x4){ 0x80000000 }), ((u32x4){ 0x00000000 })), 0x00000000);
	CHECKV(SSE_OP("maxss", ((u32x4){ 0x00000000 }), ((u32x4){ 0x80000000 })), 0x80000000);
	CHECKV(SSE_OP("minss", ((u32x4){ 0x7fc00000 }), ((u32x4){ 0x3f800000 })), 0x3f800000);
	CHECKV(SSE_OP("maxss", ((u32x4){ 0x3f800000 }), ((u32x4){ 0x7fc00000 })), 0x7fc00000);
	/* Scalar double. */
	CHECKV(SSE_OP("addsd", ((u64x2){ 0x3fb999999999999a, 5 }), ((u64x2){ 0x3fc999999999999a })),
	       0x33333334, 0x3fd33333, 5, 0);				/* 0.1 + 0.2 */
	CHECKV(SSE_OP("divsd", ((u64x2){ 0x3ff0000000000000 }), ((u64x2){ 0x4008000000000000 })),
	       0x55555555, 0x3fd55555);
	CHECKV(SSE_OP("sqrtsd", ((u64x2){ 0 }), ((u64x2){ 0x4000000000000000 })),
	       0x667f3bcd, 0x3ff6a09e);
	CHECKV(SSE_OP("mulsd", ((u64x2){ 0x3ff199999999999a }), ((u64x2){ 0x3ff199999999999a })),
	       0xf5c28f5d, 0x3ff35c28);
	/* Packed. */
	CHECKV(SSE_OP("addps", ((u32x4){ 0x3f800000, 0x40000000, 0x40400000, 0x40800000 }),
		      ((u32x4){ 0x3f000000, 0x3e800000, 0x3e000000, 0xc1000000 })),
	       0x3fc00000, 0x40100000, 0x40480000, 0xc0800000);
	set_mxcsr(0x1f80);
	CHECKV(SSE_OP("mulps", ((u32x4){ 0x3f8ccccd, 0x40400000, 0xc0000000, 0x60ad78ec }),
		      ((u32x4){ 0x3f8ccccd, 0x3eaaaaab, 0x3f000000, 0x60ad78ec })),
	       0x3f9ae148, 0x3f800000, 0xbf800000, 0x7f800000);
	CHECK32(get_mxcsr() & 0x3f, 0x28);		/* OE, PE */
	CHECKV(SSE_OP("divpd", ((u64x2){ 0x3ff0000000000000, 0x4000000000000000 }),
		      ((u64x2){ 0x4008000000000000, 0x401c000000000000 })),
	       0x55555555, 0x3fd55555, 0x92492492, 0x3fd24924);	/* 1/3, 2/7 */
	CHECKV(SSE_OP("andps", ((u32x4){ 0xffff0000, 0x0f0f0f0f, 0, ~0u }),
		      ((u32x4){ 0x12345678, 0xffffffff, 0xffffffff, 0x80000000 })),
	       0x12340000, 0x0f0f0f0f, 0, 0x80000000);
	CHECKV(SSE_OP("xorpd", ((u64x2){ 0x8000000000000000, 1 }), ((u64x2){ 0x3ff0000000000000, 3 })),
	       0, 0xbff00000, 2, 0);
	/* Masked exceptions: ZE and the default NaN. */
	set_mxcsr(0x1f80);
	CHECKV(SSE_OP("divss", ((u32x4){ 0x3f800000 }), ((u32x4){ 0 })), 0x7f800000);
	CHECK32(get_mxcsr() & 0x3f, 0x04);
	set_mxcsr(0x1f80);
	CHECKV(SSE_OP("divsd", ((u64x2){ 0 }), ((u64x2){ 0 })), 0, 0xfff80000);
	CHECK32(get_mxcsr() & 0x3f, 0x01);
	/* Compares: predicates eq, lt, le, unord, neq, nlt, nle, ord. */
	u32x4 ca = { 0x3f800000, 0x40000000, 0x7fc00000, 0xbf800000 };	/* 1, 2, NaN, -1 */
	u32x4 cb = { 0x3f800000, 0x3f800000, 0x3f800000, 0x00000000 };	/* 1, 1, 1, 0 */
	CHECKV(SSE_OPI("cmpps", 0, ca, cb), ~0u, 0, 0, 0);
	CHECKV(SSE_OPI("cmpps", 1, ca, cb), 0, 0, 0, ~0u);
	CHECKV(SSE_OPI("cmpps", 2, ca, cb), ~0u, 0, 0, ~0u);
	CHECKV(SSE_OPI("cmpps", 3, ca, cb), 0, 0, ~0u, 0);
	CHECKV(SSE_OPI("cmpps", 4, ca, cb), 0, ~0u, ~0u, ~0u);
	CHECKV(SSE_OPI("cmpps", 5, ca, cb), ~0u, ~0u, ~0u, 0);
	CHECKV(SSE_OPI("cmpps", 6, ca, cb), 0, ~0u, ~0u, 0);
	CHECKV(SSE_OPI("cmpps", 7, ca, cb), ~0u, ~0u, 0, ~0u);
	/* comiss/ucomiss */
	set_mxcsr(0x1f80);
	CHECK32(sse_comi(0, 0x3f800000, 0x40000000), F_CF);
	CHECK32(sse_comi(0, 0x40000000, 0x3f800000), 0);
	CHECK32(sse_comi(1, 0x80000000, 0x00000000), F_ZF);
	CHECK32(get_mxcsr() & 0x3f, 0);
	CHECK32(sse_comi(1, 0x7fc00000, 0x3f800000), F_ZF | F_PF | F_CF);
	CHECK32(get_mxcsr() & 0x3f, 0);			/* ucomiss: QNaN is quiet */
	CHECK32(sse_comi(0, 0x7fc00000, 0x3f800000), F_ZF | F_PF | F_CF);
	CHECK32(get_mxcsr() & 0x3f, 0x01);		/* comiss: invalid */
	set_mxcsr(0x1f80);
	section_end();
}

static void test_sse_convert(void)
{
	uint32_t r;
	section("sse convert/mxcsr");
	set_mxcsr(0x1f80);
	u32x4 v = { 0x55555555, 0x66666666, 0x77777777, 0x88888888 };
	__asm__ volatile("cvtsi2ss %1, %0" : "+x"(v) : "r"(16777217));
	CHECKV(v, 0x4b800000, 0x66666666, 0x77777777, 0x88888888);
	u64x2 w = { 1, 2 };
	__asm__ volatile("cvtsi2sd %1, %0" : "+x"(w) : "r"(0x80000000));
	CHECKV(w, 0, 0xc1e00000, 2, 0);
	__asm__ volatile("cvtss2si %1, %0" : "=r"(r) : "x"((u32x4){ 0x40200000 }));	/* 2.5 */
	CHECK32(r, 2);
	__asm__ volatile("cvtss2si %1, %0" : "=r"(r) : "x"((u32x4){ 0xc0600000 }));	/* -3.5 */
	CHECK32(r, (uint32_t)-4);
	__asm__ volatile("cvttss2si %1, %0" : "=r"(r) : "x"((u32x4){ 0xc06ccccd }));	/* -3.7 */
	CHECK32(r, (uint32_t)-3);
	set_mxcsr(0x1f80);	/* drop PE from the inexact conversions above */
	__asm__ volatile("cvtss2si %1, %0" : "=r"(r) : "x"((u32x4){ 0x4f32d05e }));	/* 3e9 */
	CHECK32(r, 0x80000000);
	CHECK32(get_mxcsr() & 0x3f, 0x01);
	__asm__ volatile("cvttsd2si %1, %0" : "=r"(r) : "x"((u64x2){ 0xc01e000000000000 }));	/* -7.5 */
	CHECK32(r, (uint32_t)-7);
	__asm__ volatile("cvtsd2si %1, %0" : "=r"(r) : "x"((u64x2){ 0x401e000000000000 }));	/* 7.5 */
	CHECK32(r, 8);
	/* MXCSR.RC over 2.5 and -2.5: nearest, down, up, toward zero. */
	static const int32_t want[2][4] = { { 2, 2, 3, 2 }, { -2, -3, -2, -2 } };
	for (int rc = 0; rc < 4; rc++) {
		set_mxcsr(0x1f80 | (uint32_t)rc << 13);
		CHECK32(get_mxcsr(), 0x1f80 | (uint32_t)rc << 13);
		__asm__ volatile("cvtss2si %1, %0" : "=r"(r) : "x"((u32x4){ 0x40200000 }));
		CHECK32(r, (uint32_t)want[0][rc]);
		__asm__ volatile("cvtsd2si %1, %0" : "=r"(r) : "x"((u64x2){ 0xc004000000000000 }));
		CHECK32(r, (uint32_t)want[1][rc]);
	}
	set_mxcsr(0x1f80);
	u32x4 p;
	__asm__ volatile("cvtpd2ps %1, %0" : "=x"(p) : "x"((u64x2){ 0x3fb999999999999a, 0x4000000000000000 }));
	CHECKV(p, 0x3dcccccd, 0x40000000, 0, 0);
	u64x2 q;
	__asm__ volatile("cvtps2pd %1, %0" : "=x"(q) : "x"((u32x4){ 0x3dcccccd, 0xc0000000, 9, 9 }));
	CHECKV(q, 0xa0000000, 0x3fb99999, 0, 0xc0000000);
	__asm__ volatile("cvtdq2ps %1, %0" : "=x"(p) : "x"((u32x4){ 1, (uint32_t)-2, 16777217, 0 }));
	CHECKV(p, 0x3f800000, 0xc0000000, 0x4b800000, 0);
	__asm__ volatile("cvttps2dq %1, %0" : "=x"(p)
		: "x"((u32x4){ 0x3ff33333, 0xbff33333, 0x4f000000, 0x7fc00000 }));
	CHECKV(p, 1, (uint32_t)-1, 0x80000000, 0x80000000);
	set_mxcsr(0x1f80);
	section_end();
}

/* ---- SSE2 integer, against lane-by-lane C models ---- */

static const u8x16 ia = { 0x00, 0x7f, 0x80, 0xff, 0x01, 0xfe, 0x55, 0xaa,
			  0x10, 0x20, 0x30, 0x40, 0xc0, 0xd0, 0xe0, 0xf0 };
static const u8x16 ib = { 0x01, 0x01, 0xff, 0xff, 0x80, 0x02, 0xaa, 0x55,
			  0x0f, 0x90, 0x7f, 0x40, 0x3f, 0x31, 0x20, 0x11 };

static int32_t s16(u8x16 v, int i) { return (int16_t)(v[2 * i] | v[2 * i + 1] << 8); }
static uint32_t u16(u8x16 v, int i) { return (uint32_t)(v[2 * i] | v[2 * i + 1] << 8); }
static uint32_t u32l(u8x16 v, int i) { return u16(v, 2 * i) | u16(v, 2 * i + 1) << 16; }
static int32_t sat(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : x > hi ? hi : x; }

static void check_bytes(int line, const char *what, u8x16 got, const uint8_t *want)
{
	for (int i = 0; i < 16; i++) {
		mix(got[i]);
		if (got[i] != want[i]) {
			rt_printf("FAIL fpu.c:%d %s byte %d: got %02x want %02x\n", line, what, i,
				  got[i], want[i]);
			rt_failures++;
		}
	}
}
#define CHECKB(got, want) check_bytes(__LINE__, #got, (u8x16)(got), want)

static void put16(uint8_t *w, int i, uint32_t v) { w[2 * i] = (uint8_t)v; w[2 * i + 1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *w, int i, uint32_t v) { put16(w, 2 * i, v); put16(w, 2 * i + 1, v >> 16); }

static void test_sse_int(void)
{
	uint8_t w[16];
	section("sse2 integer");
	for (int i = 0; i < 16; i++) w[i] = (uint8_t)(ia[i] + ib[i]);
	CHECKB(SSE_OP("paddb", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = (uint8_t)sat(ia[i] + ib[i], 0, 255);
	CHECKB(SSE_OP("paddusb", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = (uint8_t)sat(ia[i] - ib[i], 0, 255);
	CHECKB(SSE_OP("psubusb", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = (uint8_t)sat((int8_t)ia[i] - (int8_t)ib[i], -128, 127);
	CHECKB(SSE_OP("psubsb", ia, ib), w);
	for (int i = 0; i < 8; i++) put16(w, i, (uint32_t)sat(s16(ia, i) + s16(ib, i), -32768, 32767));
	CHECKB(SSE_OP("paddsw", ia, ib), w);
	for (int i = 0; i < 8; i++) put16(w, i, u16(ia, i) * u16(ib, i));
	CHECKB(SSE_OP("pmullw", ia, ib), w);
	for (int i = 0; i < 8; i++) put16(w, i, (uint32_t)(s16(ia, i) * s16(ib, i)) >> 16);
	CHECKB(SSE_OP("pmulhw", ia, ib), w);
	for (int i = 0; i < 8; i++) put16(w, i, (u16(ia, i) * u16(ib, i)) >> 16);
	CHECKB(SSE_OP("pmulhuw", ia, ib), w);
	for (int i = 0; i < 4; i++)
		put32(w, i, (uint32_t)(s16(ia, 2 * i) * s16(ib, 2 * i) + s16(ia, 2 * i + 1) * s16(ib, 2 * i + 1)));
	CHECKB(SSE_OP("pmaddwd", ia, ib), w);
	for (int i = 0; i < 2; i++) {
		uint64_t p = (uint64_t)u32l(ia, 2 * i) * u32l(ib, 2 * i);
		put32(w, 2 * i, (uint32_t)p);
		put32(w, 2 * i + 1, (uint32_t)(p >> 32));
	}
	CHECKB(SSE_OP("pmuludq", ia, ib), w);
	rt_memset(w, 0, 16);
	for (int h = 0; h < 2; h++) {
		uint32_t sum = 0;
		for (int i = 8 * h; i < 8 * h + 8; i++)
			sum += (uint32_t)(ia[i] > ib[i] ? ia[i] - ib[i] : ib[i] - ia[i]);
		put16(w, 4 * h, sum);
	}
	CHECKB(SSE_OP("psadbw", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = (uint8_t)((ia[i] + ib[i] + 1) >> 1);
	CHECKB(SSE_OP("pavgb", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = ia[i] < ib[i] ? ia[i] : ib[i];
	CHECKB(SSE_OP("pminub", ia, ib), w);
	for (int i = 0; i < 8; i++) put16(w, i, (uint32_t)(s16(ia, i) > s16(ib, i) ? s16(ia, i) : s16(ib, i)));
	CHECKB(SSE_OP("pmaxsw", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = ia[i] == ib[i] ? 0xff : 0;
	CHECKB(SSE_OP("pcmpeqb", ia, ib), w);
	for (int i = 0; i < 4; i++) put32(w, i, (int32_t)u32l(ia, i) > (int32_t)u32l(ib, i) ? ~0u : 0);
	CHECKB(SSE_OP("pcmpgtd", ia, ib), w);
	for (int i = 0; i < 8; i++) {
		w[i] = (uint8_t)sat(s16(ia, i), -128, 127);
		w[8 + i] = (uint8_t)sat(s16(ib, i), -128, 127);
	}
	CHECKB(SSE_OP("packsswb", ia, ib), w);
	for (int i = 0; i < 8; i++) {
		w[i] = (uint8_t)sat(s16(ia, i), 0, 255);
		w[8 + i] = (uint8_t)sat(s16(ib, i), 0, 255);
	}
	CHECKB(SSE_OP("packuswb", ia, ib), w);
	for (int i = 0; i < 4; i++) {
		put16(w, i, (uint32_t)sat((int32_t)u32l(ia, i), -32768, 32767));
		put16(w, 4 + i, (uint32_t)sat((int32_t)u32l(ib, i), -32768, 32767));
	}
	CHECKB(SSE_OP("packssdw", ia, ib), w);
	for (int i = 0; i < 8; i++) { w[2 * i] = ia[i]; w[2 * i + 1] = ib[i]; }
	CHECKB(SSE_OP("punpcklbw", ia, ib), w);
	for (int i = 0; i < 2; i++) { put32(w, 2 * i, u32l(ia, 2 + i)); put32(w, 2 * i + 1, u32l(ib, 2 + i)); }
	CHECKB(SSE_OP("punpckhdq", ia, ib), w);
	for (int i = 0; i < 8; i++) { w[i] = ia[i]; w[8 + i] = ib[i]; }
	CHECKB(SSE_OP("punpcklqdq", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = (uint8_t)(~ia[i] & ib[i]);
	CHECKB(SSE_OP("pandn", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = ia[i] ^ ib[i];
	CHECKB(SSE_OP("pxor", ia, ib), w);
	for (int i = 0; i < 16; i++) w[i] = ia[i] | ib[i];
	CHECKB(SSE_OP("por", ia, ib), w);
	/* Immediate shuffles and shifts (the second operand is unused). */
	for (int i = 0; i < 4; i++) put32(w, i, u32l(ib, 3 - i));
	CHECKB(SSE_OPI("pshufd", 0x1b, ia, ib), w);
	for (int i = 0; i < 4; i++) put16(w, i, u16(ib, i ^ 1));
	for (int i = 4; i < 8; i++) put16(w, i, u16(ib, i));
	CHECKB(SSE_OPI("pshuflw", 0xb1, ia, ib), w);
	for (int i = 0; i < 4; i++) put16(w, i, u16(ib, i));
	for (int i = 4; i < 8; i++) put16(w, i, u16(ib, 4 + ((i - 4) ^ 2)));
	CHECKB(SSE_OPI("pshufhw", 0x4e, ia, ib), w);
	u8x16 t;
	for (int i = 0; i < 8; i++) put16(w, i, u16(ia, i) << 3);
	t = ia; __asm__ volatile("psllw $3, %0" : "+x"(t)); CHECKB(t, w);
	for (int i = 0; i < 4; i++) put32(w, i, u32l(ia, i) >> 5);
	t = ia; __asm__ volatile("psrld $5, %0" : "+x"(t)); CHECKB(t, w);
	for (int i = 0; i < 8; i++) put16(w, i, (uint32_t)(s16(ia, i) >> 4));
	t = ia; __asm__ volatile("psraw $4, %0" : "+x"(t)); CHECKB(t, w);
	rt_memset(w, 0, 16);
	t = ia; __asm__ volatile("psllq $64, %0" : "+x"(t)); CHECKB(t, w);	/* counts past 63 clear */
	for (int i = 0; i < 16; i++) w[i] = i < 3 ? 0 : ia[i - 3];
	t = ia; __asm__ volatile("pslldq $3, %0" : "+x"(t)); CHECKB(t, w);
	for (int i = 0; i < 16; i++) w[i] = i + 5 < 16 ? ia[i + 5] : 0;
	t = ia; __asm__ volatile("psrldq $5, %0" : "+x"(t)); CHECKB(t, w);
	for (int i = 0; i < 2; i++) {
		uint64_t q = (uint64_t)u32l(ia, 2 * i) | (uint64_t)u32l(ia, 2 * i + 1) << 32;
		q >>= 12;
		put32(w, 2 * i, (uint32_t)q);
		put32(w, 2 * i + 1, (uint32_t)(q >> 32));
	}
	t = ia; __asm__ volatile("psrlq %1, %0" : "+x"(t) : "x"((u64x2){ 12, 0xffff })); CHECKB(t, w);
	/* shufps: two lanes from each operand. */
	for (int i = 0; i < 2; i++) put32(w, i, u32l(ia, (0x4e >> (2 * i)) & 3));
	for (int i = 2; i < 4; i++) put32(w, i, u32l(ib, (0x4e >> (2 * i)) & 3));
	CHECKB(SSE_OPI("shufps", 0x4e, ia, ib), w);
	put32(w, 0, u32l(ia, 0)); put32(w, 1, u32l(ib, 0)); put32(w, 2, u32l(ia, 1)); put32(w, 3, u32l(ib, 1));
	CHECKB(SSE_OP("unpcklps", ia, ib), w);
	/* Moves to general registers and masks. */
	uint32_t r, want = 0;
	__asm__ volatile("pmovmskb %1, %0" : "=r"(r) : "x"(ia));
	for (int i = 0; i < 16; i++) want |= (uint32_t)(ia[i] >> 7) << i;
	CHECK32(r, want);
	__asm__ volatile("movmskps %1, %0" : "=r"(r) : "x"(ib));
	want = 0;
	for (int i = 0; i < 4; i++) want |= (u32l(ib, i) >> 31) << i;
	CHECK32(r, want);
	__asm__ volatile("pextrw $3, %1, %0" : "=r"(r) : "x"(ia));
	CHECK32(r, u16(ia, 3));
	t = ia; __asm__ volatile("pinsrw $5, %1, %0" : "+x"(t) : "r"(0xabcd1234));
	for (int i = 0; i < 16; i++) w[i] = ia[i];
	put16(w, 5, 0x1234);
	CHECKB(t, w);
	__asm__ volatile("movd %1, %0" : "=r"(r) : "x"(ib));
	CHECK32(r, u32l(ib, 0));
	t = ia; __asm__ volatile("movd %1, %0" : "=x"(t) : "r"(0xfeedf00d));
	CHECKV(t, 0xfeedf00d, 0, 0, 0);
	uint64_t m64 = 0x0123456789abcdefull;
	t = ia; __asm__ volatile("movq %1, %0" : "=x"(t) : "m"(m64));
	CHECKV(t, 0x89abcdef, 0x01234567, 0, 0);
	/* movss: register form merges, memory form zeroes the rest. */
	uint32_t m32 = 0x40490fdb;
	t = ia; __asm__ volatile("movss %1, %0" : "+x"(t) : "m"(m32));
	CHECKV(t, 0x40490fdb, 0, 0, 0);
	t = ia; __asm__ volatile("movss %1, %0" : "+x"(t) : "x"((u32x4){ 0x40490fdb, 1, 2, 3 }));
	CHECKV(t, 0x40490fdb, u32l(ia, 1), u32l(ia, 2), u32l(ia, 3));
	section_end();
}

/* ---- compiled code: gcc's SSE doubles and x87 long doubles ---- */

static volatile int vol_n100 = 100, vol_n50 = 50, vol_n30 = 30, vol_n6 = 6;
static volatile double vol_two = 2.0;

static void test_compiled(void)
{
	section("compiled float code");
	double x = 1.0;
	for (int i = 0; i < vol_n6; i++)
		x = 0.5 * (x + vol_two / x);
	CHECK64(bits64(x), 0x3ff6a09e667f3bcc);
	double h = 0.0;
	for (int k = 1; k <= vol_n100; k++)
		h += 1.0 / k;
	CHECK64(bits64(h), 0x4014bfdfe4591243);
	double dot = 0.0;
	for (int i = 1; i <= vol_n50; i++)
		dot += (i * 0.5) * (1.0 / (i + 1));
	CHECK64(bits64(dot), 0x40373d9787986ef4);
	/* long double is x87: 64-bit significands until the final rounding. */
	long double lh = 0.0L;
	for (int k = 1; k <= vol_n30; k++)
		lh += 1.0L / k;
	CHECK64(bits64((double)lh), 0x400ff5bbd019f39c);
	float f = 0.0f;
	for (int k = 0; k < vol_n30; k++)
		f = f * 1.5f + 0.25f;
	mix(bits32(f));
	/* NaN never equals itself; conversions truncate toward zero. */
	volatile double nan = dbl(0x7ff8000000000000);
	RT_CHECK(nan != nan);
	RT_CHECK(!(nan < 1.0) && !(nan >= 1.0));
	volatile double neg = -7.9;
	RT_CHECK_EQ((uint32_t)(int32_t)neg, (uint32_t)-7);
	volatile int64_t big = 0x123456789abcdLL;
	CHECK64(bits64((double)big), 0x42f23456789abcd0);
	section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_info;
	rt_puts("fpu: x87, SSE, SSE2\n");
	RT_CHECK_EQ(mb_magic, 0x2badb002);
	enable_sse();
	test_x87_arith();
	test_x87_compare();
	test_x87_int();
	test_x87_env();
	test_fxsave();
	test_sse_float();
	test_sse_convert();
	test_sse_int();
	test_compiled();
}
