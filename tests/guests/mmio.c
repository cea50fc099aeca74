/*
 * MMIO guest: every operand shape of the general-purpose instructions, run
 * with its memory operand on device memory, checked against the same
 * instruction on RAM and (by run-guest.sh) against QEMU byte for byte.
 *
 * The device is the local APIC's timer initial-count register (0xfee00380),
 * which stores any 32-bit value and reads it back (the timer's LVT is
 * masked at reset, so it never interrupts):
 *  - dword operands: registers, flags and the register's value afterwards
 *    must be what the same instruction does on RAM;
 *  - byte and word operands: the APIC takes only dword accesses (QEMU's
 *    reads 0 and drops the write for narrower ones), so registers and flags
 *    must be what RAM holding zeros gives, and the register keeps its value.
 * (Addresses nothing decodes are not tested here: btvmm reads all ones
 * there, as a PC's PCI bus does, QEMU 7.2 reads 0; docs/fidelity.md.)
 */
#include "rt.h"

#define APIC_TMICT ((volatile uint32_t *)0xfee00380u)

struct st {
	uint32_t eax, ebx, ecx, edx, edi, fl;
};

/* The flags an instruction defines; the rest may differ between CPUs. */
#define F_ALL 0x8d5u  /* OF SF ZF AF PF CF */
#define F_LOGIC 0x8c5u /* AF undefined after AND/OR/XOR/TEST */
#define F_SHIFT 0x0c5u /* OF (count > 1) and AF undefined: SF ZF PF CF */
#define F_ROT 0x001u   /* CF (OF undefined for counts > 1) */
#define F_CF 0x001u    /* BT*, MUL/IMUL also OF */
#define F_MUL 0x801u
#define F_NONE 0u

/* One instruction, its memory operand at (%esi), with the state in *s. */
#define CASE(fn, insn)                                                          \
	static void fn(struct st *s, volatile void *m)                          \
	{                                                                       \
		uint32_t fl = s->fl;                                            \
		volatile void *p = m;                                           \
		__asm__ volatile("pushl %[fl]\n\tpopfl\n\t" insn "\n\tpushfl\n\tpopl %[fl]" \
				 : "+a"(s->eax), "+b"(s->ebx), "+c"(s->ecx), "+d"(s->edx), \
				   "+D"(s->edi), "+S"(p), [fl] "+m"(fl)         \
				 :                                              \
				 : "cc", "memory");                             \
		s->fl = fl;                                                     \
	}

