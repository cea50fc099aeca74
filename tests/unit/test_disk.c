/* Unit tests for the disks: the image backend, the IDE channels, PCI configuration, virtio-blk. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"
#include "devices_internal.h"
#include "pc_map.h"

/* ---- Images: temporary files whose sector s holds bytes (s * 7 + i) ---- */

#define MAX_IMAGES 4
static char image_paths[MAX_IMAGES][64];
static unsigned nimages;

static uint8_t pattern(uint64_t sector, unsigned i)
{
	return (uint8_t)(sector * 7 + i);
}

/* Create an image of `size` bytes filled with pattern(); return its path. */
static const char *make_image(uint64_t size)
{
	ck_assert_uint_lt(nimages, MAX_IMAGES);
	char *path = image_paths[nimages++];
	snprintf(path, 64, "/tmp/btvmm-test-disk.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	uint8_t sector[512];
	for (uint64_t off = 0; off < size; off += sizeof sector) {
		size_t len = size - off < sizeof sector ? (size_t)(size - off) : sizeof sector;
		for (unsigned i = 0; i < len; i++)
			sector[i] = pattern(off / 512, i);
		ck_assert_int_eq(pwrite(fd, sector, len, (off_t)off), (ssize_t)len);
	}
	ck_assert_int_eq(close(fd), 0);
	return path;
}

static void read_file_sector(const char *path, uint64_t sector, uint8_t *buf)
{
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, 512, (off_t)(sector * 512)), 512);
	close(fd);
}

static bool sector_has_pattern(const uint8_t *buf, uint64_t sector)
{
	for (unsigned i = 0; i < 512; i++)
		if (buf[i] != pattern(sector, i))
			return false;
	return true;
}

static void images_teardown(void)
{
	for (unsigned i = 0; i < nimages; i++)
		unlink(image_paths[i]);
	nimages = 0;
}

/* ---- Backend ---- */

START_TEST(disk_size_checks)
{
	struct dev_disk *d;
	char why[256];
	const char *odd = make_image(1000);
	const char *empty = make_image(0);
	const char *good = make_image(4096);

	ck_assert_int_eq(dev_disk_open(&d, odd, false, false, why, sizeof why), -EINVAL);
	ck_assert_ptr_null(d);
	ck_assert_ptr_nonnull(strstr(why, "size 1000 is not a positive multiple of 512"));
	ck_assert_int_eq(strncmp(why, odd, strlen(odd)), 0);
	ck_assert_int_eq(dev_disk_open(&d, empty, false, false, why, sizeof why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "size 0 "));
	ck_assert_int_eq(dev_disk_open(&d, "/nonexistent/x.img", false, false, why, sizeof why),
			 -ENOENT);
	ck_assert_str_eq(why, "/nonexistent/x.img: No such file or directory");
	ck_assert_int_eq(dev_disk_open(&d, good, false, false, why, sizeof why), 0);
	ck_assert_uint_eq(dev_disk_sectors(d), 8);
	ck_assert(!dev_disk_readonly(d));
	dev_disk_close(d);
}
END_TEST

START_TEST(disk_read_write_flush)
{
	struct dev_disk *d;
	char why[256];
	const char *path = make_image(8 * 512);
	uint8_t buf[3 * 512], file[512];

	ck_assert_int_eq(dev_disk_open(&d, path, false, false, why, sizeof why), 0);
	ck_assert_int_eq(dev_disk_read(d, 5, 3, buf), 0);
	for (unsigned s = 0; s < 3; s++)
		ck_assert(sector_has_pattern(buf + 512 * s, 5 + s));
	ck_assert_int_eq(dev_disk_read(d, 6, 3, buf), -EINVAL);  /* runs past the end */
	ck_assert_int_eq(dev_disk_read(d, UINT64_MAX, 1, buf), -EINVAL);
	memset(buf, 0x5a, 512);
	ck_assert_int_eq(dev_disk_write(d, 2, 1, buf), 0);
	ck_assert_int_eq(dev_disk_flush(d), 0);
	read_file_sector(path, 2, file);
	ck_assert_mem_eq(file, buf, 512);
	ck_assert_int_eq(dev_disk_write(d, 8, 1, buf), -EINVAL);
	dev_disk_close(d);
}
END_TEST

START_TEST(disk_readonly_refuses_writes)
{
	struct dev_disk *d;
	char why[256];
	const char *path = make_image(4 * 512);
	uint8_t buf[512], file[512];

	ck_assert_int_eq(dev_disk_open(&d, path, true, false, why, sizeof why), 0);
	ck_assert(dev_disk_readonly(d));
	memset(buf, 0xee, sizeof buf);
	ck_assert_int_eq(dev_disk_write(d, 1, 1, buf), -EROFS);
	read_file_sector(path, 1, file);
	ck_assert(sector_has_pattern(file, 1));
	ck_assert_int_eq(dev_disk_read(d, 1, 1, buf), 0);
	ck_assert(sector_has_pattern(buf, 1));
	dev_disk_close(d);
}
END_TEST

START_TEST(disk_snapshot_overlay)
{
	struct dev_disk *d;
	char why[256];
	const char *path = make_image(2048 * 512); /* two overlay chunks */
	uint8_t buf[4 * 512], data[2 * 512], file[512];

	ck_assert_int_eq(dev_disk_open(&d, path, false, true, why, sizeof why), 0);
	memset(data, 0x11, 512);
	memset(data + 512, 0x22, 512);
	ck_assert_int_eq(dev_disk_write(d, 1023, 2, data), 0); /* across the chunk edge */
	ck_assert_int_eq(dev_disk_flush(d), 0);
	ck_assert_int_eq(dev_disk_read(d, 1022, 4, buf), 0);
	ck_assert(sector_has_pattern(buf, 1022));
	ck_assert_mem_eq(buf + 512, data, 1024);
	ck_assert(sector_has_pattern(buf + 1536, 1025));
	for (uint64_t s = 1023; s <= 1024; s++) {
		read_file_sector(path, s, file);
		ck_assert(sector_has_pattern(file, s));
	}
	dev_disk_close(d);
	/* A fresh open sees the file as it was. */
	ck_assert_int_eq(dev_disk_open(&d, path, false, false, why, sizeof why), 0);
	ck_assert_int_eq(dev_disk_read(d, 1023, 1, buf), 0);
	ck_assert(sector_has_pattern(buf, 1023));
	dev_disk_close(d);
}
END_TEST

