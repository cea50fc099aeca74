/* Basic guest: moves, addressing forms, exchange/atomic ops, string ops and the stack. */
#include "basic.h"

/* ---- mov, movzx, movsx, partial registers ---- */

/* Sign extension by arithmetic rather than by the instructions under test. */
static uint32_t sext8(uint32_t v) { return ((v & 0xff) ^ 0x80) - 0x80; }
static uint32_t sext16(uint32_t v) { return ((v & 0xffff) ^ 0x8000) - 0x8000; }

static uint32_t mov_cell;

void test_mov(void)
{
	uint32_t cases = 0;
	group_begin("mov");
	for (unsigned i = 0; i < NVALS; i++) {
		uint32_t v = vals[i], r[12];
		mov_cell = v;
		__asm__("movzbl %b[v], %[r0]\n\t"
			"movsbl %b[v], %[r1]\n\t"
			"movzwl %w[v], %[r2]\n\t"
			"movswl %w[v], %[r3]\n\t"
			"movzbl %h[v], %[r4]\n\t"
			"movsbl %h[v], %[r5]\n\t"
			: [r0] "=&r"(r[0]), [r1] "=&r"(r[1]), [r2] "=&r"(r[2]), [r3] "=&r"(r[3]),
			  [r4] "=&r"(r[4]), [r5] "=&r"(r[5])
			: [v] "Q"(v));
		r[6] = r[7] = 0xcccccccc;
		__asm__("movzbw %[m], %w[r6]\n\t"	/* 16-bit destinations keep the rest */
			"movsbw %[m], %w[r7]\n\t"
			: [r6] "+r"(r[6]), [r7] "+r"(r[7]) : [m] "m"(*(uint8_t *)&mov_cell));
		__asm__("movzwl 2+%[m], %[r8]\n\t"
			"movswl 2+%[m], %[r9]\n\t"
			"movsbl 3+%[m], %[r10]\n\t"
			: [r8] "=r"(r[8]), [r9] "=r"(r[9]), [r10] "=r"(r[10]) : [m] "m"(mov_cell));
		/* Partial writes: al, ah, ax into a register full of ones. */
		r[11] = 0xffffffff;
		__asm__("movb %b[v], %%al\n\t"
			"movb %%cl, %%ah\n\t"
			"addw $0x0101, %%ax\n\t"
			: "+a"(r[11]) : [v] "q"(v), "c"(v >> 24) : "cc");
		uint32_t want[12] = {
			v & 0xff, sext8(v), v & 0xffff, sext16(v), (v >> 8) & 0xff, sext8(v >> 8),
			0xcccc0000 | (v & 0xff), 0xcccc0000 | (sext8(v) & 0xffff),
			v >> 16, sext16(v >> 16), sext8(v >> 24),
			0xffff0000 | (((v >> 24 << 8 | (v & 0xff)) + 0x0101) & 0xffff),
		};
		for (int k = 0; k < 12; k++)
			basic_expect("movx", v, k, r[k], want[k]);
		cases++;
	}
	group_end(cases);
}

/* ---- addressing forms ---- */

/*
 * addr_forms(out, base, index): lea with every ModRM/SIB shape, including
 * the disp32-only forms (mod=00 rm=101, and SIB base=101) that mean
 * RIP-relative or need re-encoding in 64-bit mode, and esp/ebp bases.
 * mem_forms(out, index): loads and stores through the same shapes.
 */
void addr_forms(uint32_t *out, uint32_t base, uint32_t index);
void mem_forms(uint32_t *out, uint32_t index);
uint32_t addr_table[64];

