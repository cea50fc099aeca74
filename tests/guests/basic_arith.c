/* Basic guest: multiply, divide, bit instructions and the 16 conditions (setcc, cmovcc). */
#include "basic.h"

/* ---- multiply and divide ---- */

/* Shift-and-add, so the expected products owe nothing to mul/imul. */
static uint64_t model_mul64(uint64_t x, uint64_t y)
{
	uint64_t r = 0;
	for (; y; y >>= 1, x <<= 1)
		if (y & 1)
			r += x;
	return r;
}

/* Restoring long division, so the expected quotients owe nothing to div. */
static uint64_t model_udiv64(uint64_t n, uint64_t d, uint64_t *rem)
{
	uint64_t q = 0, r = 0;
	for (int i = 63; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		q <<= 1;
		if (r >= d) {
			r -= d;
			q |= 1;
		}
	}
	*rem = r;
	return q;
}

/* Truncating signed division: the quotient rounds toward zero and the
   remainder takes the dividend's sign. */
static int64_t model_sdiv64(int64_t n, int64_t d, int64_t *rem)
{
	uint64_t un = n < 0 ? -(uint64_t)n : (uint64_t)n;
	uint64_t ud = d < 0 ? -(uint64_t)d : (uint64_t)d, ur;
	uint64_t uq = model_udiv64(un, ud, &ur);
	*rem = n < 0 ? -(int64_t)ur : (int64_t)ur;
	return (n < 0) != (d < 0) ? -(int64_t)uq : (int64_t)uq;
}

static int64_t sext(uint64_t v, int bits)
{
	uint64_t sign = 1ull << (bits - 1);
	v &= (sign << 1) - 1;
	return (int64_t)((v ^ sign) - sign);
}

/* mul/imul one-operand forms: returns the low half, *hi the high half. */
static uint32_t hw_mul8(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\tmulb %b[b]\n\tpushfl\n\tpopl %[f]"
		: "+a"(a), [f] "+r"(*f) : [b] "q"(b) : "cc");
	*hi = (a >> 8) & 0xff;
	return a;	/* ax = product, upper half of eax untouched */
}
static uint32_t hw_imul8(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\timulb %b[b]\n\tpushfl\n\tpopl %[f]"
		: "+a"(a), [f] "+r"(*f) : [b] "q"(b) : "cc");
	*hi = (a >> 8) & 0xff;
	return a;
}
static uint32_t hw_mul16(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	uint32_t d = 0xdead0000;
	__asm__("pushl %[f]\n\tpopfl\n\tmulw %w[b]\n\tpushfl\n\tpopl %[f]"
		: "+a"(a), "+d"(d), [f] "+r"(*f) : [b] "r"(b) : "cc");
	*hi = d;
	return a;
}
static uint32_t hw_imul16(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	uint32_t d = 0xdead0000;
	__asm__("pushl %[f]\n\tpopfl\n\timulw %w[b]\n\tpushfl\n\tpopl %[f]"
		: "+a"(a), "+d"(d), [f] "+r"(*f) : [b] "r"(b) : "cc");
	*hi = d;
	return a;
}
static uint32_t hw_mul32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\tmull %[b]\n\tpushfl\n\tpopl %[f]"
		: "+a"(a), "=d"(*hi), [f] "+r"(*f) : [b] "r"(b) : "cc");
	return a;
}
static uint32_t hw_imul32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	__asm__("pushl %[f]\n\tpopfl\n\timull %[b]\n\tpushfl\n\tpopl %[f]"
		: "+a"(a), "=d"(*hi), [f] "+r"(*f) : [b] "r"(b) : "cc");
	return a;
}
static uint32_t mul_cell;
static uint32_t hw_mul32m(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	mul_cell = b;
	__asm__("pushl %[f]\n\tpopfl\n\tmull %[m]\n\tpushfl\n\tpopl %[f]"
		: "+a"(a), "=d"(*hi), [f] "+r"(*f) : [m] "m"(mul_cell) : "cc");
	return a;
}
/* Two- and three-operand imul: only the truncated product. */
static uint32_t hw_imul2_32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	*hi = 0;
	__asm__("pushl %[f]\n\tpopfl\n\timul %[b], %[a]\n\tpushfl\n\tpopl %[f]"
		: [a] "+r"(a), [f] "+r"(*f) : [b] "r"(b) : "cc");
	return a;
}
static uint32_t hw_imul2_16(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	*hi = 0;
	__asm__("pushl %[f]\n\tpopfl\n\timul %w[b], %w[a]\n\tpushfl\n\tpopl %[f]"
		: [a] "+r"(a), [f] "+r"(*f) : [b] "r"(b) : "cc");
	return a;
}
static uint32_t hw_imul3_i8(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	uint32_t r = 0x55555555;
	(void)b;
	*hi = 0;
	__asm__("pushl %[f]\n\tpopfl\n\timul $-7, %[a], %[r]\n\tpushfl\n\tpopl %[f]"
		: [r] "+r"(r), [f] "+r"(*f) : [a] "r"(a) : "cc");
	return r;
}
static uint32_t hw_imul3_i32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	uint32_t r = 0x55555555;
	(void)b;
	*hi = 0;
	mul_cell = a;
	__asm__("pushl %[f]\n\tpopfl\n\timul $0x12345, %[m], %[r]\n\tpushfl\n\tpopl %[f]"
		: [r] "+r"(r), [f] "+r"(*f) : [m] "m"(mul_cell) : "cc");
	return r;
}
static uint32_t hw_imul3_i16(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *f)
{
	uint32_t r = 0x55555555;
	(void)b;
	*hi = 0;
	__asm__("pushl %[f]\n\tpopfl\n\timulw $300, %w[a], %w[r]\n\tpushfl\n\tpopl %[f]"
		: [r] "+r"(r), [f] "+r"(*f) : [a] "r"(a) : "cc");
	return r;
}