START_TEST(disk_short_file_is_an_error)
{
	struct dev_disk *d;
	char why[256];
	const char *path = make_image(4 * 512);
	uint8_t buf[512];

	ck_assert_int_eq(dev_disk_open(&d, path, false, false, why, sizeof why), 0);
	ck_assert_int_eq(truncate(path, 2 * 512 + 100), 0); /* shrinks under us */
	ck_assert_int_eq(dev_disk_read(d, 1, 1, buf), 0);
	ck_assert_int_eq(dev_disk_read(d, 2, 1, buf), -EIO);
	ck_assert_int_eq(dev_disk_read(d, 3, 1, buf), -EIO);
	dev_disk_close(d);
}
END_TEST

/* ---- IDE: a channel alone on a bus, its line watched by a fake ---- */

struct line_probe {
	bool level;
	unsigned raises;
	unsigned irq;
};

static void probe_set(void *ctx, unsigned irq, bool level)
{
	struct line_probe *l = ctx;

	if (level && !l->level)
		l->raises++;
	l->level = level;
	l->irq = irq;
}

static struct dev_bus *ide_bus;
static struct dev_ide_channel chan;
static struct line_probe line;
static struct dev_disk *ide_disk;
static const char *ide_path;

#define BASE 0x1f0
#define CTRL 0x3f6
#define ST_BSY 0x80
#define ST_READY 0x50
#define ST_DRQ 0x08
#define ST_ERR 0x01

static uint8_t ide_inb(unsigned reg) { return (uint8_t)dev_pio_in(ide_bus, (uint16_t)(BASE + reg), 1); }
static void ide_outb(unsigned reg, uint8_t v) { dev_pio_out(ide_bus, (uint16_t)(BASE + reg), 1, v); }
static uint16_t ide_inw(void) { return (uint16_t)dev_pio_in(ide_bus, BASE, 2); }
static uint8_t ide_altstatus(void) { return (uint8_t)dev_pio_in(ide_bus, CTRL, 1); }

/* A 64 KiB image (128 sectors), master of the primary channel. */
static void ide_setup_size(uint64_t sectors, bool readonly)
{
	struct dev_irq_line irq = { .set = probe_set, .ctx = &line, .irq = 14 };
	char why[256];

	memset(&line, 0, sizeof line);
	ide_bus = dev_bus_create();
	ck_assert_ptr_nonnull(ide_bus);
	dev_ide_init(&chan, &irq);
	ck_assert_int_eq(dev_bus_register(ide_bus, BASE, 8, &dev_ide_ops, &chan), 0);
	ck_assert_int_eq(dev_bus_register(ide_bus, CTRL, 1, &dev_ide_ctrl_ops, &chan), 0);
	ide_path = make_image(sectors * 512);
	ck_assert_int_eq(dev_disk_open(&ide_disk, ide_path, readonly, false, why, sizeof why), 0);
	dev_ide_attach(&chan, 0, ide_disk, 1);
}

static void ide_setup(void)
{
	ide_setup_size(2048, false);
}

static void ide_teardown(void)
{
	dev_disk_close(ide_disk);
	dev_bus_destroy(ide_bus);
	images_teardown();
}

/* Issue an LBA28 command to the master. */
static void ide_lba28(uint8_t cmd, uint32_t lba, uint8_t count)
{
	ide_outb(2, count);
	ide_outb(3, (uint8_t)lba);
	ide_outb(4, (uint8_t)(lba >> 8));
	ide_outb(5, (uint8_t)(lba >> 16));
	ide_outb(6, (uint8_t)(0xe0 | ((lba >> 24) & 0x0f)));
	ide_outb(7, cmd);
}

static void ide_read_block(uint8_t *buf, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i += 2) {
		uint16_t w = ide_inw();
		buf[i] = (uint8_t)w;
		buf[i + 1] = (uint8_t)(w >> 8);
	}
}

static void identify(uint16_t *w)
{
	ide_outb(6, 0xa0);
	ide_outb(7, 0xec);
	ck_assert(line.level);
	ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
	for (unsigned i = 0; i < 256; i++)
		w[i] = ide_inw();
	ck_assert_uint_eq(ide_inb(7), ST_READY);
}

static void identify_string(const uint16_t *w, unsigned words, char *out)
{
	for (unsigned i = 0; i < words; i++) {
		out[2 * i] = (char)(w[i] >> 8);
		out[2 * i + 1] = (char)w[i];
	}
	out[2 * words] = 0;
}

