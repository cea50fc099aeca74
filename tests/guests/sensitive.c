/* Test guest: every sensitive instruction of ARCHITECTURE.md §5 must return the guest's own state. */
#include "rt.h"

/*
 * Runs at CPL 0 with paging off. Each group loads guest-chosen state and reads
 * it back through the sensitive instruction, so a monitor that leaks its own
 * GDTR, CS RPL, IF, CR0, ... fails here. Nothing printed depends on the host
 * or on the CPU model (no CPUID values, no TSC values): the serial output
 * must be byte-identical under QEMU and btvmm.
 */

/* Descriptors this guest adds to rt_gdt (the runtime owns slots 0..2). */
#define SEL_DATA_DPL3  0x18 /* flat data, DPL 3: loadable with RPL 3 at CPL 0 */
#define SEL_CODE2      0x20 /* flat code: a second selector for far transfers */
#define SEL_BASED      0x28 /* byte-granular data based at based_buf */
#define SEL_LDT        0x30
#define SEL_TSS        0x38
#define SEL_RODATA     0x40 /* read-only data */
#define SEL_XONLY      0x48 /* execute-only code */
#define SEL_CONFORMING 0x50 /* conforming readable code */
#define SEL_CALLGATE   0x58 /* 386 call gate: LAR accepts it, LSL does not */
#define SEL_INTGATE    0x60 /* 386 interrupt gate: invalid for LAR and LSL */
#define SEL_PAGEGRAN   0x68 /* data, 4 KiB granular, limit field 5 */
#define SEL_STACK2     0x70 /* flat data, DPL 0: a second stack selector */
#define LDT_SEL_FLAT   0x04 /* LDT slot 0, TI=1 */
#define LDT_SEL_BASED  0x0c /* LDT slot 1, TI=1 */

#define ACC_P         0x80
#define ACC_DPL3      0x60
#define ACC_S         0x10 /* code or data (not a system descriptor) */
#define ACC_CODE_R    0x1a
#define ACC_CODE_X    0x18
#define ACC_CODE_CR   0x1e /* conforming, readable */
#define ACC_DATA_W    0x12
#define ACC_DATA_R    0x10
#define ACC_LDT       0x02
#define ACC_TSS_AVAIL 0x09
#define ACC_TSS_BUSY  0x0b
#define ACC_CALLGATE  0x0c
#define ACC_INTGATE   0x0e
#define FLAGS_G_D     0xc  /* 4 KiB granularity, 32-bit */
#define FLAGS_D       0x4  /* byte granularity, 32-bit */

#define EFL_CF   0x00000001u
#define EFL_RES1 0x00000002u /* bit 1 always reads as 1 */
#define EFL_TF   0x00000100u
#define EFL_IF   0x00000200u
#define EFL_DF   0x00000400u
#define EFL_OF   0x00000800u
#define EFL_IOPL 0x00003000u
#define EFL_AC   0x00040000u
#define EFL_VIF  0x00080000u
#define EFL_VIP  0x00100000u

#define CR0_PE 0x00000001u
#define CR0_MP 0x00000002u
#define CR0_EM 0x00000004u
#define CR0_TS 0x00000008u
#define CR0_NE 0x00000020u
#define CR0_WP 0x00010000u
#define CR0_AM 0x00040000u
#define CR0_PG 0x80000000u

#define CR4_DE  0x008u
#define CR4_PSE 0x010u
#define CR4_PGE 0x080u

/* CPUID.1:EDX feature bits this guest relies on. */
#define CPUID_FPU (1u << 0)
#define CPUID_DE  (1u << 2)
#define CPUID_PSE (1u << 3)
#define CPUID_TSC (1u << 4)
#define CPUID_MSR (1u << 5)
#define CPUID_SEP (1u << 11)
#define CPUID_PGE (1u << 13)

struct dtr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

struct farptr {
	uint32_t offset;
	uint16_t sel;
} __attribute__((packed));

/* Hardware formats: a 386 TSS is 104 bytes; only its descriptor matters here. */
static uint8_t tss[104] __attribute__((aligned(16)));
static struct rt_desc ldt[2] __attribute__((aligned(8)));
static struct rt_desc my_gdt[16] __attribute__((aligned(8)));
static struct rt_desc my_idt[256] __attribute__((aligned(8)));
static volatile uint32_t based_buf[4] = {0x11111111, 0x22222222, 0x33333333, 0x44444444};
static volatile uint32_t ldt_buf[2] = {0xcafe0001, 0xcafe0002};
static volatile uint32_t gdt2_buf[2] = {0xbeef0001, 0xbeef0002};

/*
 * A segment descriptor from its fields (limit is the 20-bit field, flags the
 * G/D/L/AVL nibble), written here rather than through rt_gdt_set because the
 * LDT and the private GDT copy need the same encoding.
 *
 *  63      56 55  52 51   48 47      40 39      32
 * | base31:24| flags |lim19:16| access | base23:16 |
 * | base15:0                  | limit15:0           |
 *  31                       16 15                   0
 */
static struct rt_desc seg_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	struct rt_desc d;
	d.lo = (limit & 0xffffu) | (base << 16);
	d.hi = ((base >> 16) & 0xffu) | ((uint32_t)access << 8) | (limit & 0xf0000u) |
	       ((uint32_t)(flags & 0xfu) << 20) | (base & 0xff000000u);
	return d;
}

static struct rt_desc gate_desc(uint16_t sel, uint32_t offset, uint8_t access)
{
	struct rt_desc d;
	d.lo = (offset & 0xffffu) | ((uint32_t)sel << 16);
	d.hi = (offset & 0xffff0000u) | ((uint32_t)access << 8);
	return d;
}

static uint32_t read_eflags(void)
{
	uint32_t f;
	__asm__ volatile("pushfl; popl %0" : "=r"(f));
	return f;
}

static void write_eflags(uint32_t f)
{
	__asm__ volatile("pushl %0; popfl" ::"r"(f) : "cc", "memory");
}

/* Register reads as expressions; segment registers are read as 16 bits. */
#define READ_CR(n) ({ uint32_t v_; __asm__ volatile("movl %%cr" #n ", %0" : "=r"(v_)); v_; })
#define READ_DR(n) ({ uint32_t v_; __asm__ volatile("movl %%db" #n ", %0" : "=r"(v_)); v_; })
#define READ_SEG(s) ({ uint32_t v_; __asm__ volatile("movl %%" #s ", %0" : "=r"(v_)); v_ & 0xffffu; })
#define WRITE_CR(n, v) __asm__ volatile("movl %0, %%cr" #n ::"r"((uint32_t)(v)) : "memory")
#define WRITE_DR(n, v) __asm__ volatile("movl %0, %%db" #n ::"r"((uint32_t)(v)))

static void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Mask every PIC line, so that STI in these tests can let nothing in. */
static void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