/* dword forms */
CASE(mov_st, "movl %%eax, (%%esi)")
CASE(mov_ld, "movl (%%esi), %%ebx")
CASE(mov_imm, "movl $0x12345678, (%%esi)")
CASE(mov_moffs, "movl 0xfee00380, %%eax")
CASE(add_st, "addl %%eax, (%%esi)")
CASE(add_ld, "addl (%%esi), %%eax")
CASE(add_imm8, "addl $-3, (%%esi)")
CASE(or_st, "orl %%ebx, (%%esi)")
CASE(adc_st, "adcl %%eax, (%%esi)")
CASE(sbb_ld, "sbbl (%%esi), %%ebx")
CASE(and_imm, "andl $0xf0f0f0f0, (%%esi)")
CASE(sub_st, "lock subl %%ecx, (%%esi)")
CASE(xor_ld, "xorl (%%esi), %%edx")
CASE(cmp_st, "cmpl %%eax, (%%esi)")
CASE(cmp_ld, "cmpl (%%esi), %%eax")
CASE(cmp_imm, "cmpl $5, (%%esi)")
CASE(test_st, "testl %%eax, (%%esi)")
CASE(test_imm, "testl $0x80000001, (%%esi)")
CASE(inc_m, "incl (%%esi)")
CASE(dec_m, "lock decl (%%esi)")
CASE(neg_m, "negl (%%esi)")
CASE(not_m, "notl (%%esi)")
CASE(shl_imm, "shll $3, (%%esi)")
CASE(shr_cl, "shrl %%cl, (%%esi)")
CASE(sar_1, "sarl (%%esi)")
CASE(rol_imm, "roll $5, (%%esi)")
CASE(ror_cl, "rorl %%cl, (%%esi)")
CASE(rcl_1, "rcll $1, (%%esi)")
CASE(rcr_cl, "rcrl %%cl, (%%esi)")
CASE(shld_cl, "shldl %%cl, %%eax, (%%esi)")
CASE(shrd_imm, "shrdl $4, %%ebx, (%%esi)")
CASE(bt_imm, "btl $5, (%%esi)")
CASE(bts_imm, "lock btsl $31, (%%esi)")
CASE(btr_reg, "btrl %%ecx, (%%esi)")
CASE(btc_imm, "btcl $0, (%%esi)")
CASE(xchg_m, "xchgl %%eax, (%%esi)")
CASE(xadd_m, "lock xaddl %%ebx, (%%esi)")
CASE(cmpxchg_m, "lock cmpxchgl %%ecx, (%%esi)")
CASE(imul2, "imull (%%esi), %%eax")
CASE(imul3, "imull $-7, (%%esi), %%ebx")
CASE(mul_m, "mull (%%esi)")
CASE(imul1, "imull (%%esi)")
CASE(div_m, "divl (%%esi)")
CASE(idiv_m, "idivl (%%esi)")
CASE(push_m, "pushl (%%esi)\n\tpopl %%ebx")
CASE(pop_m, "pushl %%eax\n\tpopl (%%esi)")
CASE(cmov_m, "cmovnel (%%esi), %%ebx")
CASE(movs_from, "movsl")
CASE(movs_to, "xchgl %%esi, %%edi\n\tmovsl\n\txchgl %%esi, %%edi")
CASE(stos_m, "xchgl %%esi, %%edi\n\tstosl\n\txchgl %%esi, %%edi")
CASE(lods_m, "lodsl")
CASE(cmps_m, "cmpsl")
CASE(scas_m, "xchgl %%esi, %%edi\n\tscasl\n\txchgl %%esi, %%edi")
CASE(rep_movs, "rep movsl")
/* byte and word forms */
CASE(movb_ld, "movb (%%esi), %%bl")
CASE(movb_st, "movb %%ah, (%%esi)")
CASE(movzb, "movzbl (%%esi), %%ebx")
CASE(movsb_, "movsbl (%%esi), %%ebx")
CASE(movzw, "movzwl (%%esi), %%ebx")
CASE(movsw_, "movswl 2(%%esi), %%ebx")
CASE(addb_ld, "addb (%%esi), %%al")
CASE(addw_imm, "addw $0x101, (%%esi)")
CASE(cmpb_imm, "cmpb $0x7f, 1(%%esi)")
CASE(testw, "testw %%cx, (%%esi)")
CASE(incb, "incb 3(%%esi)")
CASE(shrw, "shrw $1, (%%esi)")
CASE(btw_reg, "btw %%cx, (%%esi)")
CASE(sete_m, "sete (%%esi)")
CASE(xchgb, "xchgb %%dl, (%%esi)")
CASE(cmpxchgw, "cmpxchgw %%cx, (%%esi)")
CASE(mulb, "mulb (%%esi)")
CASE(lodsw_m, "lodsw")
CASE(scasb_m, "xchgl %%esi, %%edi\n\tscasb\n\txchgl %%esi, %%edi")

struct mcase {
	const char *name;
	void (*run)(struct st *s, volatile void *m);
	uint32_t flags; /* defined flags */
	uint32_t mem;   /* the memory operand's starting value (dword cases) */
	struct st in;
};