__asm__(
	".text\n"
	".globl addr_forms\n"
	"addr_forms:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl 20(%esp), %edi\n\t"
	"movl 24(%esp), %ebx\n\t"
	"movl 28(%esp), %esi\n\t"
	"leal 0x1234, %eax\n\t"			"movl %eax, 0(%edi)\n\t"
	"leal (%ebx), %eax\n\t"			"movl %eax, 4(%edi)\n\t"
	"leal 0x7f(%ebx), %eax\n\t"		"movl %eax, 8(%edi)\n\t"
	"leal -0x80(%ebx), %eax\n\t"		"movl %eax, 12(%edi)\n\t"
	"leal 0x12345678(%ebx), %eax\n\t"	"movl %eax, 16(%edi)\n\t"
	"leal (%ebx,%esi), %eax\n\t"		"movl %eax, 20(%edi)\n\t"
	"leal (%ebx,%esi,2), %eax\n\t"		"movl %eax, 24(%edi)\n\t"
	"leal (%ebx,%esi,4), %eax\n\t"		"movl %eax, 28(%edi)\n\t"
	"leal (%ebx,%esi,8), %eax\n\t"		"movl %eax, 32(%edi)\n\t"
	"leal 0x10(%ebx,%esi,4), %eax\n\t"	"movl %eax, 36(%edi)\n\t"
	"leal -0x10000(%ebx,%esi,8), %eax\n\t"	"movl %eax, 40(%edi)\n\t"
	"leal 0x1234(,%esi,4), %eax\n\t"	"movl %eax, 44(%edi)\n\t"
	".allow_index_reg\n\t"	/* for %eiz: SIB with no index */
	"leal 0x5678(,%eiz,1), %eax\n\t"	"movl %eax, 48(%edi)\n\t"
	"leal (,%esi,1), %eax\n\t"		"movl %eax, 52(%edi)\n\t"
	"movl %ebx, %ebp\n\t"
	"leal (%ebp), %eax\n\t"			"movl %eax, 56(%edi)\n\t"
	"leal 4(%ebp,%esi,2), %eax\n\t"		"movl %eax, 60(%edi)\n\t"
	"leal 0x100(%ebp), %eax\n\t"		"movl %eax, 64(%edi)\n\t"
	"leal (%esi,%ebp,8), %eax\n\t"		"movl %eax, 68(%edi)\n\t"
	"leal (%esp), %eax\n\t"			"subl %esp, %eax\n\tmovl %eax, 72(%edi)\n\t"
	"leal 8(%esp,%esi,2), %eax\n\t"		"subl %esp, %eax\n\tmovl %eax, 76(%edi)\n\t"
	"leal -0x1000(%esp), %eax\n\t"		"subl %esp, %eax\n\tmovl %eax, 80(%edi)\n\t"
	"leal (%esp,%ebp), %eax\n\t"		"subl %esp, %eax\n\tmovl %eax, 84(%edi)\n\t"
	"movl $0xffffffff, %eax\n\t"
	"leaw 0x1234(%ebx,%esi), %ax\n\t"	"movl %eax, 88(%edi)\n\t"
	"leal (%ebx,%ebx,2), %eax\n\t"		"movl %eax, 92(%edi)\n\t"
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\t"
	"ret\n"

	".globl mem_forms\n"
	"mem_forms:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl 20(%esp), %edi\n\t"
	"movl 24(%esp), %esi\n\t"
	"movl $addr_table, %ebx\n\t"
	"movl (%ebx), %eax\n\t"			"movl %eax, 0(%edi)\n\t"
	"movl 8(%ebx), %eax\n\t"		"movl %eax, 4(%edi)\n\t"
	"movl 0x80(%ebx), %eax\n\t"		"movl %eax, 8(%edi)\n\t"
	"movl (%ebx,%esi,4), %eax\n\t"		"movl %eax, 12(%edi)\n\t"
	"movl 4(%ebx,%esi,8), %eax\n\t"		"movl %eax, 16(%edi)\n\t"
	"movl addr_table(,%esi,4), %eax\n\t"	"movl %eax, 20(%edi)\n\t"
	"movl addr_table+12, %eax\n\t"		"movl %eax, 24(%edi)\n\t"	/* A1 moffs */
	"movl addr_table+16, %ecx\n\t"		"movl %ecx, 28(%edi)\n\t"	/* 8B 0D */
	".allow_index_reg\n\t"
	"movl addr_table+20(,%eiz,1), %edx\n\t"	"movl %edx, 32(%edi)\n\t"
	"leal addr_table+64, %ebp\n\t"
	"movl -4(%ebp,%esi,4), %eax\n\t"	"movl %eax, 36(%edi)\n\t"
	"movl (%ebp), %eax\n\t"			"movl %eax, 40(%edi)\n\t"
	"pushl $0x13572468\n\t"
	"movl (%esp), %eax\n\t"			"movl %eax, 44(%edi)\n\t"
	"addl $4, %esp\n\t"
	"pushl addr_table+24\n\t"
	"popl %eax\n\t"				"movl %eax, 48(%edi)\n\t"
	"movzbl addr_table+1, %eax\n\t"		"movl %eax, 52(%edi)\n\t"
	"movswl addr_table+6, %eax\n\t"		"movl %eax, 56(%edi)\n\t"
	"movl $0x11111111, %eax\n\t"
	"movb addr_table+9, %ah\n\t"		"movl %eax, 60(%edi)\n\t"
	"movl %esi, addr_table+120\n\t"
	"movl addr_table+120, %eax\n\t"		"movl %eax, 64(%edi)\n\t"
	"movl $0x89abcdef, addr_table+124\n\t"
	"movl 124(%ebx), %eax\n\t"		"movl %eax, 68(%edi)\n\t"
	"movl $0x0badf00d, addr_table+128(,%esi,4)\n\t"
	"movl 128(%ebx,%esi,4), %eax\n\t"	"movl %eax, 72(%edi)\n\t"
	"movw $0x7777, addr_table+200\n\t"
	"movl 200(%ebx), %eax\n\t"		"movl %eax, 76(%edi)\n\t"
	"movb $0x55, addr_table+205\n\t"
	"movl 204(%ebx), %eax\n\t"		"movl %eax, 80(%edi)\n\t"
	"movl %esi, %eax\n\t"
	"movl %eax, addr_table+208\n\t"		/* A3 moffs */
	"movl 208(%ebx), %eax\n\t"		"movl %eax, 84(%edi)\n\t"
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\t"
	"ret\n");

static uint32_t table_init(unsigned i)
{
	return (0x01010101u * i) ^ 0xa5000000u ^ (i << 9);
}