START_TEST(ide_identify_words)
{
	uint16_t w[256];
	char s[41];
	uint8_t sum = 0;

	ck_assert_uint_eq(ide_inb(7), ST_READY);
	ide_outb(6, 0xa0);
	ide_outb(7, 0xec);
	ck_assert(line.level);
	ck_assert_uint_eq(line.irq, 14);
	ck_assert_uint_eq(ide_altstatus(), ST_READY | ST_DRQ);
	ck_assert(line.level);                 /* alternate status: no ack */
	ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
	ck_assert(!line.level);                /* status: ack */
	for (unsigned i = 0; i < 128; i++)     /* half with 32-bit reads */
		((uint32_t *)w)[i] = dev_pio_in(ide_bus, BASE, 4);
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	ck_assert_uint_eq(line.raises, 1);
	ck_assert_uint_eq(w[0], 0x0040);
	ck_assert_uint_eq(w[1], 2);            /* 2048 sectors: the 2-cylinder minimum */
	ck_assert_uint_eq(w[3], 16);
	ck_assert_uint_eq(w[6], 63);
	identify_string(w + 27, 20, s);
	ck_assert_str_eq(s, "BTVMM HARDDISK                          ");
	identify_string(w + 10, 10, s);
	ck_assert_str_eq(s, "BTVMM00001          ");
	identify_string(w + 23, 4, s);
	ck_assert_str_eq(s, "1.0     ");
	ck_assert_uint_eq(w[47], 0x8010);
	ck_assert_uint_eq(w[48], 1);
	ck_assert(w[49] & (1u << 9));          /* LBA */
	ck_assert(!(w[49] & (1u << 8)));       /* no DMA */
	ck_assert_uint_eq(w[59], 0x110);       /* multiple mode 16 after reset */
	ck_assert_uint_eq(w[60] | (uint32_t)w[61] << 16, 2048);
	ck_assert(w[83] & (1u << 10));         /* LBA48 */
	ck_assert_uint_eq(w[100], 2048);
	ck_assert_uint_eq(w[101] | w[102] | w[103], 0);
	ck_assert_uint_eq(w[255] & 0xff, 0xa5);
	for (unsigned i = 0; i < 256; i++)
		sum = (uint8_t)(sum + (w[i] & 0xff) + (w[i] >> 8));
	ck_assert_uint_eq(sum, 0);
}
END_TEST

START_TEST(ide_lba28_read_raises_irq_per_sector)
{
	uint8_t buf[512];

	ide_lba28(0x20, 5, 2);
	for (unsigned s = 0; s < 2; s++) {
		ck_assert(line.level);
		ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
		ck_assert(!line.level);
		ide_read_block(buf, 512);
		ck_assert(sector_has_pattern(buf, 5 + s));
	}
	ck_assert(!line.level);                /* no interrupt after the last */
	ck_assert_uint_eq(line.raises, 2);
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	ck_assert_uint_eq(ide_inb(3), 7);      /* the task file points past it */
	ck_assert_uint_eq(ide_inb(2), 0);
	ck_assert_uint_eq(ide_inw(), 0);       /* no DRQ: the data port reads 0 */
}
END_TEST

START_TEST(ide_lba48_write_then_read)
{
	uint8_t buf[512], file[512];
	const uint64_t lba = 0x700;

	/* Count 2 and LBA 0x700, high bytes first. */
	ide_outb(2, 0); ide_outb(3, 0); ide_outb(4, 0); ide_outb(5, 0);
	ide_outb(2, 2); ide_outb(3, 0x00); ide_outb(4, 0x07); ide_outb(5, 0);
	ide_outb(6, 0x40);
	ide_outb(7, 0x34);
	ck_assert(!line.level);                /* the first block needs no interrupt */
	for (unsigned s = 0; s < 2; s++) {
		ck_assert_uint_eq(ide_altstatus(), ST_READY | ST_DRQ);
		for (unsigned i = 0; i < 256; i++)
			dev_pio_out(ide_bus, BASE, 2, (uint16_t)(0xa000 + s * 0x100 + i));
		ck_assert(line.level);         /* after the block is written */
		ck_assert_uint_eq(ide_inb(7), s == 0 ? ST_READY | ST_DRQ : ST_READY);
	}
	ck_assert_uint_eq(line.raises, 2);
	read_file_sector(ide_path, lba + 1, file);
	ck_assert_uint_eq(file[0], 0x00);
	ck_assert_uint_eq(file[1], 0xa1);
	ck_assert_uint_eq(file[511], 0xa1);
	read_file_sector(ide_path, lba + 2, file);
	ck_assert(sector_has_pattern(file, lba + 2));
	/* HOB reads back the high bytes of the final address, 0x702. */
	ck_assert_uint_eq(ide_inb(3), 0x02);
	ck_assert_uint_eq(ide_inb(4), 0x07);
	dev_pio_out(ide_bus, CTRL, 1, 0x80);
	ck_assert_uint_eq(ide_inb(4), 0x00);
	dev_pio_out(ide_bus, CTRL, 1, 0x00);

	ide_outb(2, 0); ide_outb(3, 0); ide_outb(4, 0); ide_outb(5, 0);
	ide_outb(2, 1); ide_outb(3, 0x00); ide_outb(4, 0x07); ide_outb(5, 0);
	ide_outb(6, 0x40);
	ide_outb(7, 0x24);
	ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
	ide_read_block(buf, 512);
	ck_assert_uint_eq(buf[0], 0x00);
	ck_assert_uint_eq(buf[1], 0xa0);
}
END_TEST

START_TEST(ide_chs_read)
{
	uint8_t buf[512];

	/* Cylinder 1, head 2, sector 3 with 16 heads, 63 sectors: LBA 1137. */
	ide_outb(2, 1);
	ide_outb(3, 3);
	ide_outb(4, 1);
	ide_outb(5, 0);
	ide_outb(6, 0xa2);
	ide_outb(7, 0x20);
	ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
	ide_read_block(buf, 512);
	ck_assert(sector_has_pattern(buf, (1 * 16 + 2) * 63 + 2));
	ck_assert_uint_eq(ide_inb(3), 4);      /* next sector, CHS */
	/* Sector 0 does not exist in CHS: 0/0/0 is before the first sector. */
	ide_outb(2, 1);
	ide_outb(3, 0);
	ide_outb(4, 0);
	ide_outb(6, 0xa0);
	ide_outb(7, 0x20);
	ck_assert_uint_eq(ide_inb(7), 0x41);
	ck_assert_uint_eq(ide_inb(1), 0x04);
}
END_TEST