enum mulkind { MUL1, IMUL1, IMUL2, IMUL3 };

static const struct {
	const char *name;
	enum mulkind kind;
	int bits;
	int32_t imm;	/* IMUL3: the immediate (b is unused) */
	uint32_t (*hw)(uint32_t, uint32_t, uint32_t *, uint32_t *);
} mulops[] = {
	{ "mul8", MUL1, 8, 0, hw_mul8 },       { "imul8", IMUL1, 8, 0, hw_imul8 },
	{ "mul16", MUL1, 16, 0, hw_mul16 },    { "imul16", IMUL1, 16, 0, hw_imul16 },
	{ "mul32", MUL1, 32, 0, hw_mul32 },    { "imul32", IMUL1, 32, 0, hw_imul32 },
	{ "mul32m", MUL1, 32, 0, hw_mul32m },  { "imul2_32", IMUL2, 32, 0, hw_imul2_32 },
	{ "imul2_16", IMUL2, 16, 0, hw_imul2_16 }, { "imul3$-7", IMUL3, 32, -7, hw_imul3_i8 },
	{ "imul3$12345", IMUL3, 32, 0x12345, hw_imul3_i32 },
	{ "imul3w$300", IMUL3, 16, 300, hw_imul3_i16 },
};

static void test_mul_case(unsigned o, uint32_t a, uint32_t b, uint32_t fin)
{
	int bits = mulops[o].bits;
	uint64_t m = bits == 32 ? 0xffffffffull : (1ull << bits) - 1;
	enum mulkind kind = mulops[o].kind;
	uint32_t hi, f = fin;
	if (kind == IMUL3)
		b = (uint32_t)mulops[o].imm;
	uint32_t got = mulops[o].hw(a, b, &hi, &f);

	uint64_t prod;
	int overflow;
	if (kind == MUL1) {
		prod = model_mul64(a & m, b & m);
		overflow = (prod >> bits) != 0;
	} else {
		prod = model_mul64((uint64_t)sext(a, bits), (uint64_t)sext(b, bits));
		overflow = sext(prod, bits) != sext(prod, 2 * bits);
	}
	uint32_t want_lo, want_hi = 0;
	switch (kind == IMUL2 || kind == IMUL3 ? 0 : bits) {
	case 8:		/* ax = product */
		want_lo = (a & 0xffff0000) | (uint32_t)(prod & 0xffff);
		want_hi = (uint32_t)(prod >> 8) & 0xff;
		break;
	case 16:	/* dx:ax, upper halves untouched */
		want_lo = (a & 0xffff0000) | (uint32_t)(prod & 0xffff);
		want_hi = 0xdead0000 | (uint32_t)((prod >> 16) & 0xffff);
		break;
	case 32:
		want_lo = (uint32_t)prod;
		want_hi = (uint32_t)(prod >> 32);
		break;
	default:	/* truncated forms write only the destination's width */
		want_lo = (bits == 16 ? (kind == IMUL3 ? 0x55550000 : a & 0xffff0000) : 0) |
			  (uint32_t)(prod & m);
		break;
	}
	basic_expect(mulops[o].name, a, b, got, want_lo);
	basic_expect(mulops[o].name, a, b, hi, want_hi);
	/* CF = OF = "the high half matters"; SF, ZF, AF, PF are undefined. */
	basic_expect(mulops[o].name, a, b, f & (F_CF | F_OF), overflow ? F_CF | F_OF : 0);
}

