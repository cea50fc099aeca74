/* Legacy guest: instructions whose encoding or meaning differs in 64-bit mode (inc/dec 0x40+r, pusha, BCD, 0x82, moffs, 16-bit forms...). */
#include "rt.h"

#define F_CF 0x001u
#define F_PF 0x004u
#define F_AF 0x010u
#define F_ZF 0x040u
#define F_SF 0x080u
#define F_OF 0x800u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_FIXED 0x002u

/* Results (and only defined flags) feed a per-section hash that is printed:
   the differential comparison with QEMU then covers them all. */
static uint32_t hash;
static int details_printed;
static void mix(uint32_t v) { hash = (hash ^ v) * 16777619u; }

static void section(const char *name)
{
	hash = 2166136261u;
	details_printed = 0;
	rt_section(name);
}

static void section_end(uint32_t cases)
{
	rt_printf("  %u cases, hash %08x\n", cases, hash);
	rt_section_end();
}

/* Checks one case of a table-driven test; prints the first few misses. */
static void expect(const char *what, uint32_t in, uint32_t got, uint32_t want)
{
	mix(got);
	if (got == want)
		return;
	if (details_printed++ < 16)
		rt_printf("FAIL %s in=%08x: got %08x want %08x\n", what, in, got, want);
	rt_failures++;
}

static uint32_t szp8(uint32_t v)
{
	int ones = 0;
	v &= 0xff;
	for (int i = 0; i < 8; i++)
		ones += (v >> i) & 1;
	return (v == 0 ? F_ZF : 0) | (v & 0x80 ? F_SF : 0) | (ones & 1 ? 0 : F_PF);
}

/* ---- inc/dec r32, one-byte forms 0x40..0x4f ---- */

/* Inputs and outputs live at absolute addresses so that every register,
   including ebp and esp, can be the operand. */
uint32_t incdec_in[8], incdec_out[16], incdec_fout[16], incdec_fin, incdec_esp[2];
void incdec_run(void);

#define INCDEC_REG(n, reg)								\
	"movl incdec_in+4*" #n ", %" reg "\n\t"						\
	"pushl incdec_fin\n\tpopfl\n\t"							\
	".byte 0x40+" #n "\n\t"								\
	"pushfl\n\tpopl incdec_fout+4*" #n "\n\t"					\
	"movl %" reg ", incdec_out+4*" #n "\n\t"					\
	"movl incdec_in+4*" #n ", %" reg "\n\t"						\
	"pushl incdec_fin\n\tpopfl\n\t"							\
	".byte 0x48+" #n "\n\t"								\
	"pushfl\n\tpopl incdec_fout+32+4*" #n "\n\t"					\
	"movl %" reg ", incdec_out+32+4*" #n "\n\t"
__asm__(
	".text\n"
	".globl incdec_run\n"
	"incdec_run:\n\t"
	"pushal\n\t"
	INCDEC_REG(0, "eax") INCDEC_REG(1, "ecx") INCDEC_REG(2, "edx") INCDEC_REG(3, "ebx")
	INCDEC_REG(5, "ebp") INCDEC_REG(6, "esi") INCDEC_REG(7, "edi")
	/* esp: only the difference it makes, no pushes while it is odd */
	"movl %esp, %ebx\n\t"
	".byte 0x44\n\t"			/* inc esp */
	"movl %esp, %ecx\n\t"
	".byte 0x4c\n\t.byte 0x4c\n\t"		/* dec esp twice */
	"movl %esp, %edx\n\t"
	".byte 0x44\n\t"
	"subl %ebx, %ecx\n\tmovl %ecx, incdec_esp\n\t"
	"subl %ebx, %edx\n\tmovl %edx, incdec_esp+4\n\t"
	"popal\n\t"
	"ret\n");

static void test_incdec(void)
{
	static const uint32_t ins[] = { 0, 1, 0x7f, 0x0f, 0x7fffffff, 0x80000000, 0xffffffff,
					0x12345678 };
	uint32_t cases = 0;
	section("inc/dec 0x40+r");
	for (unsigned i = 0; i < sizeof(ins) / sizeof(ins[0]); i++)
		for (int k = 0; k < 2; k++) {
			incdec_fin = F_FIXED | (k ? F_ARITH : 0);
			for (int r = 0; r < 8; r++)
				incdec_in[r] = ins[(i + r) % 8];
			incdec_run();
			for (int r = 0; r < 8; r++) {
				if (r == 4)
					continue;
				uint32_t a = incdec_in[r], inc = a + 1, dec = a - 1;
				/* CF keeps its value; the others as add/sub 1. */
				uint32_t fi = (incdec_fin & F_CF) | (szp8(inc) & F_PF);
				fi |= inc & 0x80000000 ? F_SF : 0;
				fi |= inc == 0 ? F_ZF : 0;
				fi |= (inc & 0xf) == 0 ? F_AF : 0;
				fi |= a == 0x7fffffff ? F_OF : 0;
				uint32_t fd = (incdec_fin & F_CF) | (szp8(dec) & F_PF);
				fd |= dec & 0x80000000 ? F_SF : 0;
				fd |= dec == 0 ? F_ZF : 0;
				fd |= (a & 0xf) == 0 ? F_AF : 0;
				fd |= a == 0x80000000 ? F_OF : 0;
				expect("inc", a, incdec_out[r], inc);
				expect("inc flags", a, incdec_fout[r] & F_ARITH, fi);
				expect("dec", a, incdec_out[8 + r], dec);
				expect("dec flags", a, incdec_fout[8 + r] & F_ARITH, fd);
				cases++;
			}
		}
	RT_CHECK_EQ(incdec_esp[0], 1);
	RT_CHECK_EQ(incdec_esp[1], (uint32_t)-1);
	section_end(cases);
}