START_TEST(ide_multiple_mode)
{
	uint8_t buf[4 * 512];
	uint16_t w[256];

	ide_outb(2, 3);                        /* not a power of two */
	ide_outb(7, 0xc6);
	ck_assert_uint_eq(ide_inb(7), 0x41);
	ide_outb(2, 4);
	ide_outb(7, 0xc6);
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	identify(w);
	ck_assert_uint_eq(w[59], 0x104);
	line.raises = 0;
	ide_lba28(0xc4, 10, 6);                /* blocks of 4 and 2 sectors */
	ck_assert(line.level);
	ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
	for (unsigned i = 0; i < 512; i++)
		((uint32_t *)buf)[i] = dev_pio_in(ide_bus, BASE, 4);
	for (unsigned s = 0; s < 4; s++)
		ck_assert(sector_has_pattern(buf + 512 * s, 10 + s));
	ck_assert(line.level);
	ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
	ide_read_block(buf, 1024);
	ck_assert(sector_has_pattern(buf, 14));
	ck_assert(sector_has_pattern(buf + 512, 15));
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	ck_assert_uint_eq(line.raises, 2);
	/* Multiple mode off: READ MULTIPLE aborts. */
	ide_outb(2, 0);
	ide_outb(7, 0xc6);
	ide_lba28(0xc4, 0, 1);
	ck_assert_uint_eq(ide_inb(7), 0x41);
}
END_TEST

START_TEST(ide_bad_commands_abort)
{
	static const uint8_t bad[] = { 0x00, 0xa1, 0xa0, 0xc8, 0xff };

	for (unsigned i = 0; i < sizeof bad; i++) {
		line.raises = 0;
		ide_outb(7, bad[i]);
		ck_assert_uint_eq(line.raises, 1);
		ck_assert_uint_eq(ide_inb(7), 0x41);
		ck_assert_uint_eq(ide_inb(1), 0x04);
	}
	ide_outb(1, 0x03);                     /* SET FEATURES: PIO mode 4 */
	ide_outb(2, 0x0c);
	ide_outb(7, 0xef);
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	ide_outb(2, 0x45);                     /* multiword DMA: no bus master */
	ide_outb(7, 0xef);
	ck_assert_uint_eq(ide_inb(7), 0x41);
	ide_outb(7, 0xe7);                     /* FLUSH CACHE */
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	ck_assert_uint_eq(ide_inb(1), 0);
	ide_lba28(0x20, 2048, 1);              /* past the end */
	ck_assert_uint_eq(ide_inb(7), 0x41);
}
END_TEST

START_TEST(ide_nien_masks_the_interrupt)
{
	dev_pio_out(ide_bus, CTRL, 1, 0x02);
	ide_lba28(0x20, 0, 1);
	ck_assert_uint_eq(line.raises, 0);
	ck_assert_uint_eq(ide_altstatus(), ST_READY | ST_DRQ);
}
END_TEST

START_TEST(ide_soft_reset_signature)
{
	uint8_t buf[512];

	ide_outb(2, 0x12); ide_outb(3, 0x34); ide_outb(4, 0x56); ide_outb(5, 0x78);
	ide_outb(2, 0); ide_outb(7, 0xc6);     /* multiple mode off */
	ide_lba28(0x20, 0, 2);                 /* leave a transfer in progress */
	ide_read_block(buf, 100);
	dev_pio_out(ide_bus, CTRL, 1, 0x04);
	ck_assert_uint_eq(ide_altstatus(), ST_BSY | 0x10);
	ide_outb(7, 0xec);                     /* ignored while busy */
	dev_pio_out(ide_bus, CTRL, 1, 0x00);
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	ck_assert_uint_eq(ide_inb(1), 0x01);
	ck_assert_uint_eq(ide_inb(2), 0x01);
	ck_assert_uint_eq(ide_inb(3), 0x01);
	ck_assert_uint_eq(ide_inb(4), 0x00);
	ck_assert_uint_eq(ide_inb(5), 0x00);
	ck_assert_uint_eq(ide_inb(6), 0xa0);
	ck_assert_uint_eq(ide_inw(), 0);       /* the transfer is gone */
	uint16_t w[256];
	identify(w);
	ck_assert_uint_eq(w[59], 0x110);       /* multiple mode back to 16 */
}
END_TEST

START_TEST(ide_absent_slave)
{
	ide_outb(2, 0x33);
	ide_outb(6, 0xb0);                     /* select the slave */
	ck_assert_uint_eq(ide_inb(7), 0);
	ck_assert_uint_eq(ide_altstatus(), 0);
	ck_assert_uint_eq(ide_inb(1), 0);
	ck_assert_uint_eq(ide_inb(2), 0x33);   /* the task file still answers */
	ck_assert_uint_eq(ide_inb(6), 0xb0);
	ide_outb(7, 0xec);                     /* no drive: no answer */
	ck_assert_uint_eq(line.raises, 0);
	ck_assert_uint_eq(ide_inb(7), 0);
	ide_outb(6, 0xa0);
	ck_assert_uint_eq(ide_inb(7), ST_READY);
	/* An empty channel reads 0 everywhere but the data port. */
	struct dev_ide_channel empty;
	struct dev_bus *b = dev_bus_create();
	dev_ide_init(&empty, NULL);
	ck_assert_int_eq(dev_bus_register(b, 0x170, 8, &dev_ide_ops, &empty), 0);
	for (uint16_t port = 0x171; port <= 0x177; port++)
		ck_assert_uint_eq(dev_pio_in(b, port, 1), 0);
	ck_assert_uint_eq(dev_pio_in(b, 0x170, 1), 0xff);
	ck_assert_uint_eq(dev_pio_in(b, 0x170, 2), 0);
	dev_bus_destroy(b);
}
END_TEST