/* Division by one of the widths: dividend hi:lo (ax for 8-bit). */
static uint32_t hw_div(int sign, int bits, uint32_t lo, uint32_t hi, uint32_t d, uint32_t *rem)
{
	switch (bits * 2 + sign) {
	case 16:
		__asm__("divb %b[d]" : "+a"(lo) : [d] "q"(d) : "cc");
		*rem = (lo >> 8) & 0xff;
		return lo & 0xffff00ff;
	case 17:
		__asm__("idivb %b[d]" : "+a"(lo) : [d] "q"(d) : "cc");
		*rem = (lo >> 8) & 0xff;
		return lo & 0xffff00ff;
	case 32:
		__asm__("divw %w[d]" : "+a"(lo), "+d"(hi) : [d] "r"(d) : "cc");
		break;
	case 33:
		__asm__("idivw %w[d]" : "+a"(lo), "+d"(hi) : [d] "r"(d) : "cc");
		break;
	case 64:
		__asm__("divl %[d]" : "+a"(lo), "+d"(hi) : [d] "r"(d) : "cc");
		break;
	default:
		__asm__("idivl %[d]" : "+a"(lo), "+d"(hi) : [d] "r"(d) : "cc");
		break;
	}
	*rem = hi;
	return lo;
}

static uint32_t div_cell_lo, div_cell_hi, div_cell_d;
/* div with a memory divisor, through absolute addresses. */
static uint32_t hw_divm(uint32_t *rem)
{
	uint32_t q;
	__asm__("movl %[lo], %%eax\n\tmovl %[hi], %%edx\n\tdivl %[d]"
		: "=a"(q), "=d"(*rem)
		: [lo] "m"(div_cell_lo), [hi] "m"(div_cell_hi), [d] "m"(div_cell_d) : "cc");
	return q;
}

/* One division: the dividend n must give a quotient that fits. */
static void test_div_case(int sign, int bits, int64_t n, uint32_t d)
{
	uint64_t m = (1ull << bits) - 1;
	uint32_t lo, hi, rem, got, want_q, want_r;
	const char *name = sign ? "idiv" : "div";
	if (bits == 8) {
		lo = 0x12340000 | (uint32_t)(n & 0xffff);
		hi = 0;
	} else if (bits == 16) {
		lo = 0xabcd0000 | (uint32_t)(n & 0xffff);
		hi = 0x98760000 | (uint32_t)((n >> 16) & 0xffff);
	} else {
		lo = (uint32_t)n;
		hi = (uint32_t)((uint64_t)n >> 32);
	}
	got = hw_div(sign, bits, lo, hi, d | 0xff000000u * (bits == 8), &rem);
	if (sign) {
		int64_t r;
		want_q = (uint32_t)model_sdiv64(n, sext(d, bits), &r);
		want_r = (uint32_t)r;
	} else {
		uint64_t r;
		want_q = (uint32_t)model_udiv64((uint64_t)n & (m << bits | m), d & m, &r);
		want_r = (uint32_t)r;
	}
	want_q &= (uint32_t)m;
	want_r &= (uint32_t)m;
	if (bits == 8) {
		want_q |= lo & 0xffff0000;
	} else if (bits == 16) {
		want_q |= 0xabcd0000;
		want_r |= 0x98760000;
	}
	basic_expect(name, (uint32_t)n, d, got, want_q);
	basic_expect(name, (uint32_t)n, d, rem, want_r);
}

