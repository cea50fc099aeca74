/*
 * Test guest: the local APIC (registers, priorities, self-IPIs, the timer's
 * one-shot, periodic and TSC-deadline modes) and the I/O APIC (ISA routing,
 * edge and level pins, Remote IRR and EOI), as a PC with QEMU's "pc"
 * machine has them.
 *
 * Every wait is bounded by a poll count, and the output never depends on
 * how fast the host is: counts are checked with margins and only ok/FAILED
 * is printed.
 */
#include "rt.h"

#define LAPIC 0xfee00000u
#define IOAPIC 0xfec00000u

#define APIC_ID 0x20
#define APIC_VER 0x30
#define APIC_TPR 0x80
#define APIC_PPR 0xa0
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ISR 0x100
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_ICR 0x300
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define APIC_TDCR 0x3e0

#define LVT_MASKED (1u << 16)
#define TIMER_PERIODIC (1u << 17)
#define TIMER_TSC_DEADLINE (2u << 17)

#define POLL_LIMIT 50000000u

static inline uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(LAPIC + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC + reg) = v;
}

static uint32_t ioapic_read(uint32_t reg)
{
	*(volatile uint32_t *)IOAPIC = reg;
	return *(volatile uint32_t *)(IOAPIC + 0x10);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = reg;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* ---- interrupt stubs for vectors 0x40-0x5f: count, remember the last ---- */

volatile uint32_t irq_count[256];
volatile uint32_t irq_last;
volatile uint32_t irq_remote_irr; /* pin 4's Remote IRR seen in the handler */

__asm__(".text\n"
	"apic_irq_common:\n\t"
	"pushal\n\t"
	"movl 32(%esp), %eax\n\t"
	"incl irq_count(,%eax,4)\n\t"
	"movl %eax, irq_last\n\t"
	"popal\n\t"
	"addl $4, %esp\n\t"
	"iret\n");
#define STUB(v) __asm__(".text\n.globl apic_stub_" #v "\napic_stub_" #v ":\n\tpushl $" #v "\n\tjmp apic_irq_common\n");
#define STUB8(a) STUB(a##0) STUB(a##1) STUB(a##2) STUB(a##3) STUB(a##4) STUB(a##5) STUB(a##6) STUB(a##7)
STUB8(0x4) STUB8(0x5)
#define DECL(v) extern void apic_stub_##v(void);
#define DECL8(a) DECL(a##0) DECL(a##1) DECL(a##2) DECL(a##3) DECL(a##4) DECL(a##5) DECL(a##6) DECL(a##7)
DECL8(0x4) DECL8(0x5)
static void (*const stubs_4[8])(void) = { apic_stub_0x40, apic_stub_0x41, apic_stub_0x42, apic_stub_0x43,
					 apic_stub_0x44, apic_stub_0x45, apic_stub_0x46, apic_stub_0x47 };
static void (*const stubs_5[8])(void) = { apic_stub_0x50, apic_stub_0x51, apic_stub_0x52, apic_stub_0x53,
					 apic_stub_0x54, apic_stub_0x55, apic_stub_0x56, apic_stub_0x57 };

/* Wait with interrupts on until vector v has been taken `n` times. */
static int wait_for(uint32_t v, uint32_t n)
{
	for (uint32_t i = 0; i < POLL_LIMIT; i++) {
		__asm__ volatile("sti; nop; cli" ::: "memory");
		if (irq_count[v] >= n)
			return 1;
	}
	return 0;
}

static int bit_set(uint32_t base, unsigned v)
{
	return (lapic_read(base + (v / 32) * 0x10) >> (v % 32)) & 1;
}

static void registers(void)
{
	rt_section("local APIC registers");
	uint64_t base = rdmsr(0x1b);
	rt_printf("apic base msr %x (bsp %u enabled %u)\n", (uint32_t)base & 0xfffff000u,
		  (uint32_t)(base >> 8) & 1, (uint32_t)(base >> 11) & 1);
	rt_printf("id %x version %x svr %x lint0 %x lint1 %x timer %x error %x\n",
		  lapic_read(APIC_ID), lapic_read(APIC_VER), lapic_read(APIC_SVR),
		  lapic_read(APIC_LVT_LINT0), lapic_read(0x360), lapic_read(APIC_LVT_TIMER),
		  lapic_read(0x370));
	lapic_write(APIC_SVR, 0x1ff);                  /* enable, spurious 0xff */
	RT_CHECK_EQ(lapic_read(APIC_SVR), 0x1ff);
	lapic_write(APIC_TPR, 0x35);
	RT_CHECK_EQ(lapic_read(APIC_TPR), 0x35);
	RT_CHECK_EQ(lapic_read(APIC_PPR), 0x35); /* nothing in service */
	lapic_write(APIC_TPR, 0);
	RT_CHECK_EQ(lapic_read(APIC_TMICT), 0);
	lapic_write(APIC_TDCR, 0xb); /* divide by 1 */
	RT_CHECK_EQ(lapic_read(APIC_TDCR), 0xb);
	rt_section_end();
}

/* Self-IPIs through the ICR, held back by TPR, ordered by priority. */
static void self_ipi(void)
{
	rt_section("self-IPI, TPR and priorities");
	lapic_write(APIC_TPR, 0x50);                 /* blocks classes 0-5 */
	lapic_write(APIC_ICR, (1u << 18) | 0x45);    /* shorthand self, fixed */
	lapic_write(APIC_ICR, (1u << 18) | 0x57);
	__asm__ volatile("sti; nop; nop; cli");
	RT_CHECK_EQ(irq_count[0x45] + irq_count[0x57], 0);
	RT_CHECK(bit_set(APIC_IRR, 0x45));
	RT_CHECK(bit_set(APIC_IRR, 0x57));
	lapic_write(APIC_TPR, 0);
	/* 0x57 (class 5) first; 0x45 waits for its EOI, being lower. */
	RT_CHECK(wait_for(0x57, 1));
	RT_CHECK_EQ(irq_last, 0x57);
	RT_CHECK_EQ(irq_count[0x45], 0);
	RT_CHECK(bit_set(APIC_ISR, 0x57));
	RT_CHECK_EQ(lapic_read(APIC_PPR), 0x50);
	lapic_write(APIC_EOI, 0);
	RT_CHECK(wait_for(0x45, 1));
	RT_CHECK_EQ(irq_last, 0x45);
	lapic_write(APIC_EOI, 0);
	RT_CHECK(!bit_set(APIC_ISR, 0x45));
	RT_CHECK_EQ(lapic_read(APIC_PPR), 0);
	rt_printf("ipi order 57 45\n");
	rt_section_end();
}

static void timer_one_shot(void)
{
	rt_section("timer: one-shot");
	lapic_write(APIC_LVT_TIMER, 0x40);
	lapic_write(APIC_TMICT, 2000000); /* 2 ms at QEMU's 1 GHz bus clock */
	/* Counting down (0 if the host was slow enough for it to expire
	 * already: nothing here may depend on how fast time passes). */
	uint32_t c1 = lapic_read(APIC_TMCCT);
	if (c1 > 2000000)
		rt_printf("FAIL current count %u\n", c1);
	RT_CHECK(wait_for(0x40, 1));
	lapic_write(APIC_EOI, 0);
	RT_CHECK_EQ(lapic_read(APIC_TMCCT), 0);
	RT_CHECK_EQ(lapic_read(APIC_TMICT), 2000000);
	/* Nothing more comes: it was one shot. */
	for (uint32_t i = 0; i < 200000; i++)
		__asm__ volatile("sti; nop; cli");
	RT_CHECK_EQ(irq_count[0x40], 1);
	rt_section_end();
}

static void timer_periodic(void)
{
	rt_section("timer: periodic, divide by 16");
	lapic_write(APIC_TDCR, 0x3); /* divide by 16 */
	lapic_write(APIC_LVT_TIMER, TIMER_PERIODIC | 0x41);
	lapic_write(APIC_TMICT, 100000); /* 1.6 ms */
	for (uint32_t n = 1; n <= 5; n++) {
		RT_CHECK(wait_for(0x41, n));
		lapic_write(APIC_EOI, 0);
	}
	uint32_t c = lapic_read(APIC_TMCCT);
	RT_CHECK(c <= 100000); /* reloaded, running */
	lapic_write(APIC_LVT_TIMER, LVT_MASKED | TIMER_PERIODIC | 0x41);
	lapic_write(APIC_TMICT, 0); /* stops */
	lapic_write(APIC_TDCR, 0xb);
	/* A tick that fired before the mask may still be pending (a busy
	 * host runs this slowly): let it in and end it; after that nothing
	 * more may come. */
	for (uint32_t i = 0; i < 1000; i++)
		__asm__ volatile("sti; nop; cli");
	if (bit_set(APIC_ISR, 0x41))
		lapic_write(APIC_EOI, 0);
	uint32_t seen = irq_count[0x41];
	for (uint32_t i = 0; i < 200000; i++)
		__asm__ volatile("sti; nop; cli");
	RT_CHECK_EQ(irq_count[0x41], seen);
	rt_printf("periodic: 5 ticks\n");
	rt_section_end();
}

/* Only when CPUID offers it (QEMU's default CPU does not); then it must
 * work, and prints nothing either way. */
static void timer_tsc_deadline(void)
{
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1));
	if (!(c & (1u << 24)))
		return;
	int before = rt_failures;
	lapic_write(APIC_LVT_TIMER, TIMER_TSC_DEADLINE | 0x42);
	wrmsr(0x6e0, rdtsc() + 1000000);
	RT_CHECK(wait_for(0x42, 1));
	lapic_write(APIC_EOI, 0);
	RT_CHECK_EQ((uint32_t)rdmsr(0x6e0), 0); /* disarmed once fired */
	wrmsr(0x6e0, rdtsc() + 1000000000000ull);
	wrmsr(0x6e0, 0); /* disarm */
	for (uint32_t i = 0; i < 200000; i++)
		__asm__ volatile("sti; nop; cli");
	RT_CHECK_EQ(irq_count[0x42], 1);
	lapic_write(APIC_LVT_TIMER, LVT_MASKED);
	if (rt_failures != before)
		rt_printf("FAIL tsc-deadline\n");
}