/* ---- pusha/popa ---- */

uint32_t pusha_slots[8], pusha_regs[8], pusha_esp[3];
uint16_t pushaw_slots[8];
uint32_t pushaw_regs[8];
void pusha_run(void);
__asm__(
	".text\n"
	".globl pusha_run\n"
	"pusha_run:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl $0xa0a0a0a0, %eax\n\tmovl $0xc1c1c1c1, %ecx\n\tmovl $0xd2d2d2d2, %edx\n\t"
	"movl $0xb3b3b3b3, %ebx\n\tmovl $0xb5b5b5b5, %ebp\n\tmovl $0x56565656, %esi\n\t"
	"movl $0xd7d7d7d7, %edi\n\t"
	"movl %esp, pusha_esp\n\t"
	"pushal\n\t"
	"movl %esp, pusha_esp+4\n\t"
	/* copy the frame out: EDI ESI EBP ESP EBX EDX ECX EAX from the top */
	"popl pusha_slots\n\tpopl pusha_slots+4\n\tpopl pusha_slots+8\n\tpopl pusha_slots+12\n\t"
	"popl pusha_slots+16\n\tpopl pusha_slots+20\n\tpopl pusha_slots+24\n\t"
	"popl pusha_slots+28\n\t"
	"subl $32, %esp\n\t"
	/* popa must skip the ESP slot and take the rest */
	"movl $0x0badbad0, 12(%esp)\n\t"
	"movl $0x11111111, 28(%esp)\n\t"
	"movl $0x66666666, 4(%esp)\n\t"
	"xorl %eax, %eax\n\txorl %ecx, %ecx\n\txorl %edx, %edx\n\txorl %ebx, %ebx\n\t"
	"xorl %ebp, %ebp\n\txorl %esi, %esi\n\txorl %edi, %edi\n\t"
	"popal\n\t"
	"movl %esp, pusha_esp+8\n\t"
	"movl %eax, pusha_regs\n\tmovl %ecx, pusha_regs+4\n\tmovl %edx, pusha_regs+8\n\t"
	"movl %ebx, pusha_regs+12\n\tmovl %ebp, pusha_regs+20\n\tmovl %esi, pusha_regs+24\n\t"
	"movl %edi, pusha_regs+28\n\t"
	/* 16-bit: pushaw/popaw move the low halves only */
	"movl $0xaaaa1111, %eax\n\tmovl $0xcccc2222, %ecx\n\tmovl $0xdddd3333, %edx\n\t"
	"movl $0xbbbb4444, %ebx\n\tmovl $0xeeee5555, %ebp\n\tmovl $0x5a5a6666, %esi\n\t"
	"movl $0xd0d07777, %edi\n\t"
	"pushaw\n\t"
	"popl pushaw_slots\n\tpopl pushaw_slots+4\n\tpopl pushaw_slots+8\n\t"
	"popl pushaw_slots+12\n\t"
	"subl $16, %esp\n\t"
	"movw $0x9999, 14(%esp)\n\t"		/* the AX slot */
	"movl $0x12340000, %eax\n\tmovl $0x56780000, %esi\n\t"
	"popaw\n\t"
	"movl %eax, pushaw_regs\n\tmovl %ecx, pushaw_regs+4\n\tmovl %edx, pushaw_regs+8\n\t"
	"movl %ebx, pushaw_regs+12\n\tmovl %ebp, pushaw_regs+20\n\tmovl %esi, pushaw_regs+24\n\t"
	"movl %edi, pushaw_regs+28\n\t"
	"movl %esp, %eax\n\tsubl pusha_esp, %eax\n\tmovl %eax, pushaw_regs+16\n\t"
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\t"
	"ret\n");

static void test_pusha(void)
{
	section("pusha/popa");
	pusha_run();
	static const uint32_t slots[8] = { 0xd7d7d7d7, 0x56565656, 0xb5b5b5b5, 0,
					   0xb3b3b3b3, 0xd2d2d2d2, 0xc1c1c1c1, 0xa0a0a0a0 };
	for (int k = 0; k < 8; k++)
		if (k != 3)
			expect("pusha slot", k, pusha_slots[k], slots[k]);
	/* The ESP slot holds ESP as it was before pusha. */
	RT_CHECK_EQ(pusha_slots[3], pusha_esp[0]);
	RT_CHECK_EQ(pusha_esp[0] - pusha_esp[1], 32);
	RT_CHECK_EQ(pusha_esp[2], pusha_esp[0]);
	static const uint32_t regs[8] = { 0x11111111, 0xc1c1c1c1, 0xd2d2d2d2, 0xb3b3b3b3, 0,
					  0xb5b5b5b5, 0x66666666, 0xd7d7d7d7 };
	for (int k = 0; k < 8; k++)
		if (k != 4)
			expect("popa reg", k, pusha_regs[k], regs[k]);
	/* pushaw: DI SI BP SP BX DX CX AX, 16 bits each. */
	static const uint16_t wslots[8] = { 0x7777, 0x6666, 0x5555, 0, 0x4444, 0x3333, 0x2222,
					    0x1111 };
	for (int k = 0; k < 8; k++)
		if (k != 3)
			expect("pushaw slot", k, pushaw_slots[k], wslots[k]);
	RT_CHECK_EQ(pushaw_slots[3], (uint16_t)pusha_esp[0]);	/* SP before */
	static const uint32_t wregs[8] = { 0x12349999, 0xcccc2222, 0xdddd3333, 0xbbbb4444,
					   0, 0xeeee5555, 0x56786666, 0xd0d07777 };
	for (int k = 0; k < 8; k++)
		expect("popaw reg", k, pushaw_regs[k], wregs[k]);
	section_end(1);
}