static void muldiv_hand_checks(void)
{
	uint32_t hi, f = F_FIXED, rem;
	RT_CHECK_EQ(hw_mul32(0xffffffff, 0xffffffff, &hi, &f), 1);
	RT_CHECK_EQ(hi, 0xfffffffe);
	RT_CHECK_EQ(f & (F_CF | F_OF), F_CF | F_OF);
	f = F_FIXED;
	RT_CHECK_EQ(hw_imul32(0xffffffff, 0xffffffff, &hi, &f), 1);	/* -1 * -1 */
	RT_CHECK_EQ(hi, 0);
	RT_CHECK_EQ(f & (F_CF | F_OF), 0);
	f = F_FIXED;
	RT_CHECK_EQ(hw_imul8(0x1280, 0x02, &hi, &f), 0xff00);	/* -128 * 2 = -256 */
	RT_CHECK_EQ(f & (F_CF | F_OF), F_CF | F_OF);
	f = F_FIXED;
	RT_CHECK_EQ(hw_imul3_i8(1000, 0, &hi, &f), 0xffffe4a8);	/* -7000 */
	RT_CHECK_EQ(hw_div(0, 32, 0x00000005, 0x00000001, 0x10, &rem), 0x10000000);
	RT_CHECK_EQ(rem, 5);
	RT_CHECK_EQ(hw_div(1, 32, (uint32_t)-7, 0xffffffff, 2, &rem), (uint32_t)-3);
	RT_CHECK_EQ(rem, (uint32_t)-1);
	RT_CHECK_EQ(hw_div(1, 8, 0xff9c, 0, 7, &rem), 0xf2);	/* -100 / 7 */
	RT_CHECK_EQ(rem, 0xfe);					/* remainder -2 */
	div_cell_lo = 0x9abcdef0;
	div_cell_hi = 0x12345678;
	div_cell_d = 0x87654321;
	RT_CHECK_EQ(hw_divm(&rem), 0x226b9022);
	RT_CHECK_EQ(rem, 0x38bc648e);
}

void test_muldiv(void)
{
	uint32_t cases = 0;
	group_begin("muldiv");
	muldiv_hand_checks();
	for (unsigned o = 0; o < sizeof(mulops) / sizeof(mulops[0]); o++)
		for (unsigned i = 0; i < NVALS; i++)
			for (unsigned j = 0; j < NVALS; j++) {
				test_mul_case(o, vals[i], vals[j], (i + j) & 1 ? F_FIXED : F_FIXED | F_ARITH);
				cases++;
				if (mulops[o].kind == IMUL3)
					break;
			}
	static const int widths[3] = { 8, 16, 32 };
	for (int w = 0; w < 3; w++) {
		int bits = widths[w];
		uint64_t m = (1ull << bits) - 1;
		for (unsigned j = 0; j < NVALS; j++) {
			uint32_t d = vals[j] & (uint32_t)m;
			if (d == 0)
				continue;
			for (unsigned i = 0; i < NVALS; i++) {
				uint64_t r;
				/* Unsigned: any high part below the divisor fits. */
				model_udiv64(vals[i] ^ 0x5a5a5a5au, d, &r);
				test_div_case(0, bits, (int64_t)(r << bits | (vals[(i + 7) % NVALS] & m)), d);
				/* Signed: a sign-extended single-width dividend, ... */
				int64_t n = sext(vals[i], bits), sd = sext(d, bits);
				if (!(n == -(int64_t)(1ull << (bits - 1)) && sd == -1))
					test_div_case(1, bits, n, d);
				/* ... and a double-width one built as q * d + r. */
				int64_t q = sext(vals[(i + 3) % NVALS], bits) / 2;
				uint64_t ud = sd < 0 ? -(uint64_t)sd : (uint64_t)sd;
				int64_t prod = (int64_t)model_mul64((uint64_t)q, (uint64_t)sd);
				int64_t rr = (int64_t)(ud - 1);
				n = prod < 0 || (prod == 0 && (i & 1)) ? prod - rr : prod + rr;
				test_div_case(1, bits, n, d);
				cases += 3;
			}
		}
	}
	group_end(cases);
}