#define S(a, b, c, d) { a, b, c, d, 0, 0 }
static const struct mcase dword_cases[] = {
	{ "mov store", mov_st, F_NONE, 0, S(0xdeadbeef, 0, 0, 0) },
	{ "mov load", mov_ld, F_NONE, 0x13579bdf, S(0, 0, 0, 0) },
	{ "mov imm", mov_imm, F_NONE, 0, S(0, 0, 0, 0) },
	{ "mov moffs", mov_moffs, F_NONE, 0xabcdef01, S(0, 0, 0, 0) },
	{ "add m,r", add_st, F_ALL, 0x7fffffff, S(1, 0, 0, 0) },
	{ "add r,m", add_ld, F_ALL, 0x80000000, S(0x80000000, 0, 0, 0) },
	{ "add m,imm8", add_imm8, F_ALL, 2, S(0, 0, 0, 0) },
	{ "or m,r", or_st, F_LOGIC, 0x0f000000, S(0, 0x000000f0, 0, 0) },
	{ "adc m,r", adc_st, F_ALL, 0xffffffff, S(0, 0, 0, 0) },
	{ "sbb r,m", sbb_ld, F_ALL, 5, S(0, 3, 0, 0) },
	{ "and m,imm", and_imm, F_LOGIC, 0x12345678, S(0, 0, 0, 0) },
	{ "lock sub m,r", sub_st, F_ALL, 10, S(0, 0, 11, 0) },
	{ "xor r,m", xor_ld, F_LOGIC, 0xffff0000, S(0, 0, 0, 0xff00ff00) },
	{ "cmp m,r", cmp_st, F_ALL, 3, S(4, 0, 0, 0) },
	{ "cmp r,m", cmp_ld, F_ALL, 0x80000000, S(1, 0, 0, 0) },
	{ "cmp m,imm", cmp_imm, F_ALL, 5, S(0, 0, 0, 0) },
	{ "test m,r", test_st, F_LOGIC, 0xf0, S(0x0f, 0, 0, 0) },
	{ "test m,imm", test_imm, F_LOGIC, 0x80000000, S(0, 0, 0, 0) },
	{ "inc m", inc_m, F_ALL, 0x7fffffff, S(0, 0, 0, 0) },
	{ "lock dec m", dec_m, F_ALL, 0, S(0, 0, 0, 0) },
	{ "neg m", neg_m, F_ALL, 0x80000000, S(0, 0, 0, 0) },
	{ "not m", not_m, F_NONE, 0x0f0f0f0f, S(0, 0, 0, 0) },
	{ "shl m,imm", shl_imm, F_SHIFT, 0x30000001, S(0, 0, 0, 0) },
	{ "shr m,cl", shr_cl, F_SHIFT, 0x80000010, S(0, 0, 5, 0) },
	{ "sar m,1", sar_1, F_SHIFT | 0x800, 0x80000001, S(0, 0, 0, 0) },
	{ "rol m,imm", rol_imm, F_ROT, 0xf8000001, S(0, 0, 0, 0) },
	{ "ror m,cl", ror_cl, F_ROT, 0x00000011, S(0, 0, 4, 0) },
	{ "rcl m,1", rcl_1, F_ROT | 0x800, 0x80000000, S(0, 0, 0, 0) },
	{ "rcr m,cl", rcr_cl, F_ROT, 0x00000003, S(0, 0, 2, 0) },
	{ "shld m,r,cl", shld_cl, F_SHIFT & ~0x800u, 0x12345678, S(0x9abcdef0, 0, 8, 0) },
	{ "shrd m,r,imm", shrd_imm, F_SHIFT & ~0x800u, 0x12345678, S(0, 0xf, 0, 0) },
	{ "bt m,imm", bt_imm, F_CF, 0x20, S(0, 0, 0, 0) },
	{ "lock bts m,imm", bts_imm, F_CF, 1, S(0, 0, 0, 0) },
	{ "btr m,r", btr_reg, F_CF, 0xffffffff, S(0, 0, 17, 0) },
	{ "btc m,imm", btc_imm, F_CF, 0, S(0, 0, 0, 0) },
	{ "xchg m,r", xchg_m, F_NONE, 0x11111111, S(0x22222222, 0, 0, 0) },
	{ "lock xadd m,r", xadd_m, F_ALL, 0xfffffffe, S(0, 3, 0, 0) },
	{ "lock cmpxchg equal", cmpxchg_m, F_ALL, 0x55, S(0x55, 0, 0x66, 0) },
	{ "lock cmpxchg differ", cmpxchg_m, F_ALL, 0x55, S(0x54, 0, 0x66, 0) },
	{ "imul r,m", imul2, F_MUL, 0x10000, S(0x10000, 0, 0, 0) },
	{ "imul r,m,imm", imul3, F_MUL, 0x1234567, S(0, 0, 0, 0) },
	{ "mul m", mul_m, F_MUL, 0x80000000, S(6, 0, 0, 0) },
	{ "imul m", imul1, F_MUL, 0xfffffffd, S(7, 0, 0, 0) },
	{ "div m", div_m, F_NONE, 0x10001, S(0x12345678, 0, 0, 0x9) },
	{ "idiv m", idiv_m, F_NONE, 0xfffffff9, S(100, 0, 0, 0) },
	{ "push m", push_m, F_NONE, 0xcafef00d, S(0, 0, 0, 0) },
	{ "pop m", pop_m, F_NONE, 0, S(0xfeedface, 0, 0, 0) },
	{ "cmovne r,m", cmov_m, F_NONE, 0x77777777, S(0, 1, 0, 0) },
	{ "movs from", movs_from, F_NONE, 0x31415926, S(0, 0, 0, 0) },
	{ "movs to", movs_to, F_NONE, 0, S(0, 0, 0, 0) },
	{ "stos", stos_m, F_NONE, 0, S(0x27182818, 0, 0, 0) },
	{ "lods", lods_m, F_NONE, 0x16180339, S(0, 0, 0, 0) },
	{ "cmps", cmps_m, F_ALL, 9, S(0, 0, 0, 0) },
	{ "scas", scas_m, F_ALL, 9, S(9, 0, 0, 0) },
	{ "rep movs", rep_movs, F_NONE, 0x14142135, S(0, 0, 1, 0) },
};