/* ---- bound (in range), arpl, into with OF=0 ---- */

int32_t bound32[2] = { -10, 100 };
int16_t bound16[2] = { -3, 7 };

static void test_bound_arpl(void)
{
	uint32_t cases = 0;
	section("bound/arpl/into");
	static const int32_t in32[] = { -10, -1, 0, 5, 99, 100 };
	for (unsigned i = 0; i < 6; i++) {
		/* 62 /r: raises #BR (and fails the run) when out of range. */
		__asm__ volatile(".byte 0x62, 0x05\n\t.long bound32" : : "a"(in32[i]) : "memory");
		cases++;
	}
	static const int16_t in16[] = { -3, 0, 7 };
	for (unsigned i = 0; i < 3; i++) {
		/* 16-bit bound; the upper half of EAX is not part of the test. */
		__asm__ volatile(".byte 0x66, 0x62, 0x05\n\t.long bound16"
				 : : "a"(0x7fff0000u | (uint16_t)in16[i]) : "memory");
		cases++;
	}
	/* arpl r/m16, r16: raise the RPL of the destination to the source's. */
	static const struct { uint32_t dst, src, want, zf; } arpl_cases[] = {
		{ 0xabcd0010, 0x0003, 0xabcd0013, 1 },
		{ 0xabcd0013, 0xffff0001, 0xabcd0013, 0 },
		{ 0x00000002, 0x0002, 0x00000002, 0 },
		{ 0x12340001, 0x0002, 0x12340002, 1 },
	};
	for (unsigned i = 0; i < 4; i++) {
		uint32_t d = arpl_cases[i].dst, f;
		__asm__(".byte 0x63, 0xc3\n\t"	/* arpl bx, ax */
			"pushfl\n\tpopl %[f]"
			: "+b"(d), [f] "=r"(f) : "a"(arpl_cases[i].src) : "cc");
		expect("arpl reg", i, d, arpl_cases[i].want);
		expect("arpl zf", i, f & F_ZF, arpl_cases[i].zf ? F_ZF : 0);
		static uint32_t arpl_cell;
		arpl_cell = arpl_cases[i].dst;
		__asm__(".byte 0x63, 0x0d\n\t.long %c[m]\n\t"	/* arpl [m], cx */
			"pushfl\n\tpopl %[f]"
			: [f] "=r"(f) : "c"(arpl_cases[i].src), [m] "i"(&arpl_cell) : "cc", "memory");
		expect("arpl mem", i, arpl_cell, arpl_cases[i].want);
		expect("arpl mem zf", i, f & F_ZF, arpl_cases[i].zf ? F_ZF : 0);
		cases++;
	}
	/* into with OF=0 does nothing (0xce; invalid in 64-bit mode). */
	uint32_t v = 5;
	__asm__ volatile("xorl %%ecx, %%ecx\n\t.byte 0xce\n\tincl %0" : "+r"(v) : : "ecx", "cc");
	RT_CHECK_EQ(v, 6);
	section_end(cases);
}

/* ---- BCD: daa das aaa aas aam aad ---- */

/* From the SDM's pseudo-code. OF is undefined after all of these; aaa/aas
   leave SF ZF PF undefined too, aam/aad leave AF CF undefined. */
static uint32_t model_daa(uint32_t al, uint32_t fin, int sub, uint32_t *f)
{
	uint32_t old_al = al, cf = 0, af = 0;
	if ((al & 0xf) > 9 || (fin & F_AF)) {
		if (sub && al < 6)
			cf = 1;
		al = (sub ? al - 6 : al + 6) & 0xff;
		if (!sub && old_al > 0xf9)
			cf = 1;
		af = 1;
	}
	if (old_al > 0x99 || (fin & F_CF)) {
		al = (sub ? al - 0x60 : al + 0x60) & 0xff;
		cf = 1;
	} else if (!sub) {
		cf = 0;
	}
	if (fin & F_CF)
		cf = 1;
	*f = szp8(al) | (cf ? F_CF : 0) | (af ? F_AF : 0);
	return al;
}

/* ax in, ax out. */
static uint32_t model_aaa(uint32_t ax, uint32_t fin, int sub, uint32_t *f)
{
	uint32_t al = ax & 0xff, ah = ax >> 8 & 0xff;
	if ((al & 0xf) > 9 || (fin & F_AF)) {
		al = sub ? al - 6 : al + 6;
		ah = sub ? ah - 1 : ah + 1;
		*f = F_AF | F_CF;
	} else {
		*f = 0;
	}
	return (ah & 0xff) << 8 | (al & 0x0f);
}

uint32_t bcd_ax;
#define HW_BCD(name, bytes)								\
static uint32_t hw_##name(uint32_t ax, uint32_t fin, uint32_t *fout)			\
{											\
	__asm__("pushl %[fin]\n\tpopfl\n\t.byte " bytes "\n\tpushfl\n\tpopl %[f]"	\
		: "+a"(ax), [f] "=r"(*fout) : [fin] "r"(fin) : "cc");			\
	return ax;									\
}
HW_BCD(daa, "0x27")
HW_BCD(das, "0x2f")
HW_BCD(aaa, "0x37")
HW_BCD(aas, "0x3f")
HW_BCD(aam10, "0xd4, 0x0a")
HW_BCD(aam16, "0xd4, 0x10")
HW_BCD(aam7, "0xd4, 0x07")
HW_BCD(aam255, "0xd4, 0xff")
HW_BCD(aad10, "0xd5, 0x0a")
HW_BCD(aad16, "0xd5, 0x10")
HW_BCD(aad7, "0xd5, 0x07")
HW_BCD(aad0, "0xd5, 0x00")

