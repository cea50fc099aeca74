/* TC-flush guest: 2000 distinct small functions called in varying orders, to fill and overflow a translation cache. */
#include "rt.h"

/*
 * Function n (1000 <= n < 3000) computes BODY(n, x) with n a constant, so
 * each compiles to its own code with its own immediates and a branch: about
 * 6000 distinct basic blocks in all. generic(n, x) computes the same thing
 * with n a variable, in one function: every call is checked against it, and
 * each phase's checksum against a constant worked out separately (a Python
 * model of BODY).
 */
#define KA(n) ((uint32_t)(n) * 0x9e3779b1u + 0x7f4a7c15u)
#define KB(n) ((uint32_t)(n) * 0x85ebca77u ^ 0xc2b2ae3du)
#define KR(n) ((uint32_t)(n) % 31 + 1)
#define KS(n) ((uint32_t)(n) * 7 % 29 + 1)
#define KBIT(n) ((uint32_t)(n) & 31)
#define BODY(n, x)								\
	{									\
		x = (x & (1u << KBIT(n))) ? x + KA(n) : x ^ KB(n);		\
		x = (x << KR(n)) | (x >> (32 - KR(n)));				\
		return x * (KA(n) | 1) + (x >> KS(n));				\
	}

#define FN(n) static __attribute__((noinline)) uint32_t f_##n(uint32_t x) BODY(n, x)
#define FN10(p) FN(p##0) FN(p##1) FN(p##2) FN(p##3) FN(p##4) \
		FN(p##5) FN(p##6) FN(p##7) FN(p##8) FN(p##9)
#define FN100(p) FN10(p##0) FN10(p##1) FN10(p##2) FN10(p##3) FN10(p##4) \
		 FN10(p##5) FN10(p##6) FN10(p##7) FN10(p##8) FN10(p##9)
#define FN1000(p) FN100(p##0) FN100(p##1) FN100(p##2) FN100(p##3) FN100(p##4) \
		  FN100(p##5) FN100(p##6) FN100(p##7) FN100(p##8) FN100(p##9)
FN1000(1)
FN1000(2)

#define PTR(n) f_##n,
#define PTR10(p) PTR(p##0) PTR(p##1) PTR(p##2) PTR(p##3) PTR(p##4) \
		 PTR(p##5) PTR(p##6) PTR(p##7) PTR(p##8) PTR(p##9)
#define PTR100(p) PTR10(p##0) PTR10(p##1) PTR10(p##2) PTR10(p##3) PTR10(p##4) \
		  PTR10(p##5) PTR10(p##6) PTR10(p##7) PTR10(p##8) PTR10(p##9)
#define PTR1000(p) PTR100(p##0) PTR100(p##1) PTR100(p##2) PTR100(p##3) PTR100(p##4) \
		   PTR100(p##5) PTR100(p##6) PTR100(p##7) PTR100(p##8) PTR100(p##9)

#define NFUNCS 2000
#define FIRST 1000
static uint32_t (*const funcs[NFUNCS])(uint32_t) = { PTR1000(1) PTR1000(2) };

static __attribute__((noinline)) uint32_t generic(uint32_t n, uint32_t x) BODY(n, x)

static int mismatches;

/* Calls function i (0-based), checked against generic. */
static uint32_t call(uint32_t i, uint32_t x)
{
	uint32_t got = funcs[i](x), want = generic(FIRST + i, x);
	if (got != want && mismatches++ < 10)
		rt_printf("FAIL f_%u(%08x) = %08x, want %08x\n", FIRST + i, x, got, want);
	return got;
}

/* Each phase chains x through a different order of the functions. */
static uint32_t phase(int which, uint32_t x)
{
	uint32_t lcg = 12345;
	switch (which) {
	case 0:		/* in order */
		for (uint32_t i = 0; i < NFUNCS; i++)
			x = call(i, x);
		break;
	case 1:		/* backwards */
		for (uint32_t i = NFUNCS; i--;)
			x = call(i, x);
		break;
	case 2:		/* stride 769, coprime with 2000: a permutation */
		for (uint32_t k = 0; k < NFUNCS; k++)
			x = call(k * 769 % NFUNCS, x);
		break;
	default:	/* pseudo-random, with repeats */
		for (uint32_t k = 0; k < 4 * NFUNCS; k++) {
			lcg = lcg * 1103515245u + 12345u;
			x = call((lcg >> 8) % NFUNCS, x);
		}
		break;
	}
	return x;
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	static const char *const names[4] = { "in order", "backwards", "stride 769", "random" };
	/* Checksums per round and phase, from the Python model. */
	static const uint32_t want[3][4] = {
		{ 0x1b0c83ce, 0x353c93aa, 0xf6b78aec, 0x154fd075 },
		{ 0xe1850e01, 0x81e6ca1e, 0x0d5273df, 0xf0b12e12 },
		{ 0x18fa8570, 0x8a23e5b1, 0x08c8c01a, 0x671e14e0 },
	};
	(void)mb_info;
	rt_puts("tcflush: 2000 functions, 4 orders, 3 rounds\n");
	RT_CHECK_EQ(mb_magic, 0x2badb002);
	uint32_t x = 1;
	for (int round = 0; round < 3; round++)
		for (int p = 0; p < 4; p++) {
			rt_section(names[p]);
			x = phase(p, x);
			rt_printf("  round %d: %08x\n", round, x);
			RT_CHECK_EQ(x, want[round][p]);
			rt_section_end();
		}
	RT_CHECK_EQ(mismatches, 0);
}