void test_lea(void)
{
	static const uint32_t bases[] = { 0, 1, 0x7fffffff, 0x80000000, 0xfffffff0, 0x12345678 };
	static const uint32_t indexes[] = { 0, 1, 0x1234, 0x40000000, 0xffffffff };
	uint32_t out[24], cases = 0;
	group_begin("lea");
	/* A hand-worked row: base 0x12345678, index 0x1234. */
	addr_forms(out, 0x12345678, 0x1234);
	RT_CHECK_EQ(out[0], 0x1234);
	RT_CHECK_EQ(out[10], 0x1233e818);	/* 0x12345678 + 0x91a0 - 0x10000 */
	RT_CHECK_EQ(out[17], 0x91a2c5f4);	/* 0x1234 + 0x91a2b3c0 */
	RT_CHECK_EQ(out[22], 0xffff7ae0);	/* ax = 0x5678 + 0x1234 + 0x1234 */
	for (unsigned b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
		for (unsigned i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
			uint32_t B = bases[b], I = indexes[i];
			addr_forms(out, B, I);
			uint32_t want[24] = {
				0x1234, B, B + 0x7f, B - 0x80, B + 0x12345678, B + I, B + 2 * I,
				B + 4 * I, B + 8 * I, B + 4 * I + 0x10, B + 8 * I - 0x10000,
				4 * I + 0x1234, 0x5678, I, B, B + 2 * I + 4, B + 0x100, I + 8 * B,
				0, 8 + 2 * I, (uint32_t)-0x1000, B,
				0xffff0000 | ((B + I + 0x1234) & 0xffff), 3 * B,
			};
			for (int k = 0; k < 24; k++)
				basic_expect("lea", B ^ I, k, out[k], want[k]);
			cases++;
		}
	for (uint32_t i = 0; i < 16; i++) {
		uint32_t t[64];
		for (unsigned k = 0; k < 64; k++)
			addr_table[k] = t[k] = table_init(k);
		mem_forms(out, i);
		uint32_t want[22] = {
			t[0], t[2], t[32], t[i], t[2 * i + 1], t[i], t[3], t[4], t[5], t[15 + i],
			t[16], 0x13572468, t[6], (t[0] >> 8) & 0xff, sext16(t[1] >> 16),
			0x11110011 | (t[2] >> 8 & 0xff) << 8, i, 0x89abcdef, 0x0badf00d,
			(t[50] & 0xffff0000) | 0x7777, (t[51] & 0xffff00ff) | 0x5500, i,
		};
		for (int k = 0; k < 22; k++)
			basic_expect("mem", i, k, out[k], want[k]);
		cases++;
	}
	group_end(cases);
}

/* ---- xchg, cmpxchg, xadd, bswap, cmpxchg8b, lock ---- */

static uint32_t xchg_cell;
static uint64_t xchg_cell64;

void test_xchg(void)
{
	uint32_t cases = 0;
	group_begin("xchg");
	for (unsigned i = 0; i < NVALS; i++) {
		uint32_t v = vals[i], w = vals[(i + 5) % NVALS];
		uint32_t a = v, c = w, f;
		/* 0x90+r: xchg with eax in the one-byte form. */
		__asm__("xchg %%eax, %%ecx" : "+a"(a), "+c"(c));
		basic_expect("xchg eax", v, w, a, w);
		basic_expect("xchg eax", v, w, c, v);
		uint32_t si = 0xaaaa1234, di = 0xbbbb5678;
		a = v, c = w;
		__asm__("xchgb %%al, %%ch\n\txchgw %%si, %%di"
			: "+a"(a), "+c"(c), "+S"(si), "+D"(di));
		basic_expect("xchg8", v, w, a, (v & ~0xffu) | ((w >> 8) & 0xff));
		basic_expect("xchg8", v, w, c, (w & ~0xff00u) | (v & 0xff) << 8);
		basic_expect("xchg16", v, w, si ^ di, 0xaaaa5678 ^ 0xbbbb1234);
		xchg_cell = v;
		c = w;
		__asm__("xchgl %[c], %[m]" : [c] "+r"(c), [m] "+m"(xchg_cell));
		basic_expect("xchg mem", v, w, xchg_cell, w);
		basic_expect("xchg mem", v, w, c, v);

		/* bswap on every register the compiler hands out, and by hand. */
		a = v;
		__asm__("bswap %0" : "+r"(a));
		basic_expect("bswap", v, 0, a,
			     (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24));

		/* cmpxchg: equal -> store, ZF=1; unequal -> load into eax, ZF=0. */
		for (int eq = 0; eq < 2; eq++) {
			uint32_t expected = eq ? v : v ^ 0x100;
			xchg_cell = v;
			a = expected;
			__asm__("lock cmpxchgl %[n], %[m]\n\tpushfl\n\tpopl %[f]"
				: "+a"(a), [m] "+m"(xchg_cell), [f] "=r"(f) : [n] "r"(w) : "cc");
			basic_expect("cmpxchg mem", v, eq, xchg_cell, eq ? w : v);
			basic_expect("cmpxchg eax", v, eq, a, v);
			basic_expect("cmpxchg zf", v, eq, f & F_ZF, eq ? F_ZF : 0);
			/* The flags are those of cmp eax, dest. */
			uint32_t cf = expected < v ? F_CF : 0;
			basic_expect("cmpxchg cf", v, eq, f & F_CF, cf);
			/* Register destinations, 8 and 16 bits. */
			uint32_t d = v;
			a = eq ? v : ~v;
			__asm__("cmpxchgb %b[n], %b[d]" : "+a"(a), [d] "+q"(d) : [n] "q"(w) : "cc");
			basic_expect("cmpxchg8", v, eq, d, eq ? (v & ~0xffu) | (w & 0xff) : v);
			basic_expect("cmpxchg8 al", v, eq, a, eq ? v : (~v & ~0xffu) | (v & 0xff));
			d = v;
			a = eq ? v : ~v;
			__asm__("cmpxchgw %w[n], %w[d]" : "+a"(a), [d] "+r"(d) : [n] "r"(w) : "cc");
			basic_expect("cmpxchg16", v, eq, d, eq ? (v & ~0xffffu) | (w & 0xffff) : v);
			basic_expect("cmpxchg16 ax", v, eq, a,
				     eq ? v : (~v & ~0xffffu) | (v & 0xffff));
		}

		/* xadd: dest = sum, source = old dest, flags as add. */
		xchg_cell = v;
		c = w;
		__asm__("lock xaddl %[c], %[m]\n\tpushfl\n\tpopl %[f]"
			: [c] "+r"(c), [m] "+m"(xchg_cell), [f] "=r"(f) : : "cc");
		basic_expect("xadd", v, w, xchg_cell, v + w);
		basic_expect("xadd", v, w, c, v);
		basic_expect("xadd cf", v, w, f & (F_CF | F_ZF), (v + w < v ? F_CF : 0) |
			     (v + w == 0 ? F_ZF : 0));
		a = v, c = w;
		__asm__("xaddb %%cl, %%ah" : "+a"(a), "+c"(c) : : "cc");
		basic_expect("xadd8", v, w, a, (v & 0xffff00ff) | (((v >> 8) + w) & 0xff) << 8);
		basic_expect("xadd8", v, w, c, (w & ~0xffu) | ((v >> 8) & 0xff));

		/* lock add/inc/or/btsl into memory. */
		xchg_cell = v;
		__asm__("lock addl %[w], %[m]\n\tlock incl %[m]\n\tlock orl $0x10, %[m]\n\t"
			"lock btsl $31, %[m]" : [m] "+m"(xchg_cell) : [w] "r"(w) : "cc");
		basic_expect("lock ops", v, w, xchg_cell, ((v + w + 1) | 0x10) | 0x80000000);
		cases++;
	}
	/* cmpxchg8b: compare edx:eax with m64, store ecx:ebx on equality. */
	for (int eq = 0; eq < 2; eq++) {
		uint32_t lo = 0x89abcdef, hi = eq ? 0x01234567 : 0x01234568, f;
		xchg_cell64 = 0x0123456789abcdefull;
		__asm__("lock cmpxchg8b %[m]\n\tpushfl\n\tpopl %[f]"
			: "+a"(lo), "+d"(hi), [m] "+m"(xchg_cell64), [f] "=r"(f)
			: "b"(0xdeadbeef), "c"(0xfeedface) : "cc");
		uint32_t zf = (f & F_ZF) != 0;
		RT_CHECK_EQ(zf, (uint32_t)eq);
		RT_CHECK_EQ((uint32_t)xchg_cell64, eq ? 0xdeadbeef : 0x89abcdef);
		RT_CHECK_EQ((uint32_t)(xchg_cell64 >> 32), eq ? 0xfeedface : 0x01234567);
		RT_CHECK_EQ(lo, 0x89abcdef);
		RT_CHECK_EQ(hi, 0x01234567);	/* unequal: loaded; equal: unchanged */
		mix(lo ^ hi ^ (uint32_t)xchg_cell64 ^ zf);
		cases++;
	}
	/* bswap of every register, written out so each encoding appears. */
	uint32_t regs[7];
	__asm__("pushl %%ebp\n\t"
		"movl $0x01020304, %%eax\n\tmovl $0x05060708, %%ebx\n\t"
		"movl $0x090a0b0c, %%ecx\n\tmovl $0x0d0e0f10, %%edx\n\t"
		"movl $0x11121314, %%esi\n\tmovl $0x15161718, %%ebp\n\t"
		"bswap %%eax\n\tbswap %%ebx\n\tbswap %%ecx\n\tbswap %%edx\n\t"
		"bswap %%esi\n\tbswap %%ebp\n\t"
		"movl %%eax, 0(%%edi)\n\tmovl %%ebx, 4(%%edi)\n\tmovl %%ecx, 8(%%edi)\n\t"
		"movl %%edx, 12(%%edi)\n\tmovl %%esi, 16(%%edi)\n\tmovl %%ebp, 20(%%edi)\n\t"
		"pushl %%edi\n\tmovl $0x191a1b1c, %%edi\n\tbswap %%edi\n\tmovl %%edi, %%eax\n\t"
		"popl %%edi\n\tmovl %%eax, 24(%%edi)\n\t"
		"popl %%ebp"
		: : "D"(regs) : "eax", "ebx", "ecx", "edx", "esi", "memory");
	static const uint32_t swapped[7] = { 0x04030201, 0x08070605, 0x0c0b0a09, 0x100f0e0d,
					     0x14131211, 0x18171615, 0x1c1b1a19 };
	for (int k = 0; k < 7; k++)
		basic_expect("bswap reg", k, 0, regs[k], swapped[k]);
	group_end(cases);
}

/* ---- string instructions ---- */

static uint8_t str_src[512], str_dst[512];

static void str_fill(void)
{
	for (unsigned i = 0; i < sizeof(str_src); i++) {
		str_src[i] = (uint8_t)(i * 7 + 3);
		str_dst[i] = 0xee;
	}
}

/* Runs one string instruction with ESI/EDI at src+so/dst+do, ECX=n, EAX=a
   and DF=df; reports registers as offsets so no address is printed. */
struct str_regs { uint32_t esi, edi, ecx, eax, flags; };

#define HW_STR(name, insn)								\
static void hw_str_##name(struct str_regs *r, int df)					\
{											\
	uint8_t *s = str_src + r->esi, *d = str_dst + r->edi;				\
	uint32_t c = r->ecx, a = r->eax, f;						\
	__asm__ volatile(								\
		"testl %[df], %[df]\n\tjz 1f\n\tstd\n1:\t"				\
		insn "\n\t"								\
		"pushfl\n\tpopl %[f]\n\tcld"						\
		: "+S"(s), "+D"(d), "+c"(c), "+a"(a), [f] "=&r"(f)			\
		: [df] "r"(df) : "cc", "memory");					\
	r->esi = (uint32_t)(s - str_src);						\
	r->edi = (uint32_t)(d - str_dst);						\
	r->ecx = c;									\
	r->eax = a;									\
	r->flags = f;									\
}
HW_STR(movsb, "movsb")
HW_STR(movsw, "movsw")
HW_STR(movsd, "movsl")
HW_STR(rep_movsb, "rep movsb")
HW_STR(rep_movsw, "rep movsw")
HW_STR(rep_movsd, "rep movsl")
HW_STR(stosb, "stosb")
HW_STR(rep_stosb, "rep stosb")
HW_STR(rep_stosw, "rep stosw")
HW_STR(rep_stosd, "rep stosl")
HW_STR(lodsb, "lodsb")
HW_STR(lodsd, "lodsl")
HW_STR(rep_lodsb, "rep lodsb")
HW_STR(cmpsb, "cmpsb")
HW_STR(repe_cmpsb, "repe cmpsb")
HW_STR(repne_cmpsb, "repne cmpsb")
HW_STR(repe_cmpsd, "repe cmpsl")
HW_STR(scasb, "scasb")
HW_STR(repne_scasb, "repne scasb")
HW_STR(repe_scasb, "repe scasb")
HW_STR(repne_scasw, "repne scasw")

static void str_expect(const char *what, int df, const struct str_regs *r, uint32_t esi,
		       uint32_t edi, uint32_t ecx, uint32_t eax)
{
	basic_expect(what, df, 0, r->esi, esi);
	basic_expect(what, df, 1, r->edi, edi);
	basic_expect(what, df, 2, r->ecx, ecx);
	basic_expect(what, df, 3, r->eax, eax);
	basic_expect(what, df, 4, r->flags & F_DF, df ? F_DF : 0);
}

static uint32_t src_byte(uint32_t i) { return (uint8_t)(i * 7 + 3); }

void test_string(void)
{
	struct str_regs r;
	uint32_t cases = 0;
	group_begin("string");
	for (int df = 0; df < 2; df++) {
		int step = df ? -1 : 1;
		uint32_t at = df ? 300 : 100;	/* room either way */

		str_fill();
		r = (struct str_regs){ at, at, 7, 0x12345678, 0 };
		hw_str_movsb(&r, df);
		str_expect("movsb", df, &r, at + step, at + step, 7, 0x12345678);
		basic_expect("movsb data", df, 0, str_dst[at], src_byte(at));
		r = (struct str_regs){ at, at, 7, 0, 0 };
		hw_str_movsw(&r, df);
		str_expect("movsw", df, &r, at + 2 * step, at + 2 * step, 7, 0);
		r = (struct str_regs){ at, at, 7, 0, 0 };
		hw_str_movsd(&r, df);
		str_expect("movsd", df, &r, at + 4 * step, at + 4 * step, 7, 0);
		basic_expect("movsd data", df, 0, str_dst[at + 3],
			     src_byte(at + 3));

		/* rep movs: 37 elements; the copy runs down from the end when DF=1. */
		str_fill();
		r = (struct str_regs){ at, at + 1, 37, 0, 0 };
		hw_str_rep_movsb(&r, df);
		str_expect("rep movsb", df, &r, at + 37 * step, at + 1 + 37 * step, 0, 0);
		for (int k = 0; k < 37; k++)
			basic_expect("rep movsb data", df, k, str_dst[at + 1 + k * step],
				     src_byte(at + k * step));
		basic_expect("rep movsb edge", df, 0, str_dst[at + 1 + 37 * step], 0xee);
		str_fill();
		r = (struct str_regs){ at, at, 19, 0, 0 };
		hw_str_rep_movsw(&r, df);
		str_expect("rep movsw", df, &r, at + 38 * step, at + 38 * step, 0, 0);
		str_fill();
		r = (struct str_regs){ at, at, 23, 0, 0 };
		hw_str_rep_movsd(&r, df);
		str_expect("rep movsd", df, &r, at + 92 * step, at + 92 * step, 0, 0);
		basic_expect("rep movsd data", df, 0, rt_memcmp(str_dst + (df ? at - 88 : at),
							       str_src + (df ? at - 88 : at), 92), 0);

		/* rep with ECX=0 does nothing at all. */
		str_fill();
		r = (struct str_regs){ at, at, 0, 0, 0 };
		hw_str_rep_movsd(&r, df);
		str_expect("rep0 movsd", df, &r, at, at, 0, 0);
		basic_expect("rep0 data", df, 0, str_dst[at], 0xee);

		/* stos */
		str_fill();
		r = (struct str_regs){ 0, at, 5, 0xa1b2c3d4, 0 };
		hw_str_stosb(&r, df);
		str_expect("stosb", df, &r, 0, at + step, 5, 0xa1b2c3d4);
		basic_expect("stosb data", df, 0, str_dst[at], 0xd4);
		r = (struct str_regs){ 0, at, 50, 0xa1b2c3d4, 0 };
		hw_str_rep_stosb(&r, df);
		str_expect("rep stosb", df, &r, 0, at + 50 * step, 0, 0xa1b2c3d4);
		basic_expect("rep stosb data", df, 0, str_dst[at + 49 * step], 0xd4);
		basic_expect("rep stosb edge", df, 0, str_dst[at + 50 * step], 0xee);
		r = (struct str_regs){ 0, at, 9, 0xa1b2c3d4, 0 };
		hw_str_rep_stosw(&r, df);
		str_expect("rep stosw", df, &r, 0, at + 18 * step, 0, 0xa1b2c3d4);
		r = (struct str_regs){ 0, at, 11, 0x01020304, 0 };
		hw_str_rep_stosd(&r, df);
		str_expect("rep stosd", df, &r, 0, at + 44 * step, 0, 0x01020304);
		basic_expect("rep stosd data", df, 0,
			     *(uint32_t *)(str_dst + at + (df ? -40 : 40)), 0x01020304);

		/* lods */
		str_fill();
		r = (struct str_regs){ at, 0, 3, 0xffffffff, 0 };
		hw_str_lodsb(&r, df);
		str_expect("lodsb", df, &r, at + step, 0, 3, 0xffffff00 | src_byte(at));
		r = (struct str_regs){ at, 0, 3, 0, 0 };
		hw_str_lodsd(&r, df);
		str_expect("lodsd", df, &r, at + 4 * step, 0, 3,
			   src_byte(at) | src_byte(at + 1) << 8 | src_byte(at + 2) << 16 |
			   src_byte(at + 3) << 24);
		r = (struct str_regs){ at, 0, 10, 0, 0 };
		hw_str_rep_lodsb(&r, df);
		str_expect("rep lodsb", df, &r, at + 10 * step, 0, 0, src_byte(at + 9 * step));

		/* cmps/scas: dst is a copy of src with one byte changed at +20. */
		str_fill();
		rt_memcpy(str_dst, str_src, sizeof(str_dst));
		str_dst[at + 20 * step] ^= 0x40;
		r = (struct str_regs){ at, at, 99, 0, 0 };
		hw_str_cmpsb(&r, df);
		str_expect("cmpsb", df, &r, at + step, at + step, 99, 0);
		basic_expect("cmpsb zf", df, 0, r.flags & F_ZF, F_ZF);
		r = (struct str_regs){ at, at, 99, 0, 0 };
		hw_str_repe_cmpsb(&r, df);
		/* Stops after comparing the 21st pair: ECX = 99 - 21. */
		str_expect("repe cmpsb", df, &r, at + 21 * step, at + 21 * step, 78, 0);
		basic_expect("repe cmpsb zf", df, 0, r.flags & F_ZF, 0);
		/* src - dst at the mismatch: the bit 6 difference decides CF. */
		uint32_t sb = src_byte(at + 20 * step), db = sb ^ 0x40;
		basic_expect("repe cmpsb cf", df, 0, r.flags & F_CF, sb < db ? F_CF : 0);
		r = (struct str_regs){ at, at, 15, 0, 0 };
		hw_str_repe_cmpsb(&r, df);	/* all equal: runs out, ZF=1 */
		str_expect("repe cmpsb all", df, &r, at + 15 * step, at + 15 * step, 0, 0);
		basic_expect("repe cmpsb all zf", df, 0, r.flags & F_ZF, F_ZF);
		/* Shifted by one, no pair is equal (neighbours differ by 7, the
		   changed byte by 0x40 too): repne runs ECX out, ZF=0. */
		r = (struct str_regs){ at, at + step, 99, 0, 0 };
		hw_str_repne_cmpsb(&r, df);
		str_expect("repne cmpsb", df, &r, at + 99 * step, at + 100 * step, 0, 0);
		basic_expect("repne cmpsb zf", df, 0, r.flags & F_ZF, 0);
		r = (struct str_regs){ at, at, 8, 0, 0 };
		hw_str_repe_cmpsd(&r, df);
		str_expect("repe cmpsd", df, &r, at + 24 * step, at + 24 * step, 2, 0);

		/* scas: find a byte value that occurs first at +12. */
		str_fill();
		r = (struct str_regs){ 0, at, 99, src_byte(at + 12 * step), 0 };
		rt_memcpy(str_dst, str_src, sizeof(str_dst));
		hw_str_repne_scasb(&r, df);
		str_expect("repne scasb", df, &r, 0, at + 13 * step, 86, src_byte(at + 12 * step));
		basic_expect("repne scasb zf", df, 0, r.flags & F_ZF, F_ZF);
		r = (struct str_regs){ 0, at, 1, src_byte(at), 0 };
		hw_str_scasb(&r, df);
		str_expect("scasb", df, &r, 0, at + step, 1, src_byte(at));
		basic_expect("scasb zf", df, 0, r.flags & F_ZF, F_ZF);
		rt_memset(str_dst, 0x77, sizeof(str_dst));
		str_dst[at + 30 * step] = 0x78;
		r = (struct str_regs){ 0, at, 200, 0x77, 0 };
		hw_str_repe_scasb(&r, df);
		str_expect("repe scasb", df, &r, 0, at + 31 * step, 169, 0x77);
		basic_expect("repe scasb cf", df, 0, r.flags & (F_CF | F_ZF | F_SF), F_CF | F_SF);
		/* The word 0x1234 at at+15*step, reached from at+step in 8 steps. */
		rt_memset(str_dst, 0, sizeof(str_dst));
		str_dst[at + 15 * step] = 0x34;
		str_dst[at + 15 * step + 1] = 0x12;
		r = (struct str_regs){ 0, at + step, 40, 0xffff1234, 0 };
		hw_str_repne_scasw(&r, df);
		str_expect("repne scasw", df, &r, 0, at + 17 * step, 32, 0xffff1234);
		basic_expect("repne scasw zf", df, 0, r.flags & F_ZF, F_ZF);
		cases++;
	}
	/* Overlapping forward rep movsb replicates a pattern byte by byte. */
	str_fill();
	str_src[0] = 0xab;
	str_src[1] = 0xcd;
	{
		uint8_t *s = str_src, *d = str_src + 2;
		uint32_t c = 100;
		__asm__ volatile("rep movsb" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
		int ok = 1;
		for (int k = 0; k < 102; k++)
			ok &= str_src[k] == (k & 1 ? 0xcd : 0xab);
		RT_CHECK(ok);
		cases++;
	}
	/* A long rep stosd across pages, then rep movsd it back. */
	{
		static uint32_t big[3000], big2[3000];
		uint32_t *d = big, c = 3000;
		__asm__ volatile("rep stosl" : "+D"(d), "+c"(c) : "a"(0x5a5aa5a5) : "memory");
		RT_CHECK_EQ(big[2999], 0x5a5aa5a5);
		RT_CHECK_EQ(big[0], 0x5a5aa5a5);
		big[1234] = 42;
		uint32_t *s = big;
		d = big2, c = 3000;
		__asm__ volatile("rep movsl" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
		RT_CHECK_EQ(big2[1234], 42);
		RT_CHECK_EQ(big2[2999], 0x5a5aa5a5);
		RT_CHECK_EQ((uint32_t)(d - big2), 3000);
		cases++;
	}
	group_end(cases);
}

/* ---- stack: push/pop forms, push esp, pop esp, enter/leave ---- */

/*
 * stack_forms(out): each result is a value or an ESP difference, never an
 * address. Written in assembly because the compiler must not touch ESP
 * between the instructions.
 */
void stack_forms(uint32_t *out);
uint32_t stack_cell = 0xcafef00d;
__asm__(
	".text\n"
	".globl stack_forms\n"
	"stack_forms:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl 20(%esp), %edi\n\t"
	"movl %esp, %ebx\n\t"
	/* push imm8 (sign-extended) and imm32 */
	"pushl $-1\n\tpushl $0x7f\n\tpushl $0x12345678\n\t"
	"popl 0(%edi)\n\tpopl 4(%edi)\n\tpopl 8(%edi)\n\t"
	/* push esp pushes the value before the push */
	"pushl %esp\n\tpopl %eax\n\tsubl %esp, %eax\n\tmovl %eax, 12(%edi)\n\t"	/* 0 */
	/* pop esp loads ESP from the old top */
	"leal -64(%esp), %eax\n\tpushl %eax\n\tpopl %esp\n\t"
	"movl %ebx, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 16(%edi)\n\t"		/* 64 */
	"movl %ebx, %esp\n\t"
	/* pop to an ESP-based address: the address uses ESP after the pop */
	"pushl $0xaaaaaaaa\n\tpushl $0xbbbbbbbb\n\tpushl $0xcccccccc\n\t"
	"popl 4(%esp)\n\t"
	"popl 20(%edi)\n\tpopl 24(%edi)\n\t"	/* bbbbbbbb, cccccccc */
	/* push from an ESP-based address: the address uses ESP before */
	"pushl $0x11111111\n\tpushl $0x22222222\n\t"
	"pushl 4(%esp)\n\t"
	"popl 28(%edi)\n\taddl $8, %esp\n\t"	/* 11111111 */
	/* push/pop memory through absolute addresses */
	"pushl stack_cell\n\tpopl 32(%edi)\n\t"
	"pushl $0x600df00d\n\tpopl stack_cell\n\t"
	"movl stack_cell, %eax\n\tmovl %eax, 36(%edi)\n\t"
	/* push/pop of each register */
	"movl $1, %eax\n\tmovl $2, %ecx\n\tmovl $3, %edx\n\tmovl $4, %esi\n\tmovl $5, %ebp\n\t"
	"pushl %eax\n\tpushl %ecx\n\tpushl %edx\n\tpushl %esi\n\tpushl %ebp\n\tpushl %edi\n\t"
	"popl %edi\n\tpopl %eax\n\tpopl %ebp\n\tpopl %ecx\n\tpopl %edx\n\tpopl %esi\n\t"
	"imull $10000, %eax\n\timull $1000, %ebp\n\timull $100, %ecx\n\timull $10, %edx\n\t"
	"addl %ebp, %eax\n\taddl %ecx, %eax\n\taddl %edx, %eax\n\taddl %esi, %eax\n\t"
	"movl %eax, 40(%edi)\n\t"		/* 54321 */
	/* enter/leave with nesting levels 0..3 over a fake frame chain */
	"movl $0x1000, %ebp\n\t"		/* unused: level 0 copies nothing */
	"movl %esp, %esi\n\t"
	"enter $16, $0\n\t"
	"movl %esi, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 44(%edi)\n\t"	/* 20 */
	"movl %ebp, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 48(%edi)\n\t"	/* 16 */
	"leave\n\t"
	"subl %esp, %esi\n\tmovl %esi, 52(%edi)\n\t"	/* 0 */
	"movl %ebp, 56(%edi)\n\t"			/* 0x1000 */
	/* a display: ebp -> [frame2 ptr slot] ... built by hand */
	"pushl $0x3333\n\tpushl $0x2222\n\tpushl $0x1111\n\tpushl $0\n\t"
	"movl %esp, %ebp\n\t"	/* [ebp-4] would be below: point at the top */
	"addl $16, %ebp\n\t"	/* ebp-4 = 0x3333, ebp-8 = 0x2222, ebp-12 = 0x1111 */
	"movl %esp, %esi\n\t"
	"enter $8, $3\n\t"
	/* pushed: old ebp, [ebp-4], [ebp-8], frame temp; then 8 bytes */
	"movl %esi, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 60(%edi)\n\t"	/* 24 */
	"movl -4(%ebp), %eax\n\tmovl %eax, 64(%edi)\n\t"	/* 0x3333 */
	"movl -8(%ebp), %eax\n\tmovl %eax, 68(%edi)\n\t"	/* 0x2222 */
	"movl -12(%ebp), %eax\n\tsubl %ebp, %eax\n\tmovl %eax, 72(%edi)\n\t"	/* 0 */
	"movl %esi, %eax\n\tsubl %ebp, %eax\n\tmovl %eax, 76(%edi)\n\t"	/* 4 */
	"leave\n\t"
	"movl %esi, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 80(%edi)\n\t"	/* 0 */
	"movl %ebp, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 84(%edi)\n\t"	/* 16 */
	"addl $16, %esp\n\t"
	"enter $0, $1\n\t"	/* level 1: old ebp and the frame pointer */
	"leal 16(%esi), %eax\n\tsubl %esp, %eax\n\tmovl %eax, 88(%edi)\n\t"	/* 8 */
	"movl (%esp), %eax\n\tsubl %ebp, %eax\n\tmovl %eax, 92(%edi)\n\t"	/* 0 */
	"leave\n\t"
	"movl %ebx, %esp\n\t"
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\t"
	"ret\n");

void test_stack(void)
{
	uint32_t out[24];
	static const uint32_t want[24] = {
		0x12345678, 0x7f, 0xffffffff, 0, 64, 0xbbbbbbbb, 0xcccccccc, 0x11111111,
		0xcafef00d, 0x600df00d, 54321, 20, 16, 0, 0x1000, 24, 0x3333, 0x2222, 0, 4,
		0, 16, 8, 0,
	};
	group_begin("stack");
	stack_cell = 0xcafef00d;
	stack_forms(out);
	for (int k = 0; k < 24; k++)
		basic_expect("stack", k, 0, out[k], want[k]);
	group_end(1);
}