static void test_bcd(void)
{
	uint32_t cases = 0, f, wf;
	section("bcd");
	/* By hand: 0x19 + 0x28 = 0x41 in binary, daa makes it BCD 0x47. */
	RT_CHECK_EQ(hw_daa(0x41, F_FIXED | F_AF, &f), 0x47);
	RT_CHECK_EQ(hw_das(0x1b, F_FIXED, &f), 0x15);		/* 0x42 - 0x27 */
	RT_CHECK_EQ(hw_aaa(0x010b, F_FIXED, &f) & 0xffff, 0x0201);
	RT_CHECK_EQ(hw_aam10(0x63, F_FIXED, &f) & 0xffff, 0x0909);	/* 99 */
	RT_CHECK_EQ(hw_aam16(0xab, F_FIXED, &f) & 0xffff, 0x0a0b);
	RT_CHECK_EQ(hw_aad10(0x0407, F_FIXED, &f) & 0xffff, 0x002f);	/* 47 */
	RT_CHECK_EQ(hw_aad7(0x0306, F_FIXED, &f) & 0xffff, 0x001b);	/* 3 * 7 + 6 */
	for (uint32_t al = 0; al < 256; al++)
		for (uint32_t k = 0; k < 4; k++) {
			uint32_t fin = F_FIXED | (k & 1 ? F_CF : 0) | (k & 2 ? F_AF : 0);
			uint32_t ax = 0x5a00 | al, hi = 0xcafe0000;
			uint32_t mask = F_CF | F_AF | F_SF | F_ZF | F_PF;
			uint32_t got = hw_daa(hi | ax, fin, &f);
			uint32_t want = model_daa(al, fin, 0, &wf);
			expect("daa", ax | k << 16, got, hi | 0x5a00 | want);
			expect("daa flags", ax | k << 16, f & mask, wf);
			got = hw_das(hi | ax, fin, &f);
			want = model_daa(al, fin, 1, &wf);
			expect("das", ax | k << 16, got, hi | 0x5a00 | want);
			expect("das flags", ax | k << 16, f & mask, wf);
			/* Vendors differ when AL+6 carries or AL-6 borrows into AH
			   (AX+106h vs AL+6, AH+1): those inputs are left out. */
			int adjust = (al & 0xf) > 9 || (k & 2);
			if (!(adjust && al > 0xf9)) {
				got = hw_aaa(hi | ax, fin, &f);
				want = model_aaa(ax, fin, 0, &wf);
				expect("aaa", ax | k << 16, got, hi | want);
				expect("aaa flags", ax | k << 16, f & (F_AF | F_CF), wf);
			}
			if (!(adjust && al < 6)) {
				got = hw_aas(hi | ax, fin, &f);
				want = model_aaa(ax, fin, 1, &wf);
				expect("aas", ax | k << 16, got, hi | want);
				expect("aas flags", ax | k << 16, f & (F_AF | F_CF), wf);
			}
			cases++;
		}
	/* aam/aad with several bases (the immediate is the base). */
	static const struct {
		const char *name;
		uint32_t base, is_aad;
		uint32_t (*hw)(uint32_t, uint32_t, uint32_t *);
	} adj[] = {
		{ "aam10", 10, 0, hw_aam10 }, { "aam16", 16, 0, hw_aam16 },
		{ "aam7", 7, 0, hw_aam7 }, { "aam255", 255, 0, hw_aam255 },
		{ "aad10", 10, 1, hw_aad10 }, { "aad16", 16, 1, hw_aad16 },
		{ "aad7", 7, 1, hw_aad7 }, { "aad0", 0, 1, hw_aad0 },
	};
	for (unsigned o = 0; o < sizeof(adj) / sizeof(adj[0]); o++)
		for (uint32_t ax = 0; ax < 0x10000; ax += 0x0b3) {
			uint32_t al = ax & 0xff, ah = ax >> 8, q = 0, want;
			if (adj[o].is_aad) {
				/* al + ah * base by repeated addition */
				for (uint32_t n = 0; n < ah; n++)
					al += adj[o].base;
				want = al & 0xff;
			} else {
				/* al / base and al % base by repeated subtraction */
				while (al >= adj[o].base) {
					al -= adj[o].base;
					q++;
				}
				want = q << 8 | al;
			}
			uint32_t got = adj[o].hw(0x77770000 | ax, F_FIXED | F_ARITH, &f);
			expect(adj[o].name, ax, got, 0x77770000 | want);
			expect(adj[o].name, ax, f & (F_SF | F_ZF | F_PF), szp8(want));
			cases++;
		}
	section_end(cases);
}

/* ---- salc, the 0x82 alias, xlat, lahf/sahf, cbw & co ---- */

static uint32_t hw_salc(uint32_t eax, uint32_t fin, uint32_t *fout)
{
	__asm__("pushl %[fin]\n\tpopfl\n\t.byte 0xd6\n\tpushfl\n\tpopl %[f]"
		: "+a"(eax), [f] "=r"(*fout) : [fin] "r"(fin) : "cc");
	return eax;
}

/* 0x82 /op ib and 0x80 /op ib on AL, op from 0 (add) to 7 (cmp). */
#define HW_GRP1(op)									\
static uint32_t hw_82_##op(uint32_t eax, uint32_t fin, uint32_t *fout)		\
{											\
	__asm__("pushl %[fin]\n\tpopfl\n\t.byte 0x82, 0xc0 + 8 * " #op ", 0x9c\n\t"	\
		"pushfl\n\tpopl %[f]" : "+a"(eax), [f] "=r"(*fout) : [fin] "r"(fin) : "cc");\
	return eax;									\
}											\
static uint32_t hw_80_##op(uint32_t eax, uint32_t fin, uint32_t *fout)		\
{											\
	__asm__("pushl %[fin]\n\tpopfl\n\t.byte 0x80, 0xc0 + 8 * " #op ", 0x9c\n\t"	\
		"pushfl\n\tpopl %[f]" : "+a"(eax), [f] "=r"(*fout) : [fin] "r"(fin) : "cc");\
	return eax;									\
}
HW_GRP1(0) HW_GRP1(1) HW_GRP1(2) HW_GRP1(3) HW_GRP1(4) HW_GRP1(5) HW_GRP1(6) HW_GRP1(7)
typedef uint32_t (*grp1_fn)(uint32_t, uint32_t, uint32_t *);
static const grp1_fn grp1_82[8] = { hw_82_0, hw_82_1, hw_82_2, hw_82_3,
				    hw_82_4, hw_82_5, hw_82_6, hw_82_7 };