#define COM1 0x3f8

/* The I/O APIC: version and pins, then COM1's IRQ 4 (its THR-empty
 * interrupt is a level the guest controls) routed to pin 4. */
static void ioapic(void)
{
	rt_section("I/O APIC routing");
	uint32_t ver = ioapic_read(1);
	rt_printf("ioapic pins %u\n", ((ver >> 16) & 0xff) + 1);
	for (unsigned pin = 0; pin < 24; pin++)
		RT_CHECK(ioapic_read(0x10 + 2 * pin) & LVT_MASKED); /* masked at reset */

	/* Edge: pin 4 -> vector 0x54. THRE raises the line when enabled. */
	ioapic_write(0x10 + 2 * 4 + 1, 0);          /* destination APIC 0 */
	ioapic_write(0x10 + 2 * 4, 0x54);           /* fixed, edge, high, unmasked */
	outb(COM1 + 1, 0x02);                        /* IER: THR empty */
	RT_CHECK(wait_for(0x54, 1));
	RT_CHECK(!bit_set(APIC_TMR, 0x54));
	outb(COM1 + 1, 0);
	lapic_write(APIC_EOI, 0);

	/* Level: delivered with Remote IRR set until the EOI; while the line
	 * stays high, the EOI delivers it again. */
	ioapic_write(0x10 + 2 * 4, 0x55 | (1u << 15)); /* level */
	outb(COM1 + 1, 0x02);
	RT_CHECK(wait_for(0x55, 1));
	RT_CHECK(ioapic_read(0x10 + 2 * 4) & (1u << 14)); /* Remote IRR */
	RT_CHECK(bit_set(APIC_TMR, 0x55));
	lapic_write(APIC_EOI, 0);                    /* line still high */
	RT_CHECK(wait_for(0x55, 2));
	outb(COM1 + 1, 0);                           /* line drops */
	(void)inb(COM1 + 2);
	lapic_write(APIC_EOI, 0);
	RT_CHECK(!(ioapic_read(0x10 + 2 * 4) & (1u << 14)));
	for (uint32_t i = 0; i < 200000; i++)
		__asm__ volatile("sti; nop; cli");
	RT_CHECK_EQ(irq_count[0x55], 2);

	/* Masked: no delivery. */
	ioapic_write(0x10 + 2 * 4, 0x56 | LVT_MASKED);
	outb(COM1 + 1, 0x02);
	for (uint32_t i = 0; i < 200000; i++)
		__asm__ volatile("sti; nop; cli");
	RT_CHECK_EQ(irq_count[0x56], 0);
	outb(COM1 + 1, 0);
	rt_printf("edge 1, level 2, masked 0\n");
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	for (int i = 0; i < 8; i++) {
		rt_idt_set(0x40 + i, stubs_4[i], 0xe);
		rt_idt_set(0x50 + i, stubs_5[i], 0xe);
	}
	rt_lidt();
	outb(0x21, 0xff); /* the 8259s keep out of it */
	outb(0xa1, 0xff);
	registers();
	self_ipi();
	timer_one_shot();
	timer_periodic();
	timer_tsc_deadline();
	ioapic();
}