/* ---- bit test, bit scan ---- */

enum btop { BT, BTS, BTR, BTC };

static uint32_t bt_apply(enum btop op, uint32_t v, uint32_t bit)
{
	uint32_t mask = 1u << bit;
	return op == BTS ? v | mask : op == BTR ? v & ~mask : op == BTC ? v ^ mask : v;
}

#define HW_BT(name, insn)								\
static uint32_t hw_##name##_r32(uint32_t a, uint32_t n, uint32_t *cf)			\
{											\
	__asm__(insn " %[n], %[a]\n\tsetc %b[cf]\n\tmovzbl %b[cf], %[cf]" : [a] "+r"(a), [cf] "=q"(*cf)		\
		: [n] "r"(n) : "cc");							\
	return a;									\
}											\
static uint32_t hw_##name##_r16(uint32_t a, uint32_t n, uint32_t *cf)			\
{											\
	__asm__(insn " %w[n], %w[a]\n\tsetc %b[cf]\n\tmovzbl %b[cf], %[cf]" : [a] "+r"(a), [cf] "=q"(*cf)	\
		: [n] "r"(n) : "cc");							\
	return a;									\
}											\
static uint32_t hw_##name##_i(uint32_t a, uint32_t n, uint32_t *cf)			\
{											\
	(void)n;									\
	__asm__(insn "l $45, %[a]\n\tsetc %b[cf]\n\tmovzbl %b[cf], %[cf]" : [a] "+r"(a), [cf] "=q"(*cf) : : "cc");\
	return a;									\
}											\
/* Bit string in memory: the offset is signed and reaches other dwords. */		\
static void hw_##name##_mem(uint32_t *base, int32_t n, uint32_t *cf)			\
{											\
	__asm__(insn "l %[n], (%[p])\n\tsetc %b[cf]\n\tmovzbl %b[cf], %[cf]" : [cf] "=q"(*cf)			\
		: [n] "r"(n), [p] "r"(base) : "cc", "memory");				\
}											\
static void hw_##name##_memw(uint16_t *base, int32_t n, uint32_t *cf)			\
{											\
	__asm__(insn "w %w[n], (%[p])\n\tsetc %b[cf]\n\tmovzbl %b[cf], %[cf]" : [cf] "=q"(*cf)			\
		: [n] "r"(n), [p] "r"(base) : "cc", "memory");				\
}
HW_BT(bt, "bt")
HW_BT(bts, "bts")
HW_BT(btr, "btr")
HW_BT(btc, "btc")

static const struct {
	const char *name;
	enum btop op;
	uint32_t (*r32)(uint32_t, uint32_t, uint32_t *);
	uint32_t (*r16)(uint32_t, uint32_t, uint32_t *);
	uint32_t (*imm)(uint32_t, uint32_t, uint32_t *);
	void (*mem)(uint32_t *, int32_t, uint32_t *);
	void (*memw)(uint16_t *, int32_t, uint32_t *);
} btops[] = {
#define BT_ROW(n, op) { #n, op, hw_##n##_r32, hw_##n##_r16, hw_##n##_i, hw_##n##_mem, hw_##n##_memw }
	BT_ROW(bt, BT), BT_ROW(bts, BTS), BT_ROW(btr, BTR), BT_ROW(btc, BTC),
};

static uint32_t bit_area[16];

/* Bit scans, by testing one bit at a time. */
static int model_bsf(uint32_t v) { int i = 0; while (!(v >> i & 1)) i++; return i; }
static int model_bsr(uint32_t v) { int i = 31; while (!(v >> i & 1)) i--; return i; }