static const grp1_fn grp1_80[8] = { hw_80_0, hw_80_1, hw_80_2, hw_80_3,
				    hw_80_4, hw_80_5, hw_80_6, hw_80_7 };
uint8_t grp1_cell;

static const uint8_t xlat_table[256] = {
#define X4(n) (uint8_t)((n) * 37 + 11), (uint8_t)((n + 1) * 37 + 11), \
	      (uint8_t)((n + 2) * 37 + 11), (uint8_t)((n + 3) * 37 + 11)
#define X16(n) X4(n), X4(n + 4), X4(n + 8), X4(n + 12)
#define X64(n) X16(n), X16(n + 16), X16(n + 32), X16(n + 48)
	X64(0), X64(64), X64(128), X64(192)
};

static void test_misc(void)
{
	uint32_t cases = 0, f, f2;
	section("salc/0x82/xlat/lahf");
	RT_CHECK_EQ(hw_salc(0x12345678, F_FIXED | F_CF | F_ZF, &f), 0x123456ff);
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_ZF);	/* flags untouched */
	RT_CHECK_EQ(hw_salc(0x123456ff, F_FIXED | F_SF, &f), 0x12345600);
	RT_CHECK_EQ(f & F_ARITH, F_SF);
	/* 0x82 is 0x80 under another name; by hand: al 0x70 + 0x9c = 0x10c. */
	RT_CHECK_EQ(hw_82_0(0xabcd0070, F_FIXED, &f), 0xabcd000c);
	RT_CHECK_EQ(f & F_ARITH, F_CF | F_PF);
	RT_CHECK_EQ(hw_82_7(0x9c, F_FIXED, &f), 0x9c);		/* cmp: equal */
	RT_CHECK_EQ(f & (F_ZF | F_CF), F_ZF);
	for (int op = 0; op < 8; op++)
		for (uint32_t al = 0; al < 256; al += 5)
			for (int k = 0; k < 2; k++) {
				uint32_t fin = F_FIXED | (k ? F_ARITH : 0);
				/* and/or/xor leave AF undefined */
				uint32_t mask = op == 1 || op == 4 || op == 6 ? F_ARITH & ~F_AF : F_ARITH;
				uint32_t got = grp1_82[op](0x55aa3300 | al, fin, &f);
				uint32_t want = grp1_80[op](0x55aa3300 | al, fin, &f2);
				expect("0x82", (uint32_t)op << 8 | al, got, want);
				expect("0x82 flags", (uint32_t)op << 8 | al, f & mask, f2 & mask);
				cases++;
			}
	/* 0x82 with an absolute memory operand: sub byte [grp1_cell], 0x30 */
	grp1_cell = 0x35;
	__asm__ volatile(".byte 0x82, 0x2d\n\t.long grp1_cell\n\t.byte 0x30" : : : "cc", "memory");
	RT_CHECK_EQ(grp1_cell, 5);

	for (uint32_t al = 0; al < 256; al += 3) {
		uint32_t eax = 0xfedcba00 | al;
		__asm__("xlat" : "+a"(eax) : "b"(xlat_table) : "memory");
		expect("xlat", al, eax, 0xfedcba00 | (uint8_t)(al * 37 + 11));
		cases++;
	}

	/* sahf loads SF ZF AF PF CF from AH; lahf stores them (bit 1 reads 1). */
	uint32_t eax = 0xd500;
	__asm__("sahf\n\tmovb $0, %%ah\n\tlahf" : "+a"(eax) : : "cc");
	RT_CHECK_EQ(eax, 0xd700);
	eax = 0x2a00;	/* bits 3 and 5 are not flags: they read back 0 */
	__asm__("sahf\n\tlahf" : "+a"(eax) : : "cc");
	RT_CHECK_EQ(eax, 0x0200);

	uint32_t a = 0x12345680, d = 0x11111111;
	__asm__("cbw" : "+a"(a));
	RT_CHECK_EQ(a, 0x1234ff80);
	__asm__("cwde" : "+a"(a));
	RT_CHECK_EQ(a, 0xffffff80);
	a = 0x00009000;
	__asm__("cwd" : "+a"(a), "+d"(d));
	RT_CHECK_EQ(d, 0x1111ffff);
	a = 0x80000000;
	__asm__("cltd" : "+a"(a), "=d"(d));
	RT_CHECK_EQ(d, 0xffffffff);
	mix(a ^ d);
	section_end(cases);
}

/* ---- lds/les/lfs/lgs/lss, push/pop of segment registers ---- */

#define SEL_ALT 0x18	/* GDT slot 3: another flat data segment */

struct __attribute__((packed)) far_ptr32 { uint32_t off; uint16_t sel; };
struct __attribute__((packed)) far_ptr16 { uint16_t off; uint16_t sel; };
struct far_ptr32 fp32 = { 0x12345678, SEL_ALT };
struct far_ptr16 fp16 = { 0x9abc, SEL_ALT };
struct far_ptr32 fp_stack;