START_TEST(ide_readonly_write_aborts)
{
	uint8_t file[512];

	dev_disk_close(ide_disk);
	ck_assert_int_eq(dev_disk_open(&ide_disk, ide_path, true, false, (char[64]){0}, 64), 0);
	dev_ide_attach(&chan, 0, ide_disk, 1);
	ide_lba28(0x30, 3, 1);
	ck_assert_uint_eq(ide_inb(7), ST_READY | ST_DRQ);
	for (unsigned i = 0; i < 256; i++)
		dev_pio_out(ide_bus, BASE, 2, 0xdead);
	ck_assert(line.level);
	ck_assert_uint_eq(ide_inb(7), 0x41);
	ck_assert_uint_eq(ide_inb(1), 0x04);
	read_file_sector(ide_path, 3, file);
	ck_assert(sector_has_pattern(file, 3));
}
END_TEST

/* ---- The platform: IRQ 14/15 at the PIC, PCI configuration, virtio-blk ---- */

#define RAM_SIZE (1u << 20)
#define GUARD 4096u
static uint8_t *ram;          /* RAM_SIZE bytes of RAM, then a guard */
static struct dev_platform *plat;
static struct dev_bus *bus;
static unsigned writes_reported;
static bool write_outside_ram;

static void ram_written(void *ctx, uint64_t phys, uint64_t len)
{
	writes_reported++;
	if (phys + len > RAM_SIZE || len == 0)
		write_outside_ram = true;
}

static void platform_setup(void)
{
	ram = malloc(RAM_SIZE + GUARD);
	ck_assert_ptr_nonnull(ram);
	memset(ram, 0, RAM_SIZE);
	memset(ram + RAM_SIZE, 0xcc, GUARD);
	writes_reported = 0;
	write_outside_ram = false;
	struct dev_platform_config cfg = {
		.ram = ram, .ram_size = RAM_SIZE, .ram_written = ram_written,
	};
	plat = dev_platform_create(&cfg);
	ck_assert_ptr_nonnull(plat);
	bus = dev_platform_bus(plat);
}

static void platform_teardown(void)
{
	for (unsigned i = 0; i < GUARD; i++)
		ck_assert_uint_eq(ram[RAM_SIZE + i], 0xcc);
	ck_assert(!write_outside_ram);
	dev_platform_destroy(plat);
	free(ram);
	images_teardown();
}

static uint8_t inb(uint16_t port) { return (uint8_t)dev_pio_in(bus, port, 1); }
static void outb(uint16_t port, uint8_t v) { dev_pio_out(bus, port, 1, v); }

static uint16_t pic_irr(void)
{
	outb(0x20, 0x0a);
	outb(0xa0, 0x0a);
	return (uint16_t)(inb(0x20) | inb(0xa0) << 8);
}

static void add_drive(const char *file, enum dev_drive_interface iface, int index,
		      bool readonly)
{
	struct dev_drive_config d = {
		.file = file, .interface = iface, .index = index, .readonly = readonly,
	};
	const char *why = NULL;

	ck_assert_msg(dev_platform_add_drive(plat, &d, &why) == 0, "%s", why);
}

START_TEST(platform_ide_irqs_reach_the_pic)
{
	const char *a = make_image(64 * 512), *b = make_image(64 * 512);

	add_drive(a, DEV_IF_IDE, -1, false);   /* primary master */
	add_drive(b, DEV_IF_IDE, 2, false);    /* secondary master */
	/* The primary slave is absent. */
	outb(0x1f6, 0xb0);
	ck_assert_uint_eq(inb(0x1f7), 0);
	outb(0x1f6, 0xa0);
	ck_assert_uint_eq(inb(0x1f7), ST_READY);
	outb(0x1f7, 0xec);
	ck_assert_uint_eq(pic_irr() & (1u << 14), 1u << 14);
	outb(0x176, 0xa0);
	outb(0x177, 0xec);
	ck_assert_uint_eq(pic_irr() & (1u << 15), 1u << 15);
	ck_assert_uint_eq(inb(0x177), ST_READY | ST_DRQ);
	ck_assert_uint_eq(dev_pio_in(bus, 0x170, 2), 0x0040);
}
END_TEST

START_TEST(platform_add_drive_errors)
{
	const char *odd = make_image(1000), *good = make_image(512);
	struct dev_drive_config d = { .file = odd, .interface = DEV_IF_IDE, .index = -1 };
	const char *why = NULL;

	ck_assert_int_eq(dev_platform_add_drive(plat, &d, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "size 1000 is not a positive multiple of 512"));
	d.file = good;
	d.index = 1;
	ck_assert_int_eq(dev_platform_add_drive(plat, &d, &why), 0);
	ck_assert_int_eq(dev_platform_add_drive(plat, &d, &why), -EBUSY);
	ck_assert_ptr_nonnull(strstr(why, "already taken"));
	d.index = 4;
	ck_assert_int_eq(dev_platform_add_drive(plat, &d, &why), -EINVAL);
	d.interface = DEV_IF_VIRTIO;
	d.index = 7;
	ck_assert_int_eq(dev_platform_add_drive(plat, &d, &why), -EINVAL);
}
END_TEST