static const struct mcase narrow_cases[] = {
	{ "movb load", movb_ld, F_NONE, 0, S(0, 0x11223344, 0, 0) },
	{ "movb store", movb_st, F_NONE, 0, S(0x1234, 0, 0, 0) },
	{ "movzb", movzb, F_NONE, 0, S(0, 0, 0, 0) },
	{ "movsb", movsb_, F_NONE, 0, S(0, 0, 0, 0) },
	{ "movzw", movzw, F_NONE, 0, S(0, 0, 0, 0) },
	{ "movsw", movsw_, F_NONE, 0, S(0, 0, 0, 0) },
	{ "addb r,m", addb_ld, F_ALL, 0, S(0x02, 0, 0, 0) },
	{ "addw m,imm", addw_imm, F_ALL, 0, S(0, 0, 0, 0) },
	{ "cmpb m,imm", cmpb_imm, F_ALL, 0, S(0, 0, 0, 0) },
	{ "testw m,r", testw, F_LOGIC, 0, S(0, 0, 0x8000, 0) },
	{ "incb m", incb, F_ALL, 0, S(0, 0, 0, 0) },
	{ "shrw m,1", shrw, F_SHIFT | 0x800, 0, S(0, 0, 0, 0) },
	{ "btw m,r", btw_reg, F_CF, 0, S(0, 0, 3, 0) },
	{ "sete m", sete_m, F_NONE, 0, S(0, 0, 0, 0) },
	{ "xchgb m,r", xchgb, F_NONE, 0, S(0, 0, 0, 0x12) },
	{ "cmpxchgw m,r", cmpxchgw, F_ALL, 0, S(0xffff, 0, 0x1234, 0) },
	{ "mulb m", mulb, F_MUL, 0, S(3, 0, 0, 0) },
	{ "lodsw", lodsw_m, F_NONE, 0, S(0x55555555, 0, 0, 0) },
	{ "scasb", scasb_m, F_ALL, 0, S(0xfe, 0, 0, 0) },
};

static uint32_t ram_cell[4] __attribute__((aligned(16)));
static uint32_t ram_other[4] __attribute__((aligned(16)));

/* Run one case on `m`; EDI points at a RAM scratch cell for the string
 * forms (ESI is the operand). Flags start with CF set, to see it used. */
static struct st run_case(const struct mcase *c, volatile void *m)
{
	struct st s = c->in;
	ram_other[0] = 9;
	s.edi = (uint32_t)ram_other;
	s.fl = 0x2 | 0x1;
	c->run(&s, m);
	s.edi -= (uint32_t)ram_other; /* how far the string instruction moved */
	s.fl &= c->flags;
	return s;
}

static void check_same(const char *name, const struct st *dev, const struct st *ram)
{
	const uint32_t *a = &dev->eax, *b = &ram->eax;
	for (int i = 0; i < 6; i++)
		if (a[i] != b[i]) {
			rt_printf("FAIL %s: register %d device %08x, RAM %08x\n", name, i, a[i], b[i]);
			rt_failures++;
		}
}

static void dword_forms(void)
{
	rt_section("dword operands on the local APIC's initial-count register");
	for (size_t i = 0; i < sizeof dword_cases / sizeof dword_cases[0]; i++) {
		const struct mcase *c = &dword_cases[i];
		*APIC_TMICT = c->mem;
		struct st dev = run_case(c, APIC_TMICT);
		uint32_t dev_mem = *APIC_TMICT;
		*APIC_TMICT = 0; /* the timer stops */
		ram_cell[0] = c->mem;
		struct st ram = run_case(c, c->run == mov_moffs ? (void *)APIC_TMICT : ram_cell);
		if (c->run == mov_moffs)
			ram.eax = c->mem;
		check_same(c->name, &dev, &ram);
		if (c->run != mov_moffs && dev_mem != ram_cell[0]) {
			rt_printf("FAIL %s: memory device %08x, RAM %08x\n", c->name, dev_mem, ram_cell[0]);
			rt_failures++;
		}
		rt_printf("%s: eax %08x ebx %08x ecx %08x edx %08x edi+%u fl %03x mem %08x\n",
			  c->name, dev.eax, dev.ebx, dev.ecx, dev.edx, dev.edi, dev.fl, dev_mem);
	}
	rt_section_end();
}

static void narrow_forms(void)
{
	rt_section("byte and word operands on the local APIC");
	for (size_t i = 0; i < sizeof narrow_cases / sizeof narrow_cases[0]; i++) {
		const struct mcase *c = &narrow_cases[i];
		*APIC_TMICT = 0x5a5a5a5a;
		struct st dev = run_case(c, APIC_TMICT);
		RT_CHECK_EQ(*APIC_TMICT, 0x5a5a5a5a);
		*APIC_TMICT = 0;
		ram_cell[0] = ram_cell[1] = 0;
		struct st ram = run_case(c, ram_cell);
		check_same(c->name, &dev, &ram);
		rt_printf("%s: eax %08x ebx %08x ecx %08x edx %08x edi+%u fl %03x\n",
			  c->name, dev.eax, dev.ebx, dev.ecx, dev.edx, dev.edi, dev.fl);
	}
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	dword_forms();
	narrow_forms();
}