static uint32_t hw_bsf(uint32_t v, uint32_t *zf)
{
	uint32_t r = 0x5555;
	__asm__("bsf %[v], %[r]\n\tsetz %b[z]\n\tmovzbl %b[z], %[z]" : [r] "+r"(r), [z] "=q"(*zf) : [v] "rm"(v) : "cc");
	return r;
}
static uint32_t hw_bsr(uint32_t v, uint32_t *zf)
{
	uint32_t r = 0x5555;
	__asm__("bsr %[v], %[r]\n\tsetz %b[z]\n\tmovzbl %b[z], %[z]" : [r] "+r"(r), [z] "=q"(*zf) : [v] "rm"(v) : "cc");
	return r;
}
static uint32_t hw_bsf16(uint32_t v, uint32_t *zf)
{
	uint32_t r = 0xaaaa5555;
	__asm__("bsf %w[v], %w[r]\n\tsetz %b[z]\n\tmovzbl %b[z], %[z]" : [r] "+r"(r), [z] "=q"(*zf) : [v] "r"(v) : "cc");
	return r;
}
static uint32_t hw_bsr16(uint32_t v, uint32_t *zf)
{
	uint32_t r = 0xaaaa5555;
	__asm__("bsr %w[v], %w[r]\n\tsetz %b[z]\n\tmovzbl %b[z], %[z]" : [r] "+r"(r), [z] "=q"(*zf) : [v] "r"(v) : "cc");
	return r;
}

void test_bits(void)
{
	uint32_t cases = 0, cf;
	group_begin("bits");
	RT_CHECK_EQ(hw_bts_i(0, 0, &cf), 1u << 13);	/* 45 mod 32 */
	RT_CHECK_EQ(cf, 0);
	RT_CHECK_EQ(hw_btc_r16(0xffff8000, 31, &cf), 0xffff0000);	/* 31 mod 16 */
	RT_CHECK_EQ(cf, 1);
	for (unsigned o = 0; o < 4; o++)
		for (unsigned i = 0; i < NVALS; i++)
			for (uint32_t n = 0; n < 70; n += 3) {
				uint32_t a = vals[i];
				uint32_t got = btops[o].r32(a, n, &cf);
				basic_expect(btops[o].name, a, n, got, bt_apply(btops[o].op, a, n & 31));
				basic_expect(btops[o].name, a, n, cf, (a >> (n & 31)) & 1);
				got = btops[o].r16(a, n, &cf);
				basic_expect(btops[o].name, a, n, got, bt_apply(btops[o].op, a, n & 15));
				basic_expect(btops[o].name, a, n, cf, (a >> (n & 15)) & 1);
				got = btops[o].imm(a, 0, &cf);
				basic_expect(btops[o].name, a, 45, got, bt_apply(btops[o].op, a, 13));
				basic_expect(btops[o].name, a, 45, cf, (a >> 13) & 1);
				cases += 3;
			}
	/* Memory bit strings, offsets from -256 to +255 around the middle. */
	uint8_t model[sizeof(bit_area)];
	for (unsigned o = 0; o < 4; o++)
		for (int word = 0; word < 2; word++) {
			for (unsigned i = 0; i < 16; i++)
				bit_area[i] = vals[i] ^ vals[(i + 5) % NVALS];
			rt_memcpy(model, bit_area, sizeof(bit_area));
			for (int32_t n = -256; n < 256; n += 7) {
				int32_t k = n + 256;	/* bit number from the start of the area */
				uint32_t want_cf = (model[k >> 3] >> (k & 7)) & 1;
				if (word)
					btops[o].memw((uint16_t *)&bit_area[8], n, &cf);
				else
					btops[o].mem(&bit_area[8], n, &cf);
				model[k >> 3] = (uint8_t)bt_apply(btops[o].op, model[k >> 3], k & 7);
				basic_expect(btops[o].name, (uint32_t)n, word, cf, want_cf);
				cases++;
			}
			basic_expect("bitstring", o, word, rt_memcmp(model, bit_area, sizeof(model)), 0);
		}
	/* Scans: the index for non-zero sources, ZF=1 (and nothing else) for 0. */
	for (unsigned i = 0; i < NVALS; i++) {
		uint32_t v = vals[i], zf, got;
		got = hw_bsf(v, &zf);
		basic_expect("bsf zf", v, 0, zf, v == 0);
		if (v)
			basic_expect("bsf", v, 0, got, (uint32_t)model_bsf(v));
		got = hw_bsr(v, &zf);
		basic_expect("bsr zf", v, 0, zf, v == 0);
		if (v)
			basic_expect("bsr", v, 0, got, (uint32_t)model_bsr(v));
		got = hw_bsf16(v, &zf);
		basic_expect("bsf16 zf", v, 0, zf, (v & 0xffff) == 0);
		if (v & 0xffff)
			basic_expect("bsf16", v, 0, got, 0xaaaa0000 | model_bsf(v & 0xffff));
		got = hw_bsr16(v, &zf);
		basic_expect("bsr16 zf", v, 0, zf, (v & 0xffff) == 0);
		if (v & 0xffff)
			basic_expect("bsr16", v, 0, got, 0xaaaa0000 | model_bsr(v & 0xffff));
		cases += 4;
	}
	group_end(cases);
}