static uint16_t read_sreg(int which)
{
	uint32_t v = 0xffffffff;
	switch (which) {
	case 0: __asm__ volatile("movw %%es, %w0" : "+r"(v)); break;
	case 1: __asm__ volatile("movw %%cs, %w0" : "+r"(v)); break;
	case 2: __asm__ volatile("movw %%ss, %w0" : "+r"(v)); break;
	case 3: __asm__ volatile("movw %%ds, %w0" : "+r"(v)); break;
	case 4: __asm__ volatile("movw %%fs, %w0" : "+r"(v)); break;
	default: __asm__ volatile("movw %%gs, %w0" : "+r"(v)); break;
	}
	return (uint16_t)v;
}

static void restore_sregs(void)
{
	__asm__ volatile("movw %w0, %%ds\n\tmovw %w0, %%es\n\tmovw %w0, %%fs\n\tmovw %w0, %%gs"
			 : : "r"(RT_DS) : "memory");
}

static void test_segments(void)
{
	uint32_t off;
	section("lds/les/push sreg");
	rt_gdt_set(3, 0, 0xfffff, 0x92, 0xc0);	/* flat, writable, 4 KiB granular */
	rt_lgdt();

	__asm__ volatile("lds fp32, %0" : "=r"(off) : : "memory");	/* C5 */
	uint16_t ds = read_sreg(3);
	restore_sregs();
	RT_CHECK_EQ(off, 0x12345678);
	RT_CHECK_EQ(ds, SEL_ALT);
	__asm__ volatile("les fp32, %0" : "=r"(off) : : "memory");	/* C4 */
	RT_CHECK_EQ(read_sreg(0), SEL_ALT);
	restore_sregs();
	RT_CHECK_EQ(off, 0x12345678);
	off = 0xffff0000;
	__asm__ volatile("lfsw fp16, %w0" : "+r"(off) : : "memory");	/* 66 0F B4 */
	RT_CHECK_EQ(read_sreg(4), SEL_ALT);
	RT_CHECK_EQ(off, 0xffff9abc);
	__asm__ volatile("lgs fp32, %0" : "=r"(off) : : "memory");
	RT_CHECK_EQ(read_sreg(5), SEL_ALT);
	restore_sregs();
	off = 0x11110000;
	__asm__ volatile("ldsw fp16, %w0" : "+r"(off) : : "memory");	/* 66 C5 */
	ds = read_sreg(3);
	restore_sregs();
	RT_CHECK_EQ(off, 0x11119abc);
	RT_CHECK_EQ(ds, SEL_ALT);

	/* lss switches SS:ESP at once; read both, then switch back. */
	/* Static: the asm must not address them relative to a moving ESP. */
	static uint32_t esp_seen, old_esp;
	static uint16_t ss_seen;
	__asm__ volatile("movl %%esp, %[old]\n\t"
			 "leal -64(%%esp), %%eax\n\t"
			 "movl %%eax, fp_stack\n\t"
			 "movw $0x18, fp_stack+4\n\t"
			 "lss fp_stack, %%esp\n\t"
			 "movl %%esp, %[e]\n\t"
			 "movw %%ss, %[s]\n\t"
			 "pushl $0x10\n\t"		/* the stack works: through SS 0x18 */
			 "popl %%eax\n\t"
			 "movw %%ax, %%ss\n\t"
			 "movl %[old], %%esp"
			 : [old] "=m"(old_esp), [e] "=m"(esp_seen), [s] "=m"(ss_seen)
			 : : "eax", "memory");
	RT_CHECK_EQ(old_esp - esp_seen, 64);
	RT_CHECK_EQ(ss_seen, SEL_ALT);
	RT_CHECK_EQ(read_sreg(2), RT_DS);

	/* push sreg: 4 bytes with a 32-bit operand size, of which only the
	   low 16 bits are defined; 2 bytes with 0x66. */
	uint32_t delta[6], low[6];
	__asm__ volatile(
		"movl %%esp, %%ecx\n\t"
		"push %%es\n\tpush %%cs\n\tpush %%ss\n\tpush %%ds\n\tpush %%fs\n\tpush %%gs\n\t"
		"subl %%esp, %%ecx\n\tmovl %%ecx, 0(%[d])\n\t"
		"movzwl 20(%%esp), %%eax\n\tmovl %%eax, 0(%[l])\n\t"
		"movzwl 16(%%esp), %%eax\n\tmovl %%eax, 4(%[l])\n\t"
		"movzwl 12(%%esp), %%eax\n\tmovl %%eax, 8(%[l])\n\t"
		"movzwl 8(%%esp), %%eax\n\tmovl %%eax, 12(%[l])\n\t"
		"movzwl 4(%%esp), %%eax\n\tmovl %%eax, 16(%[l])\n\t"
		"movzwl 0(%%esp), %%eax\n\tmovl %%eax, 20(%[l])\n\t"
		"addl $24, %%esp\n\t"
		/* pop sreg with values pushed as plain words */
		"pushl $0x18\n\tpop %%ds\n\tpushl $0x18\n\tpop %%es\n\tpushl $0x18\n\tpop %%fs\n\t"
		"pushl $0x18\n\tpop %%gs\n\t"
		"movl %%esp, %%ecx\n\tpushl $0x18\n\tpop %%ss\n\tsubl %%esp, %%ecx\n\t"
		"movl %%ecx, 4(%[d])\n\t"
		"movw %%ds, %%ax\n\tmovw %%es, %%cx\n\taddw %%cx, %%ax\n\t"
		"movw %%fs, %%cx\n\taddw %%cx, %%ax\n\tmovw %%gs, %%cx\n\taddw %%cx, %%ax\n\t"
		"movw %%ss, %%cx\n\taddw %%cx, %%ax\n\t"
		"movzwl %%ax, %%eax\n\tmovl %%eax, 8(%[d])\n\t"
		/* 16-bit forms */
		"movl %%esp, %%ecx\n\tpushw %%ds\n\tsubl %%esp, %%ecx\n\tmovl %%ecx, 12(%[d])\n\t"
		"movzwl (%%esp), %%eax\n\tmovl %%eax, 16(%[d])\n\t"
		"movw $0x10, (%%esp)\n\tpopw %%es\n\t"
		"movl %%esp, %%ecx\n\tpushw $0x10\n\tpopw %%ss\n\tsubl %%esp, %%ecx\n\t"
		"movl %%ecx, 20(%[d])\n\t"
		: : [d] "r"(delta), [l] "r"(low) : "eax", "ecx", "memory");
	restore_sregs();
	RT_CHECK_EQ(delta[0], 24);
	static const uint32_t sels[6] = { RT_DS, RT_CS, RT_DS, RT_DS, RT_DS, RT_DS };
	for (int k = 0; k < 6; k++)
		RT_CHECK_EQ(low[k], sels[k]);
	RT_CHECK_EQ(delta[1], 0);
	RT_CHECK_EQ(delta[2], 5 * SEL_ALT);
	RT_CHECK_EQ(delta[3], 2);
	RT_CHECK_EQ(delta[4], SEL_ALT);	/* DS was still 0x18 here */
	RT_CHECK_EQ(delta[5], 0);
	RT_CHECK_EQ(read_sreg(0), RT_DS);
	RT_CHECK_EQ(read_sreg(2), RT_DS);
	for (int k = 0; k < 6; k++)
		mix(delta[k] ^ low[k]);
	section_end(1);
}