static void setup_descriptors(void)
{
	rt_gdt[SEL_DATA_DPL3 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DPL3 | ACC_DATA_W, FLAGS_G_D);
	rt_gdt[SEL_CODE2 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE_R, FLAGS_G_D);
	rt_gdt[SEL_BASED >> 3] = seg_desc((uint32_t)based_buf, sizeof based_buf - 1, ACC_P | ACC_DATA_W, FLAGS_D);
	rt_gdt[SEL_LDT >> 3] = seg_desc((uint32_t)ldt, sizeof ldt - 1, ACC_P | ACC_LDT, 0);
	rt_gdt[SEL_TSS >> 3] = seg_desc((uint32_t)tss, sizeof tss - 1, ACC_P | ACC_TSS_AVAIL, 0);
	rt_gdt[SEL_RODATA >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA_R, FLAGS_G_D);
	rt_gdt[SEL_XONLY >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE_X, FLAGS_G_D);
	rt_gdt[SEL_CONFORMING >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE_CR, FLAGS_G_D);
	rt_gdt[SEL_CALLGATE >> 3] = gate_desc(RT_CS, 0x00101000u, ACC_P | ACC_CALLGATE);
	rt_gdt[SEL_INTGATE >> 3] = gate_desc(RT_CS, 0x00101000u, ACC_P | ACC_INTGATE);
	rt_gdt[SEL_PAGEGRAN >> 3] = seg_desc(0, 5, ACC_P | ACC_DATA_W, FLAGS_G_D);
	rt_gdt[SEL_STACK2 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA_W, FLAGS_G_D);
	ldt[0] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA_W, FLAGS_G_D);
	ldt[1] = seg_desc((uint32_t)ldt_buf, sizeof ldt_buf - 1, ACC_P | ACC_DATA_W, FLAGS_D);
}

/*
 * Raw handler for INT 0x40 (an interrupt gate): records the frame the CPU
 * pushed, the EFLAGS it runs with and its ESP, then IRETs.
 */
volatile uint32_t sens_int_frame[3], sens_int_inner_eflags, sens_int_esp, sens_int_count;
void sens_int_handler(void);
__asm__(".text\n"
        ".globl sens_int_handler\n"
        "sens_int_handler:\n\t"
        "movl %esp, sens_int_esp\n\t"
        "pushl %eax\n\t"
        "movl 4(%esp), %eax\n\t"
        "movl %eax, sens_int_frame\n\t"
        "movl 8(%esp), %eax\n\t"
        "movl %eax, sens_int_frame+4\n\t"
        "movl 12(%esp), %eax\n\t"
        "movl %eax, sens_int_frame+8\n\t"
        "pushfl\n\t"
        "popl sens_int_inner_eflags\n\t"
        "incl sens_int_count\n\t"
        "popl %eax\n\t"
        "iret\n");

static void test_sgdt_sidt(void)
{
	struct dtr d, orig_idt;

	rt_section("sgdt");
	__asm__ volatile("sgdt %0" : "=m"(d));
	RT_CHECK_EQ(d.base, (uint32_t)rt_gdt);
	RT_CHECK(d.limit >= SEL_STACK2 + 7 && (d.limit & 7) == 7);

	/* A private copy with another base and limit; slot 3 re-based so that a
	   load through it proves the CPU really uses the new table. */
	rt_memcpy(my_gdt, rt_gdt, sizeof my_gdt);
	my_gdt[3] = seg_desc((uint32_t)gdt2_buf, sizeof gdt2_buf - 1, ACC_P | ACC_DATA_W, FLAGS_D);
	struct dtr mine = {.limit = 4 * 8 - 1, .base = (uint32_t)my_gdt};
	uint32_t v;
	__asm__ volatile("lgdt %1\n\t"
	                 "sgdt %0\n\t"
	                 "movw %w3, %%fs\n\t"
	                 "movl %%fs:4, %2\n\t"
	                 "movw %w4, %%fs"
	                 : "=m"(d), "+m"(mine), "=r"(v)
	                 : "r"(0x18), "r"(RT_DS)
	                 : "memory");
	RT_CHECK_EQ(d.base, (uint32_t)my_gdt);
	RT_CHECK_EQ(d.limit, 4 * 8 - 1);
	RT_CHECK_EQ(v, 0xbeef0002);
	rt_lgdt();
	__asm__ volatile("sgdt %0" : "=m"(d));
	RT_CHECK_EQ(d.base, (uint32_t)rt_gdt);
	rt_section_end();

	rt_section("sidt");
	__asm__ volatile("sidt %0" : "=m"(orig_idt));
	RT_CHECK(orig_idt.limit >= 32 * 8 - 1 && (orig_idt.limit & 7) == 7);
	rt_memcpy(my_idt, (const void *)orig_idt.base, orig_idt.limit + 1u);
	mine.base = (uint32_t)my_idt;
	mine.limit = 0x41 * 8 - 1;
	/* Vector 0x40 exists only in the copy: reaching it proves the copy is live. */
	my_idt[0x40] = gate_desc(RT_CS, (uint32_t)sens_int_handler, ACC_P | ACC_INTGATE);
	sens_int_count = 0;
	__asm__ volatile("lidt %1; sidt %0; int $0x40" : "=m"(d) : "m"(mine) : "memory");
	RT_CHECK_EQ(d.base, (uint32_t)my_idt);
	RT_CHECK_EQ(d.limit, 0x41 * 8 - 1);
	RT_CHECK_EQ(sens_int_count, 1);
	__asm__ volatile("lidt %0" ::"m"(orig_idt) : "memory");
	__asm__ volatile("sidt %0" : "=m"(d));
	RT_CHECK_EQ(d.base, orig_idt.base);
	RT_CHECK_EQ(d.limit, orig_idt.limit);
	rt_section_end();
}

static void test_sldt_str(void)
{
	uint32_t r, v;
	uint16_t m;

	rt_section("sldt");
	r = 0xdeadbeef;
	__asm__ volatile("lldt %w1; sldt %0" : "+r"(r) : "r"(SEL_LDT));
	RT_CHECK_EQ(r, SEL_LDT); /* a 32-bit register destination is zero-extended */
	m = 0xffff;
	__asm__ volatile("sldt %0" : "=m"(m));
	RT_CHECK_EQ(m, SEL_LDT);
	/* Data through the LDT: both a flat and a based descriptor. */
	__asm__ volatile("movw %w2, %%fs\n\t"
	                 "movl %%fs:(%3), %0\n\t"
	                 "movw %w4, %%fs\n\t"
	                 "movl %%fs:4, %1"
	                 : "=&r"(r), "=r"(v)
	                 : "r"(LDT_SEL_FLAT), "r"(&based_buf[2]), "r"(LDT_SEL_BASED));
	RT_CHECK_EQ(r, 0x33333333);
	RT_CHECK_EQ(v, 0xcafe0002);
	RT_CHECK_EQ(READ_SEG(fs), LDT_SEL_BASED);
	__asm__ volatile("movw %w0, %%fs" ::"r"(RT_DS));
	r = 0xdeadbeef;
	__asm__ volatile("lldt %w1; sldt %0" : "+r"(r) : "r"(0));
	RT_CHECK_EQ(r, 0);
	rt_section_end();

	rt_section("str");
	RT_CHECK_EQ((rt_gdt[SEL_TSS >> 3].hi >> 8) & 0xf, ACC_TSS_AVAIL);
	r = 0xdeadbeef;
	__asm__ volatile("ltr %w1; str %0" : "+r"(r) : "r"(SEL_TSS) : "memory");
	RT_CHECK_EQ(r, SEL_TSS);
	m = 0;
	__asm__ volatile("str %0" : "=m"(m));
	RT_CHECK_EQ(m, SEL_TSS);
	/* LTR marks the descriptor busy in the guest's own GDT. */
	RT_CHECK_EQ((rt_gdt[SEL_TSS >> 3].hi >> 8) & 0xf, ACC_TSS_BUSY);
	rt_section_end();
}

