/* Test guest: the primary IDE channel by PIO — IDENTIFY, LBA28/LBA48 reads and writes with IRQ 14, aborts, absent slave, soft reset. */
#include "rt.h"

/*
 * Expects a 1 MiB raw disk as primary master and nothing as its slave
 * (run-guest.sh --qemu-args "-drive file=...,if=ide,index=0,snapshot=on").
 * The disk starts zeroed; the guest writes and reads sectors 5-6 back.
 * Everything printed is the same on any correct controller (no model
 * strings), so the output can be compared between QEMU and btvmm.
 */

#define IDE_BASE   0x1f0
#define IDE_CTRL   0x3f6
#define IRQ_BASE   0x20
#define PIC1_CMD   0x20
#define PIC1_DATA  0x21
#define PIC2_CMD   0xa0
#define PIC2_DATA  0xa1
#define PIC_EOI    0x20
#define OCW3_ISR   0x0b

#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DRDY 0x40
#define ST_BSY  0x80
#define DISK_SECTORS 2048u

#define POLL_LIMIT 50000000u

struct irq_frame {
	uint32_t edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax;
	uint32_t irq;
	uint32_t eip, cs, eflags;
};

void ide_irq_dispatch(struct irq_frame *f);
extern void (*const ide_irq_stubs[16])(void);

__asm__(".text\n"
        ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
        "ide_irq_stub_\\n:\n\t"
        "pushl $\\n\n\t"
        "jmp ide_irq_common\n"
        ".endr\n"
        "ide_irq_common:\n\t"
        "pushal\n\t"
        "cld\n\t"
        "pushl %esp\n\t"
        "call ide_irq_dispatch\n\t"
        "addl $4, %esp\n\t"
        "popal\n\t"
        "addl $4, %esp\n\t"
        "iret\n"
        ".section .rodata\n"
        ".balign 4\n"
        "ide_irq_stubs:\n"
        ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
        ".long ide_irq_stub_\\n\n"
        ".endr\n"
        ".text\n");

static volatile uint32_t irq14_count;
static volatile uint32_t other_irqs;

static uint8_t pic_read(uint16_t cmd_port, uint8_t ocw3)
{
	outb(cmd_port, ocw3);
	return inb(cmd_port);
}

/* IRQ 14 counts and is acknowledged at the PIC only: the drive's INTRQ
 * stays up until the test reads the status register, as a driver would. */
void ide_irq_dispatch(struct irq_frame *f)
{
	if (f->irq == 7 && !(pic_read(PIC1_CMD, OCW3_ISR) & 0x80))
		return;
	if (f->irq == 15 && !(pic_read(PIC2_CMD, OCW3_ISR) & 0x80)) {
		outb(PIC1_CMD, PIC_EOI);
		return;
	}
	if (f->irq == 14)
		irq14_count++;
	else
		other_irqs |= 1u << f->irq;
	if (f->irq >= 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
}

static void pic_init(void)
{
	__asm__ volatile("cli");
	outb(PIC1_CMD, 0x11);
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, IRQ_BASE);
	outb(PIC2_DATA, IRQ_BASE + 8);
	outb(PIC1_DATA, 0x04);
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xfb);         /* only the cascade */
	outb(PIC2_DATA, 0xbf);         /* and IRQ 14 */
	for (int i = 0; i < 16; i++)
		rt_idt_set(IRQ_BASE + i, ide_irq_stubs[i], 0xe);
	rt_lidt();
	__asm__ volatile("sti");
}

/* Wait until the IRQ count reaches `want`; false if it never does. */
static int wait_irq(uint32_t want)
{
	for (uint32_t i = 0; i < POLL_LIMIT; i++)
		if (irq14_count >= want)
			return 1;
	return 0;
}

static uint8_t wait_not_busy(void)
{
	uint8_t st = 0;

	for (uint32_t i = 0; i < POLL_LIMIT; i++) {
		st = inb(IDE_CTRL);
		if (!(st & ST_BSY))
			break;
	}
	return st;
}

static void lba28(uint8_t cmd, uint32_t lba, uint8_t count)
{
	outb(IDE_BASE + 2, count);
	outb(IDE_BASE + 3, (uint8_t)lba);
	outb(IDE_BASE + 4, (uint8_t)(lba >> 8));
	outb(IDE_BASE + 5, (uint8_t)(lba >> 16));
	outb(IDE_BASE + 6, (uint8_t)(0xe0 | ((lba >> 24) & 0x0f)));
	outb(IDE_BASE + 7, cmd);
}

static uint16_t words[256];
static uint16_t sector_buf[2][256];

static void test_identify(void)
{
	rt_section("identify");
	outb(IDE_BASE + 6, 0xa0);
	RT_CHECK_EQ(wait_not_busy() & (ST_BSY | ST_DRDY), ST_DRDY);
	uint32_t before = irq14_count;
	outb(IDE_BASE + 7, 0xec);
	RT_CHECK(wait_irq(before + 1));
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), ST_DRQ);
	for (int i = 0; i < 256; i++)
		words[i] = inw(IDE_BASE);
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), 0);
	RT_CHECK_EQ(words[0], 0x0040);
	RT_CHECK(words[49] & (1u << 9));
	RT_CHECK_EQ(words[60] | (uint32_t)words[61] << 16, DISK_SECTORS);
	RT_CHECK(words[83] & (1u << 10));
	RT_CHECK_EQ(words[100] | (uint32_t)words[101] << 16, DISK_SECTORS);
	RT_CHECK_EQ(words[47] & 0xff00, 0x8000);
	/* The model is space-padded ASCII. */
	char c = (char)(words[27] >> 8);
	RT_CHECK(c > ' ' && c < 127);
	rt_printf("sectors %u multiple max %u\n", words[60] | (uint32_t)words[61] << 16,
		  words[47] & 0xff);
	rt_section_end();
}