/* ---- moffs moves and 16-bit push/pop ---- */

uint8_t moffs_b = 0x5a;
uint16_t moffs_w = 0x1234;
uint32_t moffs_d = 0xdeadbeef;
uint16_t push16_cell = 0x7e7e;

static void test_moffs_push16(void)
{
	uint32_t r[4];
	section("moffs/push16");
	__asm__ volatile(
		"movl $0xffffffff, %%eax\n\t"
		"movb moffs_b, %%al\n\tmovl %%eax, 0(%[r])\n\t"			/* A0 */
		"movw moffs_w, %%ax\n\tmovl %%eax, 4(%[r])\n\t"			/* 66 A1 */
		"movl moffs_d, %%eax\n\tmovl %%eax, 8(%[r])\n\t"		/* A1 */
		"movl $0x11223344, %%eax\n\t"
		"movb %%al, moffs_b\n\t"					/* A2 */
		"movw %%ax, moffs_w\n\t"					/* 66 A3 */
		"movl %%eax, moffs_d\n\t"					/* A3 */
		: : [r] "r"(r) : "eax", "memory");
	RT_CHECK_EQ(r[0], 0xffffff5a);
	RT_CHECK_EQ(r[1], 0xffff1234);
	RT_CHECK_EQ(r[2], 0xdeadbeef);
	RT_CHECK_EQ(moffs_b, 0x44);
	RT_CHECK_EQ(moffs_w, 0x3344);
	RT_CHECK_EQ(moffs_d, 0x11223344);

	uint32_t out[8];
	__asm__ volatile(
		"movl %%esp, %%edx\n\t"
		"pushw $0x1234\n\t"		/* 66 68 iw */
		"pushw $-2\n\t"			/* 66 6A ib */
		"movl $0xaaaa5555, %%eax\n\tpushw %%ax\n\t"
		"pushw push16_cell\n\t"		/* 66 FF 35 */
		"movl %%edx, %%ecx\n\tsubl %%esp, %%ecx\n\tmovl %%ecx, 0(%[o])\n\t"	/* 8 */
		"movl 0(%%esp), %%eax\n\tmovl %%eax, 4(%[o])\n\t"	/* 0x55557e7e */
		"movl 4(%%esp), %%eax\n\tmovl %%eax, 8(%[o])\n\t"	/* 0x1234fffe */
		"movl $0xcccccccc, %%ecx\n\tpopw %%cx\n\tmovl %%ecx, 12(%[o])\n\t"
		"popw push16_cell\n\t"		/* 66 8F 05 */
		"popl %%eax\n\tmovl %%eax, 16(%[o])\n\t"
		"movl %%edx, %%ecx\n\tsubl %%esp, %%ecx\n\tmovl %%ecx, 20(%[o])\n\t"	/* 0 */
		: : [o] "r"(out) : "eax", "ecx", "edx", "memory");
	RT_CHECK_EQ(out[0], 8);
	RT_CHECK_EQ(out[1], 0x55557e7e);
	RT_CHECK_EQ(out[2], 0x1234fffe);
	RT_CHECK_EQ(out[3], 0xcccc7e7e);
	RT_CHECK_EQ(push16_cell, 0x5555);
	RT_CHECK_EQ(out[4], 0x1234fffe);
	RT_CHECK_EQ(out[5], 0);
	for (int k = 0; k < 6; k++)
		mix(out[k]);
	section_end(1);
}

/* ---- 16-bit addressing (0x67) ---- */

/*
 * 16-bit addresses reach only [0, 64 KiB): the memory tests use 256 bytes
 * at 0x7000, free after boot under QEMU (its multiboot data sits at 0x9000)
 * and under btvmm (loader data lives above 64 KiB). The bytes are saved and
 * put back.
 */
#define LOW_AREA 0x7000u