static void test_smsw(void)
{
	rt_section("smsw");
	uint32_t cr0 = READ_CR(0);
	uint32_t r = 0xdead0000u;
	uint16_t m[2] = {0, 0x5a5a};
	__asm__ volatile("smsw %w0" : "+r"(r));
	__asm__ volatile("smsw %0" : "=m"(m[0]));
	RT_CHECK_EQ(r, 0xdead0000u | (cr0 & 0xffff)); /* 16-bit form keeps the upper half */
	RT_CHECK_EQ(m[0], cr0 & 0xffff);
	RT_CHECK_EQ(m[1], 0x5a5a); /* the memory form stores two bytes only */
	RT_CHECK(cr0 & CR0_PE);
	RT_CHECK(!(cr0 & CR0_PG));
	rt_section_end();
}

static void test_pushf_popf(void)
{
	uint32_t f0, f;

	rt_section("pushf-popf");
	pic_mask_all();
	/* A known baseline: multiboot leaves most of EFLAGS undefined. POPF
	   of 2 clears everything it can; PUSHF must then show bit 1 alone. */
	write_eflags(EFL_RES1);
	f0 = read_eflags();
	RT_CHECK_EQ(f0, EFL_RES1);
	/* The checks above are compiled code that sets the arithmetic
	   flags, so only the system flags are compared from here. */
	__asm__ volatile("sti; pushfl; popl %0; cli" : "=r"(f));
	RT_CHECK_EQ(f & ~0x8d5u, EFL_RES1 | EFL_IF);
	__asm__ volatile("cli; pushfl; popl %0" : "=r"(f));
	RT_CHECK_EQ(f & ~0x8d5u, EFL_RES1);

	/* POPF at CPL 0 can change IF, DF, AC and IOPL, but never VIF/VIP. */
	__asm__ volatile("pushl %1; popfl; pushfl; popl %0; cli" : "=r"(f) : "r"(f0 | EFL_IF) : "cc");
	RT_CHECK(f & EFL_IF);
	__asm__ volatile("pushl %1; popfl; pushfl; popl %0; cld" : "=r"(f) : "r"(f0 | EFL_DF) : "cc");
	RT_CHECK(f & EFL_DF);
	__asm__ volatile("pushl %1; popfl; pushfl; popl %0; pushl %2; popfl"
	                 : "=&r"(f)
	                 : "r"(f0 | EFL_AC), "r"(f0)
	                 : "cc");
	RT_CHECK(f & EFL_AC);
	__asm__ volatile("pushl %1; popfl; pushfl; popl %0; pushl %2; popfl"
	                 : "=&r"(f)
	                 : "r"(f0 | EFL_IOPL), "r"(f0)
	                 : "cc");
	RT_CHECK_EQ(f & EFL_IOPL, EFL_IOPL);
	__asm__ volatile("pushl %1; popfl; pushfl; popl %0; pushl %2; popfl"
	                 : "=&r"(f)
	                 : "r"(f0 | EFL_VIF | EFL_VIP | EFL_CF), "r"(f0)
	                 : "cc");
	RT_CHECK_EQ(f & (EFL_VIF | EFL_VIP), 0);
	RT_CHECK(f & EFL_CF);
	/* Clearing: from all four set back to none. */
	write_eflags(f0 | EFL_IF | EFL_DF | EFL_AC | EFL_IOPL);
	write_eflags(f0);
	f = read_eflags();
	RT_CHECK_EQ(f & (EFL_IF | EFL_DF | EFL_AC | EFL_IOPL), 0);
	RT_CHECK(f & EFL_RES1);
	rt_section_end();
}

/* LAR/LSL: returns ZF; *out keeps 0xdeadbeef when ZF=0 (destination unchanged). */
static int lar(uint32_t sel, uint32_t *out)
{
	uint32_t r = 0xdeadbeef;
	uint8_t z;
	__asm__ volatile("larl %2, %0; setz %1" : "+r"(r), "=q"(z) : "r"(sel) : "cc");
	*out = r;
	return z;
}

static int lsl(uint32_t sel, uint32_t *out)
{
	uint32_t r = 0xdeadbeef;
	uint8_t z;
	__asm__ volatile("lsll %2, %0; setz %1" : "+r"(r), "=q"(z) : "r"(sel) : "cc");
	*out = r;
	return z;
}