static uint32_t pci_read(unsigned slot, unsigned reg, unsigned size)
{
	dev_pio_out(bus, 0xcf8, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
	return dev_pio_in(bus, (uint16_t)(0xcfc + (reg & 3)), size);
}

static void pci_write(unsigned slot, unsigned reg, unsigned size, uint32_t v)
{
	dev_pio_out(bus, 0xcf8, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
	dev_pio_out(bus, (uint16_t)(0xcfc + (reg & 3)), size, v);
}

START_TEST(pci_config_space)
{
	const char *img = make_image(64 * 512);

	add_drive(img, DEV_IF_VIRTIO, -1, false);
	ck_assert_uint_eq(pci_read(0, 0x00, 4), 0x12378086u);
	ck_assert_uint_eq(pci_read(0, 0x08, 4), 0x06000002u);
	ck_assert_uint_eq(pci_read(0, 0x0a, 2), 0x0600u);
	ck_assert_uint_eq(pci_read(3, 0x00, 4), 0x10011af4u);
	ck_assert_uint_eq(pci_read(3, 0x08, 4), 0x01000000u);
	ck_assert_uint_eq(pci_read(3, 0x2c, 4), 0x00021af4u);
	ck_assert_uint_eq(pci_read(3, 0x0e, 1), 0x00);
	ck_assert_uint_eq(pci_read(3, 0x3d, 1), 1);       /* INTA */
	ck_assert_uint_eq(pci_read(3, 0x3c, 1), PC_PCI_GSI(3, 0));
	ck_assert_uint_eq(PC_PCI_GSI(3, 0), 11);
	ck_assert_uint_eq(pci_read(3, 0x04, 2) & 1, 1);   /* I/O decoding on */
	ck_assert_uint_eq(pci_read(3, 0x10, 4), 0xc001u);
	ck_assert_uint_eq(pci_read(3, 0x14, 4), 0);
	/* Absent functions and other buses read all ones. */
	ck_assert_uint_eq(pci_read(5, 0x00, 4), 0xffffffffu);
	dev_pio_out(bus, 0xcf8, 4, 0x80010000u);
	ck_assert_uint_eq(dev_pio_in(bus, 0xcfc, 4), 0xffffffffu);
	/* Read-only fields stay; the interrupt line is the OS's scratch. */
	pci_write(3, 0x00, 4, 0);
	ck_assert_uint_eq(pci_read(3, 0x00, 4), 0x10011af4u);
	pci_write(3, 0x3c, 1, 5);
	ck_assert_uint_eq(pci_read(3, 0x3c, 1), 5);
	ck_assert_uint_eq(pci_read(3, 0x3d, 1), 1);
}
END_TEST

START_TEST(pci_bar_sizing_and_moving)
{
	const char *img = make_image(64 * 512);

	add_drive(img, DEV_IF_VIRTIO, -1, false);
	ck_assert_uint_eq(dev_pio_in(bus, 0xc000 + 12, 2), DEV_VIRTIO_QUEUE_SIZE);
	pci_write(3, 0x10, 4, 0xffffffffu);
	ck_assert_uint_eq(pci_read(3, 0x10, 4), 0xffffffc1u); /* 64 ports, I/O */
	ck_assert_uint_eq(dev_pio_in(bus, 0xc000 + 12, 2), 0xffff); /* unmapped */
	pci_write(3, 0x10, 4, 0xd040);
	ck_assert_uint_eq(pci_read(3, 0x10, 4), 0xd041u);
	ck_assert_uint_eq(dev_pio_in(bus, 0xd040 + 12, 2), DEV_VIRTIO_QUEUE_SIZE);
	ck_assert_uint_eq(dev_pio_in(bus, 0xc000 + 12, 2), 0xffff);
	/* I/O decoding off: the ports go away; on: back. */
	pci_write(3, 0x04, 2, 0);
	ck_assert_uint_eq(dev_pio_in(bus, 0xd040 + 12, 2), 0xffff);
	pci_write(3, 0x04, 2, 1);
	ck_assert_uint_eq(dev_pio_in(bus, 0xd040 + 12, 2), DEV_VIRTIO_QUEUE_SIZE);
	/* A second device gets the next BAR and slot. */
	const char *img2 = make_image(64 * 512);
	add_drive(img2, DEV_IF_VIRTIO, -1, false);
	ck_assert_uint_eq(pci_read(4, 0x00, 4), 0x10011af4u);
	ck_assert_uint_eq(pci_read(4, 0x10, 4), 0xc041u);
	ck_assert_uint_eq(pci_read(4, 0x3c, 1), PC_PCI_GSI(4, 0));
	ck_assert_uint_eq(PC_PCI_GSI(4, 0), 11); /* QEMU: PIRQD (slot 4 - 1 + INTA) */
}
END_TEST

/* ---- virtio-blk through its BAR, on a fake guest's RAM ---- */

#define VIO 0xc000
#define RING 0x10000u                 /* PFN 0x10 */
#define AVAIL (RING + 16 * 128)
#define USED (RING + 0x1000)
#define BUFS 0x20000u
static uint16_t avail_idx;

static void put16(uint64_t a, uint16_t v) { ram[a] = (uint8_t)v; ram[a + 1] = (uint8_t)(v >> 8); }
static void put32(uint64_t a, uint32_t v) { put16(a, (uint16_t)v); put16(a + 2, (uint16_t)(v >> 16)); }
static void put64(uint64_t a, uint64_t v) { put32(a, (uint32_t)v); put32(a + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(uint64_t a) { return (uint16_t)(ram[a] | ram[a + 1] << 8); }
static uint32_t get32(uint64_t a) { return get16(a) | (uint32_t)get16(a + 2) << 16; }

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	put64(RING + 16 * i, addr);
	put32(RING + 16 * i + 8, len);
	put16(RING + 16 * i + 12, flags);
	put16(RING + 16 * i + 14, next);
}

static void virtio_setup(bool readonly)
{
	const char *img = make_image(64 * 512);

	add_drive(img, DEV_IF_VIRTIO, -1, readonly);
	avail_idx = 0;
	outb(VIO + 18, 1 | 2);                      /* ACKNOWLEDGE, DRIVER */
	dev_pio_out(bus, VIO + 4, 4, dev_pio_in(bus, VIO, 4));
	dev_pio_out(bus, VIO + 14, 2, 0);
	dev_pio_out(bus, VIO + 8, 4, RING >> 12);
	outb(VIO + 18, 1 | 2 | 4);                  /* DRIVER_OK */
}

/* Post the chain at `head` and notify; return the used ring's index. */
static uint16_t post(uint16_t head)
{
	put16(AVAIL + 4 + 2 * (avail_idx % 128), head);
	avail_idx++;
	put16(AVAIL + 2, avail_idx);
	dev_pio_out(bus, VIO + 16, 2, 0);
	return get16(USED + 2);
}

/* A request: header at BUFS, data descriptors given, status at BUFS+16. */
static void header(uint32_t type, uint64_t sector)
{
	put32(BUFS, type);
	put32(BUFS + 4, 0);
	put64(BUFS + 8, sector);
	ram[BUFS + 16] = 0xff;
	set_desc(0, BUFS, 16, 1, 1);
}

START_TEST(virtio_features_and_config)
{
	const char *img = make_image(4096 * 512);

	add_drive(img, DEV_IF_VIRTIO, -1, false);
	uint32_t f = dev_pio_in(bus, VIO, 4);
	ck_assert_uint_eq(f, (1u << 2) | (1u << 6) | (1u << 9)); /* SEG_MAX BLK_SIZE FLUSH */
	uint64_t cap = 0;
	for (unsigned i = 0; i < 8; i++)
		cap |= (uint64_t)inb((uint16_t)(VIO + 20 + i)) << (8 * i);
	ck_assert_uint_eq(cap, 4096);
	ck_assert_uint_eq(dev_pio_in(bus, VIO + 20 + 12, 4), 126);  /* seg_max */
	ck_assert_uint_eq(dev_pio_in(bus, VIO + 20 + 20, 4), 512);  /* blk_size */
	ck_assert_uint_eq(dev_pio_in(bus, VIO + 12, 2), 128);
	dev_pio_out(bus, VIO + 14, 2, 1);                           /* no queue 1 */
	ck_assert_uint_eq(dev_pio_in(bus, VIO + 12, 2), 0);
	dev_pio_out(bus, VIO + 4, 4, 0xffffffffu);
	ck_assert_uint_eq(dev_pio_in(bus, VIO + 4, 4), f);          /* only offered bits */
	outb(VIO + 18, 3);
	ck_assert_uint_eq(inb(VIO + 18), 3);
	outb(VIO + 18, 0);                                          /* reset */
	ck_assert_uint_eq(dev_pio_in(bus, VIO + 4, 4), 0);
}
END_TEST

START_TEST(virtio_write_then_read)
{
	virtio_setup(false);
	unsigned irq = PC_PCI_GSI(3, 0);
	/* OUT: sectors 4-5 from 1024 bytes split 256 + 768 (a sector
	 * straddles two buffers). */
	for (unsigned i = 0; i < 1024; i++)
		ram[BUFS + 0x1000 + i] = (uint8_t)(i * 3 + 1);
	header(1, 4);
	set_desc(1, BUFS + 0x1000, 256, 1, 2);
	set_desc(2, BUFS + 0x1100, 768, 1, 3);
	set_desc(3, BUFS + 16, 1, 2, 0);
	ck_assert_uint_eq(pic_irr() & (1u << irq), 0);
	ck_assert_uint_eq(post(0), 1);
	ck_assert_uint_eq(ram[BUFS + 16], 0);                /* VIRTIO_BLK_S_OK */
	ck_assert_uint_eq(get32(USED + 4), 0);               /* id: head */
	ck_assert_uint_eq(get32(USED + 8), 1);               /* len: the status byte */
	ck_assert_uint_eq(pic_irr() & (1u << irq), 1u << irq);
	ck_assert_uint_eq(inb(VIO + 19), 1);                 /* ISR, cleared by the read */
	ck_assert_uint_eq(pic_irr() & (1u << irq), 0);
	ck_assert_uint_eq(inb(VIO + 19), 0);
	/* IN: sectors 3-5 into one 1536-byte buffer. */
	header(0, 3);
	set_desc(1, BUFS + 0x2000, 1536, 1 | 2, 2);
	set_desc(2, BUFS + 16, 1, 2, 0);
	writes_reported = 0;
	ck_assert_uint_eq(post(0), 2);
	ck_assert_uint_eq(ram[BUFS + 16], 0);
	ck_assert_uint_eq(get32(USED + 8 + 4), 0);
	ck_assert_uint_eq(get32(USED + 8 + 8), 1537);
	ck_assert(sector_has_pattern(ram + BUFS + 0x2000, 3));
	ck_assert_mem_eq(ram + BUFS + 0x2200, ram + BUFS + 0x1000, 1024);
	ck_assert_uint_ge(writes_reported, 3);               /* data, status, used ring */
	ck_assert_uint_eq(inb(VIO + 19), 1);
}
END_TEST

START_TEST(virtio_flush_get_id_unsupported)
{
	virtio_setup(false);
	header(4, 0);                                        /* FLUSH */
	set_desc(0, BUFS, 16, 1, 1);
	set_desc(1, BUFS + 16, 1, 2, 0);
	ck_assert_uint_eq(post(0), 1);
	ck_assert_uint_eq(ram[BUFS + 16], 0);
	header(8, 0);                                        /* GET_ID */
	memset(ram + BUFS + 0x100, 0x77, 20);
	set_desc(1, BUFS + 0x100, 20, 1 | 2, 2);
	set_desc(2, BUFS + 16, 1, 2, 0);
	ck_assert_uint_eq(post(0), 2);
	ck_assert_uint_eq(ram[BUFS + 16], 0);
	ck_assert_str_eq((char *)ram + BUFS + 0x100, "BTVMM-VD0");
	ck_assert_uint_eq(ram[BUFS + 0x100 + 19], 0);
	header(0x42, 0);                                     /* unknown type */
	set_desc(1, BUFS + 16, 1, 2, 0);
	ck_assert_uint_eq(post(0), 3);
	ck_assert_uint_eq(ram[BUFS + 16], 2);                /* UNSUPP */
	header(0, 63);                                       /* past the end */
	set_desc(1, BUFS + 0x100, 1024, 1 | 2, 2);
	set_desc(2, BUFS + 16, 1, 2, 0);
	ck_assert_uint_eq(post(0), 4);
	ck_assert_uint_eq(ram[BUFS + 16], 1);                /* IOERR */
}
END_TEST

START_TEST(virtio_readonly)
{
	virtio_setup(true);
	ck_assert_uint_eq(dev_pio_in(bus, VIO, 4) & (1u << 5), 1u << 5); /* RO */
	header(1, 0);
	set_desc(1, BUFS + 0x1000, 512, 1, 2);
	set_desc(2, BUFS + 16, 1, 2, 0);
	ck_assert_uint_eq(post(0), 1);
	ck_assert_uint_eq(ram[BUFS + 16], 1);                /* IOERR */
}
END_TEST

START_TEST(virtio_refuses_buffers_outside_ram)
{
	virtio_setup(false);
	/* A data buffer running 16 bytes past the end of RAM. */
	header(0, 0);
	set_desc(1, RAM_SIZE - 496, 512, 1 | 2, 2);
	set_desc(2, BUFS + 16, 1, 2, 0);
	ck_assert_uint_eq(post(0), 0);                       /* no completion */
	ck_assert_uint_eq(ram[BUFS + 16], 0xff);
	ck_assert_uint_eq(inb(VIO + 18) & 0x40, 0x40);       /* NEEDS_RESET */
	ck_assert_uint_eq(inb(VIO + 19), 0);
	/* The device stays stopped until reset, even for a good request. */
	set_desc(1, BUFS + 0x1000, 512, 1 | 2, 2);
	ck_assert_uint_eq(post(0), 0);
	/* Reset and set up again: served. A huge address wraps no check. */
	outb(VIO + 18, 0);
	ck_assert_uint_eq(inb(VIO + 18), 0);
	avail_idx = 0;
	put16(USED + 2, 0);                                  /* the driver's fresh ring */
	dev_pio_out(bus, VIO + 8, 4, RING >> 12);
	outb(VIO + 18, 7);
	ck_assert_uint_eq(post(0), 1);
	ck_assert_uint_eq(ram[BUFS + 16], 0);
	set_desc(1, UINT64_MAX - 10, 512, 1 | 2, 2);
	ck_assert_uint_eq(post(0), 1);
	ck_assert_uint_eq(inb(VIO + 18) & 0x40, 0x40);
	/* A chain that loops, and a ring placed past RAM. */
	outb(VIO + 18, 0);
	avail_idx = 0;
	put16(USED + 2, 0);
	dev_pio_out(bus, VIO + 8, 4, RING >> 12);
	set_desc(1, BUFS + 0x1000, 512, 1 | 2, 1);
	ck_assert_uint_eq(post(0), 0);
	ck_assert_uint_eq(inb(VIO + 18) & 0x40, 0x40);
	outb(VIO + 18, 0);
	dev_pio_out(bus, VIO + 8, 4, (RAM_SIZE >> 12) - 1);
	dev_pio_out(bus, VIO + 16, 2, 0);
	ck_assert_uint_eq(inb(VIO + 18) & 0x40, 0x40);
}
END_TEST

static Suite *disk_suite(void)
{
	Suite *s = suite_create("disk");
	TCase *tc = tcase_create("backend");

	tcase_add_checked_fixture(tc, NULL, images_teardown);
	tcase_add_test(tc, disk_size_checks);
	tcase_add_test(tc, disk_read_write_flush);
	tcase_add_test(tc, disk_readonly_refuses_writes);
	tcase_add_test(tc, disk_snapshot_overlay);
	tcase_add_test(tc, disk_short_file_is_an_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("ide");
	tcase_add_checked_fixture(tc, ide_setup, ide_teardown);
	tcase_add_test(tc, ide_identify_words);
	tcase_add_test(tc, ide_lba28_read_raises_irq_per_sector);
	tcase_add_test(tc, ide_lba48_write_then_read);
	tcase_add_test(tc, ide_chs_read);
	tcase_add_test(tc, ide_multiple_mode);
	tcase_add_test(tc, ide_bad_commands_abort);
	tcase_add_test(tc, ide_nien_masks_the_interrupt);
	tcase_add_test(tc, ide_soft_reset_signature);
	tcase_add_test(tc, ide_absent_slave);
	tcase_add_test(tc, ide_readonly_write_aborts);
	suite_add_tcase(s, tc);

	tc = tcase_create("platform");
	tcase_add_checked_fixture(tc, platform_setup, platform_teardown);
	tcase_add_test(tc, platform_ide_irqs_reach_the_pic);
	tcase_add_test(tc, platform_add_drive_errors);
	tcase_add_test(tc, pci_config_space);
	tcase_add_test(tc, pci_bar_sizing_and_moving);
	tcase_add_test(tc, virtio_features_and_config);
	tcase_add_test(tc, virtio_write_then_read);
	tcase_add_test(tc, virtio_flush_get_id_unsupported);
	tcase_add_test(tc, virtio_readonly);
	tcase_add_test(tc, virtio_refuses_buffers_outside_ram);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(disk_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