/* ---- conditions: setcc, cmovcc ---- */

/* The 16 condition codes in encoding order (the low nibble of 0x70+cc). */
static int model_cond(int cc, uint32_t f)
{
	int cf = !!(f & F_CF), zf = !!(f & F_ZF), sf = !!(f & F_SF), of = !!(f & F_OF);
	int pf = !!(f & F_PF), r;
	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return (cc & 1) ? !r : r;
}

#define CONDS(X) X(o) X(no) X(b) X(ae) X(e) X(ne) X(be) X(a) \
		 X(s) X(ns) X(p) X(np) X(l) X(ge) X(le) X(g)

static uint32_t cmov_cell;

/* setcc into a low byte, setcc into a high byte (via the upper-half value),
   cmov reg/reg, cmov from memory, 16-bit cmov; then the flags must be as set. */
#define HW_COND(cc)									\
static uint32_t hw_cond_##cc(uint32_t fin, uint32_t *out)				\
{											\
	uint32_t s = 0xffffff00, h = 0x1234ff78, c = 0x11111111, m = 0x22222222;	\
	uint32_t w = 0x33333333, f;							\
	cmov_cell = 0x44444444;								\
	__asm__("pushl %[fin]\n\tpopfl\n\t"						\
		"set" #cc " %b[s]\n\t"							\
		"set" #cc " %h[h]\n\t"							\
		"cmov" #cc " %[src], %[c]\n\t"						\
		"cmov" #cc "l %[cell], %[m]\n\t"					\
		"cmov" #cc " %w[src], %w[w]\n\t"					\
		"pushfl\n\tpopl %[f]"							\
		: [s] "+q"(s), [h] "+Q"(h), [c] "+r"(c), [m] "+r"(m), [w] "+r"(w),	\
		  [f] "=r"(f)								\
		: [fin] "r"(fin), [src] "r"(0xabcd5678), [cell] "m"(cmov_cell) : "cc");	\
	out[0] = s; out[1] = h; out[2] = c; out[3] = m; out[4] = w;			\
	return f;									\
}
#define HW_COND_FN(cc) HW_COND(cc)
CONDS(HW_COND_FN)

typedef uint32_t (*hw_cond_fn)(uint32_t fin, uint32_t *out);
static const hw_cond_fn hw_conds[16] = {
#define HW_COND_PTR(cc) hw_cond_##cc,
	CONDS(HW_COND_PTR)
};

void test_cond(void)
{
	uint32_t cases = 0, out[5];
	group_begin("cond");
	for (int cc = 0; cc < 16; cc++)
		for (uint32_t bits = 0; bits < 32; bits++) {
			/* Every combination of the five flags the conditions read. */
			uint32_t fin = F_FIXED | (bits & 1 ? F_CF : 0) | (bits & 2 ? F_PF : 0) |
				       (bits & 4 ? F_ZF : 0) | (bits & 8 ? F_SF : 0) |
				       (bits & 16 ? F_OF : 0) | ((bits * 7) & 1 ? F_AF : 0);
			uint32_t f = hw_conds[cc](fin, out);
			int t = model_cond(cc, fin);
			basic_expect("setcc", cc, fin, out[0], 0xffffff00 | t);
			basic_expect("setcc-high", cc, fin, out[1], 0x12340078 | (uint32_t)t << 8);
			basic_expect("cmovcc", cc, fin, out[2], t ? 0xabcd5678 : 0x11111111);
			basic_expect("cmovcc-mem", cc, fin, out[3], t ? 0x44444444 : 0x22222222);
			basic_expect("cmovcc16", cc, fin, out[4], t ? 0x33335678 : 0x33333333);
			basic_expect("cond flags", cc, fin, f & F_ARITH, fin & F_ARITH);
			cases++;
		}
	group_end(cases);
}