static int verr(uint32_t sel)
{
	uint8_t z;
	__asm__ volatile("verr %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
	return z;
}

static int verw(uint32_t sel)
{
	uint8_t z;
	__asm__ volatile("verw %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
	return z;
}

/* LAR's result is the descriptor's second word masked with 00FxFF00h. */
static uint32_t lar_expect(uint32_t sel)
{
	return rt_gdt[sel >> 3].hi & 0x00f0ff00u;
}

static void test_lar_lsl_verr_verw(void)
{
	uint32_t v;
	struct dtr g;
	__asm__ volatile("sgdt %0" : "=m"(g));
	uint32_t beyond = ((uint32_t)g.limit + 1u + 7u) & ~7u; /* first selector past the limit */

	rt_section("lar");
	RT_CHECK(lar(RT_CS, &v));
	RT_CHECK_EQ(v & 0x00f0ff00u, lar_expect(RT_CS));
	RT_CHECK_EQ(v & 0x00f0fe00u, 0x00c09a00u); /* ignoring the accessed bit */
	RT_CHECK(lar(RT_DS, &v));
	RT_CHECK_EQ(v & 0x00f0ff00u, lar_expect(RT_DS));
	RT_CHECK(lar(SEL_DATA_DPL3 | 3, &v));
	RT_CHECK_EQ(v & 0x00f0fe00u, 0x00c0f200u);
	RT_CHECK(!lar(0, &v));
	RT_CHECK_EQ(v, 0xdeadbeef);
	RT_CHECK(!lar(beyond, &v));
	RT_CHECK_EQ(v, 0xdeadbeef);
	RT_CHECK(lar(SEL_TSS, &v)); /* busy TSS since LTR */
	RT_CHECK_EQ(v & 0x00f0ff00u, 0x00008b00u);
	RT_CHECK(lar(SEL_LDT, &v));
	RT_CHECK_EQ(v & 0x00f0ff00u, 0x00008200u);
	RT_CHECK(lar(SEL_CALLGATE, &v));
	RT_CHECK_EQ(v & 0x0000ff00u, 0x00008c00u);
	RT_CHECK(!lar(SEL_INTGATE, &v));
	RT_CHECK(!lar(RT_DS | 3, &v)); /* DPL 0 < RPL 3 */
	RT_CHECK(lar(SEL_CONFORMING | 3, &v)); /* conforming code ignores RPL */
	RT_CHECK(lar(LDT_SEL_FLAT, &v) == 0); /* LDTR is null since the sldt group */
	rt_section_end();

	rt_section("lsl");
	RT_CHECK(lsl(RT_DS, &v));
	RT_CHECK_EQ(v, 0xffffffffu);
	RT_CHECK(lsl(SEL_BASED, &v));
	RT_CHECK_EQ(v, sizeof based_buf - 1);
	RT_CHECK(lsl(SEL_PAGEGRAN, &v));
	RT_CHECK_EQ(v, 0x5fff);
	RT_CHECK(lsl(SEL_TSS, &v));
	RT_CHECK_EQ(v, sizeof tss - 1);
	RT_CHECK(lsl(SEL_LDT, &v));
	RT_CHECK_EQ(v, sizeof ldt - 1);
	RT_CHECK(!lsl(SEL_CALLGATE, &v));
	RT_CHECK(!lsl(0, &v));
	RT_CHECK(!lsl(beyond, &v));
	RT_CHECK_EQ(v, 0xdeadbeef);
	RT_CHECK(!lsl(SEL_BASED | 3, &v));
	rt_section_end();

	rt_section("verr-verw");
	RT_CHECK(verr(RT_CS));
	RT_CHECK(!verw(RT_CS));
	RT_CHECK(verr(RT_DS));
	RT_CHECK(verw(RT_DS));
	RT_CHECK(verr(SEL_RODATA));
	RT_CHECK(!verw(SEL_RODATA));
	RT_CHECK(!verr(SEL_XONLY));
	RT_CHECK(verr(SEL_CONFORMING | 3));
	RT_CHECK(!verr(RT_DS | 3));
	RT_CHECK(!verw(RT_DS | 3));
	RT_CHECK(verw(SEL_DATA_DPL3 | 3));
	RT_CHECK(!verr(0));
	RT_CHECK(!verw(0));
	RT_CHECK(!verr(beyond));
	RT_CHECK(!verr(SEL_TSS));
	RT_CHECK(!verw(SEL_LDT));
	RT_CHECK(!verr(SEL_CALLGATE));
	rt_section_end();
}

static void test_segment_registers(void)
{
	uint32_t a, b, c;

	rt_section("mov-seg");
	RT_CHECK_EQ(READ_SEG(cs), RT_CS);
	RT_CHECK_EQ(READ_SEG(ds), RT_DS);
	RT_CHECK_EQ(READ_SEG(es), RT_DS);
	RT_CHECK_EQ(READ_SEG(ss), RT_DS);
	/* The RPL the guest chose is the RPL it reads back. */
	__asm__ volatile("movw %w0, %%es; movw %w0, %%gs" ::"r"(SEL_DATA_DPL3 | 3));
	RT_CHECK_EQ(READ_SEG(es), SEL_DATA_DPL3 | 3);
	RT_CHECK_EQ(READ_SEG(gs), SEL_DATA_DPL3 | 3);
	__asm__ volatile("movw %w0, %%ss" ::"r"(SEL_STACK2));
	RT_CHECK_EQ(READ_SEG(ss), SEL_STACK2);
	__asm__ volatile("movw %w0, %%ss; movw %w0, %%es" ::"r"(RT_DS));
	__asm__ volatile("movw %w0, %%gs" ::"r"(0)); /* null is fine in ES/FS/GS */
	RT_CHECK_EQ(READ_SEG(gs), 0);
	__asm__ volatile("movw %w1, %%gs; movl %%gs:8, %0" : "=r"(a) : "r"(SEL_BASED));
	RT_CHECK_EQ(a, 0x33333333);
	/* A 16-bit memory form stores two bytes only. */
	uint16_t m[2] = {0, 0x5a5a};
	__asm__ volatile("movw %%gs, %0" : "=m"(m[0]));
	RT_CHECK_EQ(m[0], SEL_BASED);
	RT_CHECK_EQ(m[1], 0x5a5a);
	__asm__ volatile("movw %w0, %%gs" ::"r"(RT_DS));
	rt_section_end();

	rt_section("push-pop-seg");
	__asm__ volatile("pushl %%cs; popl %0" : "=r"(a));
	RT_CHECK_EQ(a & 0xffff, RT_CS);
	__asm__ volatile("pushl %%ss; popl %0; pushl %%ds; popl %1" : "=r"(a), "=r"(b));
	RT_CHECK_EQ(a & 0xffff, RT_DS);
	RT_CHECK_EQ(b & 0xffff, RT_DS);
	/* POP into each data segment register, then read back with PUSH and MOV. */
	__asm__ volatile("pushl %3; popl %%fs; pushl %%fs; popl %0; movl %%fs, %1\n\t"
	                 "pushl %4; popl %%es; pushl %%es; popl %2; pushl %5; popl %%es"
	                 : "=&r"(a), "=&r"(b), "=&r"(c)
	                 : "r"(SEL_DATA_DPL3 | 3), "r"(SEL_DATA_DPL3), "r"(RT_DS));
	RT_CHECK_EQ(a & 0xffff, SEL_DATA_DPL3 | 3);
	RT_CHECK_EQ(b & 0xffff, SEL_DATA_DPL3 | 3);
	RT_CHECK_EQ(c & 0xffff, SEL_DATA_DPL3);
	__asm__ volatile("movl %%esp, %2; pushl %3; popl %%ss; movl %%ss, %0\n\t"
	                 "pushl %4; popl %%ss; subl %%esp, %2; movl %%ss, %1"
	                 : "=&r"(a), "=&r"(b), "=&r"(c)
	                 : "r"(SEL_STACK2), "r"(RT_DS));
	RT_CHECK_EQ(a & 0xffff, SEL_STACK2);
	RT_CHECK_EQ(b & 0xffff, RT_DS);
	RT_CHECK_EQ(c, 0); /* each push and pop moved ESP by 4 */
	/* MOV from a segment register: zero-extended into a 32-bit register,
	   the low half only of a 16-bit one, two bytes to memory. */
	{
		volatile uint32_t word = 0xa5a5a5a5u;
		a = 0xffffffffu;
		b = 0xffffffffu;
		__asm__ volatile("movl %%ss, %0; movw %%cs, %w1; movw %%ds, (%2)"
				 : "+r"(a), "+r"(b)
				 : "r"(&word)
				 : "memory");
		RT_CHECK_EQ(a, RT_DS);
		RT_CHECK_EQ(b, 0xffff0000u | RT_CS);
		RT_CHECK_EQ(word, 0xa5a50000u | RT_DS);
	}
	__asm__ volatile("pushl %1; popl %%gs; pushl %%gs; popl %0; pushl %2; popl %%gs"
	                 : "=&r"(a)
	                 : "r"(SEL_BASED), "r"(RT_DS));
	RT_CHECK_EQ(a & 0xffff, SEL_BASED);
	__asm__ volatile("movl %%fs, %0; movw %w1, %%fs" : "=&r"(a) : "r"(RT_DS));
	RT_CHECK_EQ(a & 0xffff, SEL_DATA_DPL3 | 3);
	rt_section_end();
}

/*
 * A load reads the descriptor table again every time: translated code
 * repeats ring-0 segment loads and VERW from a cache, which must notice a
 * descriptor rewritten in memory (no LGDT, no control register write in
 * between). Each first load is emulated; the repeats may be cached.
 */
static volatile uint32_t other_buf[4] = {0x55555555, 0x66666666, 0x77777777, 0x88888888};

/* Load SEL_BASED three times by MOV into GS and by POP into FS; the words
 * at offsets 8 and 4 of the segment must be `at8` and `at4` each time. */
static void check_based_loads(uint32_t at8, uint32_t at4)
{
	uint32_t a = 0;
	for (int i = 0; i < 3; i++) {
		__asm__ volatile("movw %w1, %%gs; movl %%gs:8, %0" : "=r"(a) : "r"(SEL_BASED));
		RT_CHECK_EQ(a, at8);
		__asm__ volatile("pushl %1; popl %%fs; movl %%fs:4, %0" : "=r"(a) : "r"(SEL_BASED));
		RT_CHECK_EQ(a, at4);
	}
}

static void test_segment_reload(void)
{
	uint32_t a = 0;

	rt_section("seg-reload");
	check_based_loads(0x33333333, 0x22222222);
	rt_gdt[SEL_BASED >> 3] = seg_desc((uint32_t)other_buf, sizeof other_buf - 1,
					  ACC_P | ACC_DATA_W, FLAGS_D);
	check_based_loads(0x77777777, 0x66666666);
	rt_gdt[SEL_BASED >> 3] = seg_desc((uint32_t)based_buf, sizeof based_buf - 1,
					  ACC_P | ACC_DATA_W, FLAGS_D);
	__asm__ volatile("movw %w1, %%gs; movl %%gs:8, %0" : "=r"(a) : "r"(SEL_BASED));
	RT_CHECK_EQ(a, 0x33333333);
	/* Null selectors, twice each way, then the flat selector again. */
	for (int i = 0; i < 2; i++) {
		__asm__ volatile("movw %w1, %%fs; pushl %%fs; popl %0" : "=r"(a) : "r"(3));
		RT_CHECK_EQ(a, 3);
		__asm__ volatile("pushl $0; popl %%es; movl %%es, %0" : "=r"(a));
		RT_CHECK_EQ(a & 0xffff, 0);
		__asm__ volatile("movw %w1, %%es; movl %%es, %0" : "=r"(a) : "r"(RT_DS));
		RT_CHECK_EQ(a & 0xffff, RT_DS);
	}
	/* VERW follows the descriptor's writability. */
	for (int i = 0; i < 3; i++)
		RT_CHECK(verw(SEL_STACK2));
	rt_gdt[SEL_STACK2 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA_R, FLAGS_G_D);
	for (int i = 0; i < 2; i++)
		RT_CHECK(!verw(SEL_STACK2));
	rt_gdt[SEL_STACK2 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA_W, FLAGS_G_D);
	RT_CHECK(verw(SEL_STACK2));
	__asm__ volatile("movw %w0, %%fs; movw %w0, %%gs" ::"r"(RT_DS));
	rt_section_end();

	/* Segment arithmetic wraps at 4 GiB: a flat-limit segment based
	 * past a buffer reaches it with a "negative" offset (i386 TLS). */
	rt_section("seg-wrap");
	rt_gdt[SEL_STACK2 >> 3] = seg_desc((uint32_t)&other_buf[3], 0xfffff,
					   ACC_P | ACC_DATA_W, FLAGS_G_D);
	for (int i = 0; i < 2; i++) {
		__asm__ volatile("movw %w1, %%gs; movl %%gs:-8, %0" : "=r"(a) : "r"(SEL_STACK2));
		RT_CHECK_EQ(a, 0x66666666);
		__asm__ volatile("movw %w1, %%fs; movl %%fs:-4, %0" : "=r"(a) : "r"(SEL_STACK2));
		RT_CHECK_EQ(a, 0x77777777);
		__asm__ volatile("movw %w0, %%fs; movl $0x99999999, %%fs:-12" ::"r"(SEL_STACK2) : "memory");
		RT_CHECK_EQ(other_buf[0], 0x99999999);
		other_buf[0] = 0x55555555;
		__asm__ volatile("movw %w1, %%gs; movl %%gs:0, %0" : "=r"(a) : "r"(SEL_STACK2));
		RT_CHECK_EQ(a, 0x88888888);
	}
	rt_gdt[SEL_STACK2 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA_W, FLAGS_G_D);
	__asm__ volatile("movw %w0, %%fs; movw %w0, %%gs" ::"r"(RT_DS));
	rt_section_end();
}

/*
 * Far-call targets, reached through SEL_CODE2. They return CS as seen inside
 * the callee in EAX and the caller's CS from the stack in EDX;
 * far_callee_ret8 instead returns its first stack argument in EDX and pops
 * both arguments with RET imm16.
 */
__asm__(".text\n"
        "far_callee:\n\t"
        "movl %cs, %eax\n\t"
        "movzwl 4(%esp), %edx\n\t"
        "lret\n"
        "far_callee_ret8:\n\t"
        "movl %cs, %eax\n\t"
        "movl 8(%esp), %edx\n\t"
        "lret $8\n");

static void test_far_transfers(void)
{
	uint32_t a, d, c;
	struct farptr p;

	rt_section("far-jmp");
	__asm__ volatile("ljmp $0x20, $1f\n"
	                 "1:\tmovl %%cs, %0\n\t"
	                 "ljmp $0x08, $2f\n"
	                 "2:\tmovl %%cs, %1"
	                 : "=r"(a), "=r"(c));
	RT_CHECK_EQ(a & 0xffff, SEL_CODE2);
	RT_CHECK_EQ(c & 0xffff, RT_CS);
	/* Indirect, through an m16:32 pointer. */
	p.sel = SEL_CODE2;
	__asm__ volatile("movl $1f, (%2)\n\t"
	                 "ljmp *(%2)\n"
	                 "1:\tmovl %%cs, %0\n\t"
	                 "movl $2f, (%2)\n\t"
	                 "movw %3, 4(%2)\n\t"
	                 "ljmp *(%2)\n"
	                 "2:\tmovl %%cs, %1"
	                 : "=&r"(a), "=&r"(c)
	                 : "r"(&p), "i"(RT_CS)
	                 : "memory");
	RT_CHECK_EQ(a & 0xffff, SEL_CODE2);
	RT_CHECK_EQ(c & 0xffff, RT_CS);
	rt_section_end();

	rt_section("far-call-ret");
	__asm__ volatile("lcall $0x20, $far_callee" : "=a"(a), "=d"(d)::"memory");
	RT_CHECK_EQ(a & 0xffff, SEL_CODE2);
	RT_CHECK_EQ(d, RT_CS);
	RT_CHECK_EQ(READ_SEG(cs), RT_CS);
	p.offset = 0;
	p.sel = SEL_CODE2;
	__asm__ volatile("movl $far_callee, (%2); lcall *(%2)" : "=a"(a), "=d"(d) : "r"(&p) : "memory");
	RT_CHECK_EQ(a & 0xffff, SEL_CODE2);
	RT_CHECK_EQ(d, RT_CS);
	__asm__ volatile("movl %%esp, %2\n\t"
	                 "pushl $0x1111\n\t"
	                 "pushl $0x2222\n\t"
	                 "lcall $0x20, $far_callee_ret8\n\t"
	                 "subl %%esp, %2"
	                 : "=a"(a), "=d"(d), "=&c"(c)::"memory");
	RT_CHECK_EQ(a & 0xffff, SEL_CODE2);
	RT_CHECK_EQ(d, 0x2222);
	RT_CHECK_EQ(c, 0); /* RET imm16 popped both arguments */
	/* A far RET can also be the way in to a new CS. */
	__asm__ volatile("pushl $0x20\n\t"
	                 "pushl $1f\n\t"
	                 "lret\n"
	                 "1:\tmovl %%cs, %0\n\t"
	                 "ljmp $0x08, $2f\n"
	                 "2:"
	                 : "=r"(a));
	RT_CHECK_EQ(a & 0xffff, SEL_CODE2);
	rt_section_end();
}

static volatile struct {
	uint32_t count, vector, eip, cs, eflags;
} seen;

static void record_hook(struct rt_frame *f)
{
	seen.count++;
	seen.vector = f->vector;
	seen.eip = f->eip;
	seen.cs = f->cs;
	seen.eflags = f->eflags;
}


static void test_software_interrupts(void)
{
	uint32_t before, after, esp, ret;

	rt_section("int-n");
	pic_mask_all();
	rt_idt_set(0x40, sens_int_handler, 0x8e);
	rt_lidt();
	for (int with_if = 0; with_if < 2; with_if++) {
		sens_int_count = 0;
		if (with_if)
			__asm__ volatile("sti");
		else
			__asm__ volatile("cli");
		__asm__ volatile("pushfl\n\t"
		                 "popl %0\n\t"
		                 "movl %%esp, %1\n\t"
		                 "movl $1f, %2\n\t"
		                 "int $0x40\n"
		                 "1:\tpushfl\n\t"
		                 "popl %3\n\t"
		                 "cli"
		                 : "=&r"(before), "=&r"(esp), "=&r"(ret), "=r"(after)::"memory");
		RT_CHECK_EQ(sens_int_count, 1);
		RT_CHECK_EQ(sens_int_frame[0], ret);          /* EIP: the next instruction */
		RT_CHECK_EQ(sens_int_frame[1] & 0xffff, RT_CS);
		RT_CHECK_EQ(sens_int_frame[2], before);       /* EFLAGS as they were */
		RT_CHECK_EQ(sens_int_esp, esp - 12);          /* same-privilege frame */
		RT_CHECK_EQ(sens_int_inner_eflags & (EFL_IF | EFL_TF), 0); /* interrupt gate */
		RT_CHECK_EQ(after, before);                   /* IRET restored IF */
		RT_CHECK_EQ(before & EFL_IF, with_if ? EFL_IF : 0);
	}
	rt_section_end();

	rt_set_exception_hook(record_hook);
	rt_section("into");
	seen.count = 0;
	__asm__ volatile("movl $0x7fffffff, %%eax\n\t"
	                 "addl $1, %%eax\n\t"
	                 "into\n"
	                 "1:\tmovl $1b, %0"
	                 : "=r"(ret)::"eax", "cc");
	RT_CHECK_EQ(seen.count, 1);
	RT_CHECK_EQ(seen.vector, 4);
	RT_CHECK_EQ(seen.eip, ret); /* a trap: the saved EIP follows INTO */
	RT_CHECK_EQ(seen.cs & 0xffff, RT_CS);
	RT_CHECK(seen.eflags & EFL_OF);
	__asm__ volatile("xorl %%eax, %%eax; into" ::: "eax", "cc");
	RT_CHECK_EQ(seen.count, 1); /* OF=0: no exception */
	rt_section_end();

	rt_section("int3");
	seen.count = 0;
	__asm__ volatile("int3\n"
	                 "1:\tmovl $1b, %0"
	                 : "=r"(ret));
	RT_CHECK_EQ(seen.count, 1);
	RT_CHECK_EQ(seen.vector, 3);
	RT_CHECK_EQ(seen.eip, ret);
	/* The two-byte encoding INT 3 (CD 03) reaches the same vector. */
	__asm__ volatile(".byte 0xcd, 0x03\n"
	                 "1:\tmovl $1b, %0"
	                 : "=r"(ret));
	RT_CHECK_EQ(seen.count, 2);
	RT_CHECK_EQ(seen.vector, 3);
	RT_CHECK_EQ(seen.eip, ret);
	rt_section_end();
	rt_set_exception_hook(NULL);
}

static uint32_t cpuid_edx1(void)
{
	uint32_t r[4];
	cpuid(1, r);
	return r[3];
}

static void test_control_registers(void)
{
	static const uint32_t cr0_bits[] = {CR0_MP, CR0_EM, CR0_TS, CR0_NE, CR0_WP, CR0_AM};
	uint32_t cr0 = READ_CR(0);

	rt_section("mov-cr");
	RT_CHECK(cr0 & CR0_PE);
	RT_CHECK(!(cr0 & CR0_PG));
	for (unsigned i = 0; i < sizeof cr0_bits / sizeof cr0_bits[0]; i++) {
		WRITE_CR(0, cr0 ^ cr0_bits[i]);
		RT_CHECK_EQ(READ_CR(0), cr0 ^ cr0_bits[i]);
		WRITE_CR(0, cr0);
		RT_CHECK_EQ(READ_CR(0), cr0);
	}
	uint32_t cr2 = READ_CR(2);
	WRITE_CR(2, 0x12345678);
	RT_CHECK_EQ(READ_CR(2), 0x12345678);
	WRITE_CR(2, 0xfffff000);
	RT_CHECK_EQ(READ_CR(2), 0xfffff000);
	WRITE_CR(2, cr2);
	/* Paging is off, so CR3 is just a register: PWT/PCD and the base stick. */
	uint32_t cr3 = READ_CR(3);
	WRITE_CR(3, 0x00123018);
	RT_CHECK_EQ(READ_CR(3), 0x00123018);
	WRITE_CR(3, 0x0fedc000);
	RT_CHECK_EQ(READ_CR(3), 0x0fedc000);
	WRITE_CR(3, cr3);
	uint32_t cr4 = READ_CR(4);
	uint32_t edx = cpuid_edx1();
	if (edx & CPUID_DE) {
		WRITE_CR(4, cr4 | CR4_DE);
		RT_CHECK_EQ(READ_CR(4), cr4 | CR4_DE);
	}
	if (edx & CPUID_PSE) {
		WRITE_CR(4, cr4 | CR4_PSE);
		RT_CHECK_EQ(READ_CR(4), cr4 | CR4_PSE);
	}
	if (edx & CPUID_PGE) {
		WRITE_CR(4, cr4 | CR4_PGE);
		RT_CHECK_EQ(READ_CR(4), cr4 | CR4_PGE);
	}
	WRITE_CR(4, cr4);
	RT_CHECK_EQ(READ_CR(4), cr4);
	RT_CHECK(!(READ_CR(0) & CR0_PG));
	rt_section_end();

	rt_section("mov-dr");
	uint32_t dr[5] = {READ_DR(0), READ_DR(1), READ_DR(2), READ_DR(3), READ_DR(7)};
	WRITE_DR(0, 0x00100000);
	WRITE_DR(1, 0x00200004);
	WRITE_DR(2, 0xfffffff0);
	WRITE_DR(3, 0x12345678);
	/* RW/LEN fields and LE/GE set, no breakpoint enabled; bit 10 reads as 1. */
	WRITE_DR(7, 0x55550700);
	RT_CHECK_EQ(READ_DR(0), 0x00100000);
	RT_CHECK_EQ(READ_DR(1), 0x00200004);
	RT_CHECK_EQ(READ_DR(2), 0xfffffff0);
	RT_CHECK_EQ(READ_DR(3), 0x12345678);
	RT_CHECK_EQ(READ_DR(7), 0x55550700);
	WRITE_DR(7, 0);
	RT_CHECK_EQ(READ_DR(7), 0x400);
	WRITE_DR(0, dr[0]);
	WRITE_DR(1, dr[1]);
	WRITE_DR(2, dr[2]);
	WRITE_DR(3, dr[3]);
	WRITE_DR(7, dr[4]);
	rt_section_end();
}

static void test_lmsw_clts(void)
{
	uint32_t cr0 = READ_CR(0) & ~(CR0_MP | CR0_EM | CR0_TS);
	uint16_t m;

	rt_section("lmsw");
	WRITE_CR(0, cr0);
	__asm__ volatile("lmsw %w0" ::"r"((cr0 | CR0_MP | CR0_TS) & 0xffff));
	RT_CHECK_EQ(READ_CR(0), cr0 | CR0_MP | CR0_TS);
	m = (uint16_t)(cr0 | CR0_EM);
	__asm__ volatile("lmsw %0" ::"m"(m));
	RT_CHECK_EQ(READ_CR(0), cr0 | CR0_EM);
	/* LMSW cannot clear PE ... */
	__asm__ volatile("lmsw %w0" ::"r"(0));
	RT_CHECK_EQ(READ_CR(0), cr0);
	/* ... and ignores bits 4..15 of its operand (NE, ET stay as they were). */
	__asm__ volatile("lmsw %w0" ::"r"(~cr0 & 0xfff0));
	RT_CHECK_EQ(READ_CR(0), cr0);
	__asm__ volatile("smsw %w0" : "=r"(m));
	RT_CHECK_EQ(m, cr0 & 0xffff);
	rt_section_end();

	rt_section("clts");
	WRITE_CR(0, cr0 | CR0_TS | CR0_MP);
	__asm__ volatile("clts");
	RT_CHECK_EQ(READ_CR(0), cr0 | CR0_MP);
	__asm__ volatile("clts");
	RT_CHECK_EQ(READ_CR(0), cr0 | CR0_MP);
	WRITE_CR(0, cr0);
	rt_section_end();
}

static void test_cpuid_rdtsc_msr(void)
{
	uint32_t r0[4], r1[4], again[4];

	rt_section("cpuid");
	cpuid(0, r0);
	RT_CHECK(r0[0] >= 1);
	/* The vendor string is twelve printable characters (never printed:
	   it differs between QEMU and btvmm). */
	for (int reg = 1; reg < 4; reg++)
		for (int b = 0; b < 32; b += 8)
			RT_CHECK(((r0[reg] >> b) & 0xff) >= 0x20 && ((r0[reg] >> b) & 0xff) < 0x7f);
	cpuid(1, r1);
	RT_CHECK(r1[3] & CPUID_FPU);
	RT_CHECK(r1[3] & CPUID_TSC);
	RT_CHECK(r1[3] & CPUID_MSR);
	RT_CHECK(r1[3] & CPUID_SEP);
	RT_CHECK(((r1[0] >> 8) & 0xf) >= 5); /* family: a Pentium or later */
	cpuid(1, again);
	RT_CHECK_EQ(again[0], r1[0]);
	RT_CHECK_EQ(again[3], r1[3]);
	rt_section_end();

	rt_section("rdtsc");
	uint64_t t1 = rdtsc();
	uint64_t t2 = rdtsc();
	RT_CHECK(t2 >= t1);
	for (int i = 0; i < 100; i++)
		(void)inb(0x3fd);
	uint64_t t3 = rdtsc();
	RT_CHECK(t3 > t1);
	rt_section_end();

	rt_section("msr");
	uint64_t saved[3] = {rdmsr(0x174), rdmsr(0x175), rdmsr(0x176)};
	wrmsr(0x174, RT_CS);
	wrmsr(0x175, 0x00abcdf0);
	wrmsr(0x176, 0x00102030);
	RT_CHECK(rdmsr(0x174) == RT_CS);
	RT_CHECK(rdmsr(0x175) == 0x00abcdf0);
	RT_CHECK(rdmsr(0x176) == 0x00102030);
	wrmsr(0x175, 0xfffffffc);
	RT_CHECK(rdmsr(0x175) == 0xfffffffc);
	for (int i = 0; i < 3; i++)
		wrmsr(0x174 + i, saved[i]);
	RT_CHECK(rdmsr(0x174) == saved[0]);
	rt_section_end();
}

static volatile uint32_t cache_probe;

static void test_invlpg_cache(void)
{
	rt_section("invlpg-invd-wbinvd");
	cache_probe = 0x600dcafe;
	__asm__ volatile("invlpg (%0)" ::"r"(&cache_probe) : "memory");
	__asm__ volatile("invlpg (%0)" ::"r"(0xfffff000u) : "memory");
	__asm__ volatile("invlpg (%0)" ::"r"(0) : "memory");
	RT_CHECK_EQ(cache_probe, 0x600dcafe);
	/* WBINVD first: INVD may drop dirty lines on real hardware. */
	__asm__ volatile("wbinvd" ::: "memory");
	RT_CHECK_EQ(cache_probe, 0x600dcafe);
	__asm__ volatile("wbinvd; invd" ::: "memory");
	RT_CHECK_EQ(cache_probe, 0x600dcafe);
	cache_probe = 1;
	RT_CHECK_EQ(cache_probe, 1);
	rt_section_end();
}

/*
 * The 16550A scratch register (COM1 + 7 = 0x3ff) holds any byte and has no
 * side effect. Word and dword accesses use the aligned ports 0x3fe (MSR,
 * SCR) and 0x3fc (MCR, LSR, MSR, SCR) and only the SCR byte is checked; the
 * other bytes written are the values just read, so the UART is unchanged.
 */
#define UART_SCR 0x3ff

static void test_port_io(void)
{
	uint8_t src[4] = {0x01, 0x02, 0x03, 0x04}, dst[4];
	uint32_t esi, edi, ecx;

	rt_section("in-out");
	outb(UART_SCR, 0xa5);
	RT_CHECK_EQ(inb(UART_SCR), 0xa5);
	outb(UART_SCR, 0x5a);
	RT_CHECK_EQ(inb(UART_SCR), 0x5a);
	uint16_t w = inw(0x3fe);
	outw(0x3fe, (uint16_t)((w & 0xff) | 0xc300));
	RT_CHECK_EQ(inb(UART_SCR), 0xc3);
	RT_CHECK_EQ(inw(0x3fe) >> 8, 0xc3);
	uint32_t l = inl(0x3fc);
	RT_CHECK_EQ(l >> 24, 0xc3);
	outl(0x3fc, (l & 0x00ffffffu) | 0x3c000000u);
	RT_CHECK_EQ(inb(UART_SCR), 0x3c);
	RT_CHECK_EQ(inl(0x3fc) >> 24, 0x3c);
	/* The imm8 port forms, on the master PIC's mask (all masked above). */
	uint8_t mask;
	__asm__ volatile("outb %b0, $0x21" ::"a"(0xff));
	__asm__ volatile("inb $0x21, %b0" : "=a"(mask));
	RT_CHECK_EQ(mask, 0xff);
	rt_section_end();

	rt_section("ins-outs");
	__asm__ volatile("cld; rep outsb"
	                 : "=S"(esi), "=c"(ecx)
	                 : "0"(src), "1"(4), "d"(UART_SCR)
	                 : "memory");
	RT_CHECK_EQ(esi, (uint32_t)(src + 4));
	RT_CHECK_EQ(ecx, 0);
	RT_CHECK_EQ(inb(UART_SCR), 0x04);
	rt_memset(dst, 0, sizeof dst);
	__asm__ volatile("rep insb" : "=D"(edi), "=c"(ecx) : "0"(dst), "1"(3), "d"(UART_SCR) : "memory");
	RT_CHECK_EQ(edi, (uint32_t)(dst + 3));
	RT_CHECK_EQ(ecx, 0);
	RT_CHECK_EQ(dst[0], 0x04);
	RT_CHECK_EQ(dst[2], 0x04);
	RT_CHECK_EQ(dst[3], 0x00);
	/* DF=1 walks down: from src[1], src[0] is the last byte out. */
	__asm__ volatile("std; rep outsb; cld"
	                 : "=S"(esi), "=c"(ecx)
	                 : "0"(src + 1), "1"(2), "d"(UART_SCR)
	                 : "memory");
	RT_CHECK_EQ(esi, (uint32_t)src - 1);
	RT_CHECK_EQ(inb(UART_SCR), 0x01);
	__asm__ volatile("outsb; insb" : "=S"(esi), "=D"(edi) : "0"(src + 2), "1"(dst + 3), "d"(UART_SCR) : "memory");
	RT_CHECK_EQ(dst[3], 0x03);
	RT_CHECK_EQ(esi, (uint32_t)(src + 3));
	RT_CHECK_EQ(edi, (uint32_t)(dst + 4));
	uint16_t wsrc = (uint16_t)((inw(0x3fe) & 0xff) | 0x6600), wdst = 0;
	__asm__ volatile("outsw; insw" : "=S"(esi), "=D"(edi) : "0"(&wsrc), "1"(&wdst), "d"(0x3fe) : "memory");
	RT_CHECK_EQ(wdst >> 8, 0x66);
	RT_CHECK_EQ(esi, (uint32_t)&wsrc + 2);
	RT_CHECK_EQ(edi, (uint32_t)&wdst + 2);
	uint32_t lsrc = (inl(0x3fc) & 0x00ffffffu) | 0x99000000u, ldst[2] = {0, 0};
	__asm__ volatile("outsl; rep insl"
	                 : "=S"(esi), "=D"(edi), "=c"(ecx)
	                 : "0"(&lsrc), "1"(ldst), "2"(2), "d"(0x3fc)
	                 : "memory");
	RT_CHECK_EQ(ldst[0] >> 24, 0x99);
	RT_CHECK_EQ(ldst[1] >> 24, 0x99);
	RT_CHECK_EQ(edi, (uint32_t)(ldst + 2));
	RT_CHECK_EQ(ecx, 0);
	rt_section_end();
}

/* LSS with a second stack selector; records what it saw in globals. */
volatile struct farptr sens_lss_new, sens_lss_back = {0, RT_DS};
volatile uint32_t sens_lss_esp, sens_lss_ss;
static volatile uint32_t alt_stack[16];
void sens_lss(void);
__asm__(".text\n"
        ".globl sens_lss\n"
        "sens_lss:\n\t"
        "movl %esp, sens_lss_back\n\t"
        "lss sens_lss_new, %esp\n\t"
        "movl %esp, sens_lss_esp\n\t"
        "movw %ss, sens_lss_ss\n\t"
        "pushl $0x5a5a5a5a\n\t"
        "lss sens_lss_back, %esp\n\t"
        "ret\n");

static void test_load_far_pointer(void)
{
	struct farptr p;
	uint32_t off, sel, v;

	rt_section("lss-lds-les-lfs-lgs");
	sens_lss_new.offset = (uint32_t)&alt_stack[16];
	sens_lss_new.sel = SEL_STACK2;
	sens_lss();
	RT_CHECK_EQ(sens_lss_esp, (uint32_t)&alt_stack[16]);
	RT_CHECK_EQ(sens_lss_ss & 0xffff, SEL_STACK2);
	RT_CHECK_EQ(alt_stack[15], 0x5a5a5a5a);
	RT_CHECK_EQ(READ_SEG(ss), RT_DS);

	p.offset = 0x12345678;
	p.sel = SEL_DATA_DPL3 | 3;
	__asm__ volatile("lds (%2), %0; movl %%ds, %1; movw %w3, %%ds"
	                 : "=&r"(off), "=&r"(sel)
	                 : "r"(&p), "r"(RT_DS)
	                 : "memory");
	RT_CHECK_EQ(off, 0x12345678);
	RT_CHECK_EQ(sel & 0xffff, SEL_DATA_DPL3 | 3);
	p.offset = 0x87654321;
	__asm__ volatile("les (%2), %0; movl %%es, %1; movw %w3, %%es"
	                 : "=&r"(off), "=&r"(sel)
	                 : "r"(&p), "r"(RT_DS)
	                 : "memory");
	RT_CHECK_EQ(off, 0x87654321);
	RT_CHECK_EQ(sel & 0xffff, SEL_DATA_DPL3 | 3);
	/* LFS/LGS with a based selector: the base is live after the load. */
	p.offset = 4;
	p.sel = SEL_BASED;
	__asm__ volatile("lfs (%3), %0; movl %%fs, %1; movl %%fs:(%0), %2; movw %w4, %%fs"
	                 : "=&r"(off), "=&r"(sel), "=&r"(v)
	                 : "r"(&p), "r"(RT_DS)
	                 : "memory");
	RT_CHECK_EQ(off, 4);
	RT_CHECK_EQ(sel & 0xffff, SEL_BASED);
	RT_CHECK_EQ(v, 0x22222222);
	p.offset = 12;
	__asm__ volatile("lgs (%3), %0; movl %%gs, %1; movl %%gs:(%0), %2; movw %w4, %%gs"
	                 : "=&r"(off), "=&r"(sel), "=&r"(v)
	                 : "r"(&p), "r"(RT_DS)
	                 : "memory");
	RT_CHECK_EQ(off, 12);
	RT_CHECK_EQ(sel & 0xffff, SEL_BASED);
	RT_CHECK_EQ(v, 0x44444444);
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	rt_puts("sensitive: begin\n");
	pic_mask_all();
	setup_descriptors();
	test_sgdt_sidt();
	test_sldt_str();
	test_smsw();
	test_pushf_popf();
	test_lar_lsl_verr_verw();
	test_segment_registers();
	test_segment_reload();
	test_far_transfers();
	test_software_interrupts();
	test_control_registers();
	test_lmsw_clts();
	test_cpuid_rdtsc_msr();
	test_invlpg_cache();
	test_port_io();
	test_load_far_pointer();
}