static void test_addr16(void)
{
	uint32_t r[20];
	uint8_t saved[256];
	volatile uint8_t *low = (volatile uint8_t *)LOW_AREA;
	section("addr16");
	for (int i = 0; i < 256; i++)
		saved[i] = low[i];

	/* lea: 16-bit sums wrap at 64 KiB and zero-extend into 32-bit registers. */
	__asm__ volatile(
		"pushl %%ebp\n\t"
		"movl $0x1234fff0, %%ebx\n\tmovl $0xaaaa0020, %%esi\n\t"
		"movl $0xbbbb1000, %%edi\n\tmovl $0xcccc8000, %%ebp\n\t"
		"leal (%%bx,%%si), %%eax\n\tmovl %%eax, 0(%[r])\n\t"		/* 0x0010 */
		"leal (%%bx,%%di), %%eax\n\tmovl %%eax, 4(%[r])\n\t"		/* 0x0ff0 */
		"leal (%%bp,%%si), %%eax\n\tmovl %%eax, 8(%[r])\n\t"		/* 0x8020 */
		"leal (%%bp,%%di), %%eax\n\tmovl %%eax, 12(%[r])\n\t"		/* 0x9000 */
		"leal (%%si), %%eax\n\tmovl %%eax, 16(%[r])\n\t"		/* 0x0020 */
		"leal (%%di), %%eax\n\tmovl %%eax, 20(%[r])\n\t"		/* 0x1000 */
		".byte 0x67, 0x8d, 0x06, 0x34, 0x12\n\t"	/* lea eax, [0x1234] (disp16) */
		"movl %%eax, 24(%[r])\n\t"					/* 0x1234 */
		"leal (%%bx), %%eax\n\tmovl %%eax, 28(%[r])\n\t"		/* 0xfff0 */
		"leal 0x7f(%%bx,%%si), %%eax\n\tmovl %%eax, 32(%[r])\n\t"	/* 0x008f */
		"leal -1(%%bp), %%eax\n\tmovl %%eax, 36(%[r])\n\t"		/* 0x7fff */
		"leal 0x8000(%%bx,%%di), %%eax\n\tmovl %%eax, 40(%[r])\n\t"	/* 0x8ff0 */
		"movl $0x55555555, %%eax\n\t"
		"leaw 0x10(%%bx,%%si), %%ax\n\tmovl %%eax, 44(%[r])\n\t"	/* 0x55550020 */
		"popl %%ebp\n\t"	/* [r] in ecx: not ebp, which the asm borrows */
		: : [r] "c"(r) : "eax", "ebx", "esi", "edi", "memory");
	static const uint32_t want_lea[12] = { 0x0010, 0x0ff0, 0x8020, 0x9000, 0x0020, 0x1000,
					       0x1234, 0xfff0, 0x008f, 0x7fff, 0x8ff0,
					       0x55550020 };
	for (int k = 0; k < 12; k++)
		expect("lea16", k, r[k], want_lea[k]);

	/* Memory through 16-bit addresses, with a sum that wraps. */
	__asm__ volatile(
		"pushl %%ebp\n\t"
		"movl $0xffff7000, %%ebx\n\tmovl $0x00000010, %%esi\n\t"
		"movl $0x11223344, (%%bx,%%si)\n\t"		/* [0x7010] */
		"movl 0x7010, %%eax\n\tmovl %%eax, 0(%[r])\n\t"
		"movl $0x1234fff0, %%ebx\n\tmovl $0x00007030, %%esi\n\t"
		"movl $0x55667788, (%%bx,%%si)\n\t"		/* (0xfff0 + 0x7030) & 0xffff */
		"movl 0x7020, %%eax\n\tmovl %%eax, 4(%[r])\n\t"
		"movl $0xabcd7000, %%ebp\n\tmovl $0x0000000c, %%edi\n\t"
		"movl 4(%%bp,%%di), %%eax\n\tmovl %%eax, 8(%[r])\n\t"	/* [0x7010] via SS */
		/* movsb and rep stosb use SI/DI/CX and leave the upper halves */
		"movl $0xabcd7010, %%esi\n\tmovl $0x12347040, %%edi\n\t"
		"addr16 movsb\n\t"
		"movl %%esi, 12(%[r])\n\tmovl %%edi, 16(%[r])\n\t"
		"movl $0xffff0004, %%ecx\n\tmovb $0xee, %%al\n\t"
		"addr16 rep stosb\n\t"
		"movl %%ecx, 20(%[r])\n\tmovl %%edi, 24(%[r])\n\t"
		"movl 0x7040, %%eax\n\tmovl %%eax, 28(%[r])\n\t"
		/* jcxz (0x67 E3) looks at CX only; loop with 0x67 counts in CX */
		"movl $0x10000, %%ecx\n\txorl %%eax, %%eax\n\t"
		"jcxz 1f\n\tmovl $1, %%eax\n"
		"1:\tmovl %%eax, 32(%[r])\n\t"
		"movl $0x20003, %%ecx\n\txorl %%eax, %%eax\n"
		"2:\tincl %%eax\n\taddr16 loop 2b\n\t"
		"movl %%eax, 36(%[r])\n\tmovl %%ecx, 40(%[r])\n\t"
		"popl %%ebp\n\t"
		: : [r] "d"(r) : "eax", "ebx", "ecx", "esi", "edi", "memory", "cc");
	static const uint32_t want_mem[11] = {
		0x11223344, 0x55667788, 0x11223344, 0xabcd7011, 0x12347041,
		0xffff0000, 0x12347045, 0xeeeeee44, 0, 3, 0x20000,
	};
	for (int k = 0; k < 11; k++)
		expect("mem16", k, r[k], want_mem[k]);

	for (int i = 0; i < 256; i++)
		low[i] = saved[i];
	section_end(23);
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_info;
	rt_puts("legacy: 32-bit-only encodings\n");
	RT_CHECK_EQ(mb_magic, 0x2badb002);
	test_incdec();
	test_pusha();
	test_bound_arpl();
	test_bcd();
	test_misc();
	test_segments();
	test_moffs_push16();
	test_addr16();
}