static void test_write_read(void)
{
	rt_section("pio-write-read");
	/* WRITE SECTORS: the first block needs no interrupt, each written
	 * block raises one. */
	uint32_t before = irq14_count;
	lba28(0x30, 5, 2);
	for (int s = 0; s < 2; s++) {
		uint32_t n = 0;
		while (!(inb(IDE_CTRL) & ST_DRQ) && n++ < POLL_LIMIT)
			;
		for (int i = 0; i < 256; i++)
			outw(IDE_BASE, (uint16_t)(0x1000 * (s + 1) + i));
		RT_CHECK(wait_irq(before + (uint32_t)s + 1));
		inb(IDE_BASE + 7);
	}
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), 0);
	/* READ SECTORS: one interrupt as each sector's DRQ rises. */
	before = irq14_count;
	lba28(0x20, 4, 3);
	for (int s = 0; s < 3; s++) {
		RT_CHECK(wait_irq(before + (uint32_t)s + 1));
		RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), ST_DRQ);
		for (int i = 0; i < 128; i++) {
			uint32_t d = inl(IDE_BASE);
			if (s > 0) {
				sector_buf[s - 1][2 * i] = (uint16_t)d;
				sector_buf[s - 1][2 * i + 1] = (uint16_t)(d >> 16);
			} else {
				RT_CHECK_EQ(d, 0);
			}
		}
	}
	int bad = 0;
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 256; i++)
			bad += sector_buf[s][i] != (uint16_t)(0x1000 * (s + 1) + i);
	RT_CHECK_EQ(bad, 0);
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), 0);
	RT_CHECK_EQ(irq14_count, before + 3);
	RT_CHECK_EQ(inb(IDE_BASE + 3), 7);          /* next sector */
	rt_section_end();
}

static void test_lba48(void)
{
	rt_section("lba48-read");
	uint32_t before = irq14_count;
	outb(IDE_BASE + 2, 0); outb(IDE_BASE + 3, 0); outb(IDE_BASE + 4, 0); outb(IDE_BASE + 5, 0);
	outb(IDE_BASE + 2, 1); outb(IDE_BASE + 3, 6); outb(IDE_BASE + 4, 0); outb(IDE_BASE + 5, 0);
	outb(IDE_BASE + 6, 0x40);
	outb(IDE_BASE + 7, 0x24);
	RT_CHECK(wait_irq(before + 1));
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), ST_DRQ);
	int bad = 0;
	for (int i = 0; i < 256; i++)
		bad += inw(IDE_BASE) != (uint16_t)(0x2000 + i);
	RT_CHECK_EQ(bad, 0);
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), 0);
	rt_section_end();
}

static void test_abort(void)
{
	rt_section("abort");
	uint32_t before = irq14_count;
	outb(IDE_BASE + 6, 0xa0);
	outb(IDE_BASE + 7, 0xa1);                   /* IDENTIFY PACKET: not ATAPI */
	RT_CHECK(wait_irq(before + 1));
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), ST_ERR);
	RT_CHECK_EQ(inb(IDE_BASE + 1) & 0x04, 0x04);
	lba28(0x20, DISK_SECTORS, 1);               /* past the end */
	RT_CHECK(wait_irq(before + 2));
	RT_CHECK_EQ(inb(IDE_BASE + 7) & (ST_BSY | ST_DRQ | ST_ERR), ST_ERR);
	rt_section_end();
}

static void test_slave_and_reset(void)
{
	rt_section("slave-reset");
	outb(IDE_BASE + 6, 0xb0);
	RT_CHECK_EQ(inb(IDE_BASE + 7), 0);          /* no slave */
	outb(IDE_BASE + 6, 0xa0);
	outb(IDE_CTRL, 0x04 | 0x02);                /* SRST, nIEN */
	for (volatile int i = 0; i < 1000; i++)
		;
	outb(IDE_CTRL, 0x02);
	uint8_t st = wait_not_busy();
	RT_CHECK_EQ(st & (ST_BSY | ST_DRDY | ST_ERR), ST_DRDY);
	RT_CHECK_EQ(inb(IDE_BASE + 2), 1);          /* the ATA signature */
	RT_CHECK_EQ(inb(IDE_BASE + 3), 1);
	RT_CHECK_EQ(inb(IDE_BASE + 4), 0);
	RT_CHECK_EQ(inb(IDE_BASE + 5), 0);
	RT_CHECK_EQ(inb(IDE_BASE + 1), 1);          /* diagnostics passed */
	/* nIEN: a command completes without an interrupt. */
	uint32_t before = irq14_count;
	outb(IDE_BASE + 7, 0xe7);                   /* FLUSH CACHE */
	RT_CHECK_EQ(wait_not_busy() & (ST_BSY | ST_DRQ | ST_ERR), 0);
	for (volatile int i = 0; i < 100000; i++)
		;
	RT_CHECK_EQ(irq14_count, before);
	outb(IDE_CTRL, 0x00);
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	pic_init();
	test_identify();
	test_write_read();
	test_lba48();
	test_abort();
	test_slave_and_reset();
	RT_CHECK_EQ(other_irqs, 0);
}
