/* devices: an ATA/IDE channel at the legacy ports — PIO commands on hard disks, register-compatible with QEMU's. */
#include <stdio.h>
#include <string.h>

#include "devices_internal.h"

/*
 * Command block (base 0x1f0 / 0x170), control block (0x3f6 / 0x376):
 *
 *   +0 data (16 or 32 bits)   +1 R: error  W: features
 *   +2 sector count           +3 sector / LBA 7:0
 *   +4 cylinder low / LBA 15:8    +5 cylinder high / LBA 23:16
 *   +6 device/head: 1 LBA 1 DEV head-or-LBA 27:24
 *   +7 R: status (lowers INTRQ)   W: command (lowers INTRQ)
 *   ctrl R: alternate status (INTRQ untouched)
 *   ctrl W: device control: bit 1 nIEN, bit 2 SRST, bit 7 HOB
 *
 * LBA48 registers are two-deep FIFOs: each write pushes the old value
 * into the "HOB" byte, which reads back while device control's HOB bit is
 * set. Commands complete at once (the disk is a file), so BSY is never
 * seen but during SRST. PIO transfers go a block at a time through the
 * drive's buffer: READ raises INTRQ as each block's DRQ rises, WRITE after
 * each block is written (and for the last). The behaviour of absent
 * drives, the ignored writes while BSY or DRQ, and the interrupt rules
 * (raised only while nIEN is clear, lowered by a status read or a command
 * write) follow QEMU's hw/ide/core.c, the oracle the tests compare with.
 */

enum {
	REG_DATA = 0, REG_ERROR_FEATURE = 1, REG_NSECTOR = 2, REG_SECTOR = 3,
	REG_LCYL = 4, REG_HCYL = 5, REG_SELECT = 6, REG_STATUS_COMMAND = 7,
};

#define ST_ERR   0x01u
#define ST_DRQ   0x08u
#define ST_DSC   0x10u /* seek complete */
#define ST_DRDY  0x40u
#define ST_BSY   0x80u
#define ST_READY (ST_DRDY | ST_DSC)

#define ERR_ABRT 0x04u
#define ERR_DIAG_PASS 0x01u /* after reset and diagnostics: device 0 passed */

#define CTL_NIEN 0x02u
#define CTL_SRST 0x04u
#define CTL_HOB  0x80u

#define SEL_DEV       0x10u
#define SEL_LBA       0x40u
#define SEL_ALWAYS_ON 0xa0u /* obsolete bits 7 and 5, read back as ones */

/* Commands (ATA-8 names). */
enum {
	CMD_RECALIBRATE = 0x10,           /* 0x10-0x1f */
	CMD_READ_SECTORS = 0x20, CMD_READ_SECTORS_NORETRY = 0x21,
	CMD_READ_SECTORS_EXT = 0x24, CMD_READ_MULTIPLE_EXT = 0x29,
	CMD_WRITE_SECTORS = 0x30, CMD_WRITE_SECTORS_NORETRY = 0x31,
	CMD_WRITE_SECTORS_EXT = 0x34, CMD_WRITE_MULTIPLE_EXT = 0x39,
	CMD_READ_VERIFY = 0x40, CMD_READ_VERIFY_NORETRY = 0x41,
	CMD_READ_VERIFY_EXT = 0x42,
	CMD_SEEK = 0x70,
	CMD_EXECUTE_DIAGNOSTIC = 0x90,
	CMD_INITIALIZE_PARAMETERS = 0x91,
	CMD_IDENTIFY_PACKET = 0xa1,
	CMD_READ_MULTIPLE = 0xc4, CMD_WRITE_MULTIPLE = 0xc5,
	CMD_SET_MULTIPLE = 0xc6,
	CMD_STANDBY_IMMEDIATE = 0xe0, CMD_IDLE_IMMEDIATE = 0xe1,
	CMD_STANDBY = 0xe2, CMD_IDLE = 0xe3,
	CMD_CHECK_POWER_MODE = 0xe5,
	CMD_FLUSH_CACHE = 0xe7, CMD_IDENTIFY = 0xec, CMD_FLUSH_CACHE_EXT = 0xea,
	CMD_SET_FEATURES = 0xef,
};

/* SET FEATURES subcommands accepted with no effect on a file-backed disk
 * (write cache, look-ahead, power management, acoustics, defaults). */
static bool feature_is_noop(uint8_t f)
{
	switch (f) {
	case 0x02: case 0x82: case 0xaa: case 0x55: case 0x05: case 0x85:
	case 0x42: case 0xc2: case 0x66: case 0xcc:
		return true;
	default:
		return false;
	}
}
#define FEATURE_SET_TRANSFER_MODE 0x03u

/* ---- Drives and the interrupt line ---- */

static struct dev_ide_drive *selected(struct dev_ide_channel *ch)
{
	return &ch->drive[ch->unit];
}

static bool channel_empty(const struct dev_ide_channel *ch)
{
	return !ch->drive[0].disk && !ch->drive[1].disk;
}

/* QEMU's rule for registers that read 0: nothing on the channel, or the
 * slave selected and absent (an absent master shadows the slave's). */
static bool selected_reads_zero(const struct dev_ide_channel *ch)
{
	return channel_empty(ch) || (ch->unit == 1 && !ch->drive[1].disk);
}

static void irq_raise(struct dev_ide_channel *ch)
{
	if (ch->control & CTL_NIEN)
		return;
	ch->irq_pending = true;
	dev_irq_line_set(&ch->irq, true);
}

static void irq_lower(struct dev_ide_channel *ch)
{
	ch->irq_pending = false;
	dev_irq_line_set(&ch->irq, false);
}

/* Power-on and soft-reset defaults: the ATA signature (count 1, LBA low
 * 1, cylinder 0 for a disk, 0xffff for nothing), multiple mode 16. */
static void drive_set_signature(struct dev_ide_drive *d)
{
	d->select &= 0xf0;
	d->nsector = 1;
	d->sector = 1;
	d->lcyl = d->disk ? 0x00 : 0xff;
	d->hcyl = d->disk ? 0x00 : 0xff;
}

static void drive_reset(struct dev_ide_drive *d)
{
	d->mult_sectors = DEV_IDE_MAX_MULT;
	d->feature = d->error = d->sector = d->lcyl = d->hcyl = 0;
	d->hob_feature = d->hob_nsector = d->hob_sector = d->hob_lcyl = d->hob_hcyl = 0;
	d->nsector = 0;
	d->select = SEL_ALWAYS_ON;
	d->status = ST_READY;
	d->lba48 = false;
	d->xfer = IDE_XFER_NONE;
	d->pos = d->end = 0;
	d->cur_cylinders = d->cylinders;
	d->cur_heads = d->heads;
	d->cur_sectors = d->sectors;
	drive_set_signature(d);
}

void dev_ide_init(struct dev_ide_channel *ch, const struct dev_irq_line *irq)
{
	memset(ch, 0, sizeof(*ch));
	if (irq)
		ch->irq = *irq;
	drive_reset(&ch->drive[0]);
	drive_reset(&ch->drive[1]);
}

/* QEMU's guess for a disk without a partition table to go by: 16 heads,
 * 63 sectors per track, as many cylinders as fit (2 to 16383). */
static void drive_guess_geometry(struct dev_ide_drive *d)
{
	uint64_t cyls = dev_disk_sectors(d->disk) / (16 * 63);

	d->cylinders = (uint16_t)(cyls > 16383 ? 16383 : cyls < 2 ? 2 : cyls);
	d->heads = 16;
	d->sectors = 63;
}

void dev_ide_attach(struct dev_ide_channel *ch, unsigned unit,
		    struct dev_disk *disk, unsigned number)
{
	struct dev_ide_drive *d = &ch->drive[unit];

	d->disk = disk;
	snprintf(d->serial, sizeof d->serial, "BTVMM%05u", number);
	drive_guess_geometry(d);
	drive_reset(d);
}

/* ---- IDENTIFY DEVICE ---- */

/* ATA strings: space-padded, two characters per word, first in the high byte. */
static void identify_string(uint16_t *words, const char *s, unsigned len)
{
	size_t n = strlen(s);

	for (unsigned i = 0; i < len; i++) {
		uint8_t c = i < n ? (uint8_t)s[i] : ' ';
		unsigned w = i / 2;
		words[w] = (uint16_t)(i & 1 ? (words[w] & 0xff00u) | c
					    : (words[w] & 0x00ffu) | c << 8);
	}
}

/*
 * The 256 words, after QEMU's ide_identify, but without DMA, SMART or
 * write-cache claims (this controller has no bus master, and those
 * features are not implemented), and with the integrity word (255).
 */
static void identify_words(const struct dev_ide_drive *d, uint16_t *w)
{
	uint64_t total = dev_disk_sectors(d->disk);
	uint32_t chs = (uint32_t)d->cur_cylinders * d->cur_heads * d->cur_sectors;

	memset(w, 0, 512);
	w[0] = 0x0040;                      /* fixed disk */
	w[1] = d->cylinders;
	w[3] = d->heads;
	w[4] = (uint16_t)(512 * d->sectors);  /* retired, as QEMU */
	w[5] = 512;
	w[6] = d->sectors;
	identify_string(w + 10, d->serial, 20);
	w[20] = 3;                          /* retired: buffer type */
	w[21] = 512;                        /* retired: buffer size */
	identify_string(w + 23, "1.0", 8);  /* firmware revision */
	identify_string(w + 27, "BTVMM HARDDISK", 40);
	w[47] = 0x8000 | DEV_IDE_MAX_MULT;
	w[48] = 1;                          /* 32-bit data port */
	w[49] = (1u << 11) | (1u << 9);     /* IORDY, LBA */
	w[51] = 0x200;                      /* PIO mode 2 timing */
	w[53] = 1 | (1u << 1);              /* words 54-58 and 64-70 valid */
	w[54] = d->cur_cylinders;
	w[55] = d->cur_heads;
	w[56] = d->cur_sectors;
	w[57] = (uint16_t)chs;
	w[58] = (uint16_t)(chs >> 16);
	w[59] = d->mult_sectors ? 0x100 | d->mult_sectors : 0;
	uint64_t lba28 = total > 0x0fffffffu ? 0x0fffffffu : total;
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	w[64] = 0x03;                       /* PIO modes 3 and 4 */
	w[65] = w[66] = w[67] = w[68] = 120;
	w[80] = 0xf0;                       /* ATA-4 to ATA-7 */
	w[81] = 0x16;
	w[82] = 1u << 14;                   /* NOP */
	w[83] = (1u << 14) | (1u << 13) | (1u << 12) | (1u << 10); /* FLUSH EXT, FLUSH, LBA48 */
	w[84] = 1u << 14;
	w[85] = 1u << 14;
	w[86] = (1u << 13) | (1u << 12) | (1u << 10);
	w[87] = 1u << 14;
	w[93] = 1 | (1u << 14) | 0x2000;    /* hardware reset result, as QEMU */
	for (unsigned i = 0; i < 4; i++)
		w[100 + i] = (uint16_t)(total >> (16 * i));
	uint8_t sum = 0xa5;                 /* integrity word: signature, checksum */
	for (unsigned i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (w[i] & 0xff) + (w[i] >> 8));
	w[255] = (uint16_t)(0xa5 | (uint8_t)-sum << 8);
}

/* ---- Addressing ---- */

/* The sector the task file names (CHS through the current translation). */
static uint64_t drive_get_sector(const struct dev_ide_drive *d)
{
	if (!(d->select & SEL_LBA))
		return ((uint64_t)(d->hcyl << 8 | d->lcyl) * d->cur_heads +
			(d->select & 0x0f)) * d->cur_sectors + d->sector - 1u;
	if (!d->lba48)
		return (uint64_t)(d->select & 0x0f) << 24 | (uint64_t)d->hcyl << 16 |
		       (uint64_t)d->lcyl << 8 | d->sector;
	return (uint64_t)d->hob_hcyl << 40 | (uint64_t)d->hob_lcyl << 32 |
	       (uint64_t)d->hob_sector << 24 | (uint64_t)d->hcyl << 16 |
	       (uint64_t)d->lcyl << 8 | d->sector;
}

/* Point the task file at `s`, as the drive does after each block. */
static void drive_set_sector(struct dev_ide_drive *d, uint64_t s)
{
	if (!(d->select & SEL_LBA)) {
		uint32_t per_cyl = (uint32_t)d->cur_heads * d->cur_sectors;
		uint64_t cyl = s / per_cyl;
		uint32_t r = (uint32_t)(s % per_cyl);
		d->hcyl = (uint8_t)(cyl >> 8);
		d->lcyl = (uint8_t)cyl;
		d->select = (uint8_t)((d->select & 0xf0) | ((r / d->cur_sectors) & 0x0f));
		d->sector = (uint8_t)(r % d->cur_sectors + 1);
	} else if (!d->lba48) {
		d->select = (uint8_t)((d->select & 0xf0) | ((s >> 24) & 0x0f));
		d->hcyl = (uint8_t)(s >> 16);
		d->lcyl = (uint8_t)(s >> 8);
		d->sector = (uint8_t)s;
	} else {
		d->sector = (uint8_t)s;
		d->lcyl = (uint8_t)(s >> 8);
		d->hcyl = (uint8_t)(s >> 16);
		d->hob_sector = (uint8_t)(s >> 24);
		d->hob_lcyl = (uint8_t)(s >> 32);
		d->hob_hcyl = (uint8_t)(s >> 40);
	}
}

/* Fix the command's sector count: 0 means 256 (65536 for EXT commands). */
static void drive_take_count(struct dev_ide_drive *d, bool lba48)
{
	uint32_t count = d->nsector & 0xff;

	d->lba48 = lba48;
	if (lba48)
		count |= (uint32_t)d->hob_nsector << 8;
	d->nsector = count ? count : lba48 ? 65536 : 256;
}

static bool drive_range_ok(const struct dev_ide_drive *d, uint64_t s, uint32_t n)
{
	uint64_t total = dev_disk_sectors(d->disk);

	return s <= total && n <= total - s;
}

/* ---- PIO transfers ---- */

static void abort_command(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	d->status = ST_DRDY | ST_ERR;
	d->error = ERR_ABRT;
	d->xfer = IDE_XFER_NONE;
	irq_raise(ch);
}

static void transfer_start(struct dev_ide_drive *d, uint32_t bytes,
			   enum dev_ide_transfer xfer)
{
	d->xfer = xfer;
	d->pos = 0;
	d->end = bytes;
	d->status |= ST_DRQ;
}

static void transfer_stop(struct dev_ide_drive *d)
{
	d->xfer = IDE_XFER_NONE;
	d->pos = d->end = 0;
	d->status &= (uint8_t)~ST_DRQ;
}

static uint32_t block_of(const struct dev_ide_drive *d)
{
	return d->nsector < d->block ? d->nsector : d->block;
}

/* Read the next block into the buffer and raise DRQ and INTRQ, or end
 * the command when no sectors are left. */
static void sector_read(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	d->status = ST_READY;
	d->error = 0;
	if (d->nsector == 0) {
		transfer_stop(d);
		return;
	}
	uint64_t s = drive_get_sector(d);
	uint32_t n = block_of(d);
	if (!drive_range_ok(d, s, n) || dev_disk_read(d->disk, s, n, d->buffer)) {
		abort_command(ch, d);
		return;
	}
	transfer_start(d, n * DEV_SECTOR_SIZE, IDE_XFER_READ);
	irq_raise(ch);
	drive_set_sector(d, s + n);
	d->nsector -= n;
}

/* The guest filled the buffer: write it, then ask for the next block or
 * end the command; INTRQ either way. */
static void sector_write(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	uint64_t s = drive_get_sector(d);
	uint32_t n = block_of(d);

	d->status = ST_READY;
	if (!drive_range_ok(d, s, n) || dev_disk_write(d->disk, s, n, d->buffer)) {
		abort_command(ch, d);
		return;
	}
	drive_set_sector(d, s + n);
	d->nsector -= n;
	if (d->nsector == 0)
		transfer_stop(d);
	else
		transfer_start(d, block_of(d) * DEV_SECTOR_SIZE, IDE_XFER_WRITE);
	irq_raise(ch);
}

/* Begin a PIO read or write of `block` sectors per DRQ block. */
static void start_rw(struct dev_ide_channel *ch, struct dev_ide_drive *d,
		     bool lba48, unsigned block, bool write)
{
	drive_take_count(d, lba48);
	d->block = block;
	if (!write) {
		sector_read(ch, d);
		return;
	}
	d->error = 0;
	d->status = ST_READY;
	transfer_start(d, block_of(d) * DEV_SECTOR_SIZE, IDE_XFER_WRITE);
}

/* The data port moved the buffer's last byte. */
static void transfer_done(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	switch (d->xfer) {
	case IDE_XFER_READ:
		sector_read(ch, d);
		break;
	case IDE_XFER_WRITE:
		sector_write(ch, d);
		break;
	default:
		transfer_stop(d);
		break;
	}
}

static uint32_t data_read(struct dev_ide_channel *ch, unsigned size)
{
	struct dev_ide_drive *d = selected(ch);
	uint32_t v = 0;

	if (!(d->status & ST_DRQ) || d->xfer == IDE_XFER_WRITE || d->pos + size > d->end)
		return 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)d->buffer[d->pos + i] << (8 * i);
	d->pos += size;
	if (d->pos >= d->end)
		transfer_done(ch, d);
	return v;
}

static void data_write(struct dev_ide_channel *ch, unsigned size, uint32_t v)
{
	struct dev_ide_drive *d = selected(ch);

	if (!(d->status & ST_DRQ) || d->xfer != IDE_XFER_WRITE || d->pos + size > d->end)
		return;
	for (unsigned i = 0; i < size; i++)
		d->buffer[d->pos + i] = (uint8_t)(v >> (8 * i));
	d->pos += size;
	if (d->pos >= d->end)
		transfer_done(ch, d);
}

/* ---- Commands ---- */

static void complete(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	d->error = 0;
	d->status = ST_READY;
	irq_raise(ch);
}

static void cmd_identify(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	uint16_t w[256];

	identify_words(d, w);
	for (unsigned i = 0; i < 256; i++) {
		d->buffer[2 * i] = (uint8_t)w[i];
		d->buffer[2 * i + 1] = (uint8_t)(w[i] >> 8);
	}
	d->error = 0;
	d->status = ST_READY;
	transfer_start(d, 512, IDE_XFER_OUT);
	irq_raise(ch);
}

/* SET MULTIPLE MODE: a power of two up to 16 sectors, or 0 to turn it off. */
static void cmd_set_multiple(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	uint32_t n = d->nsector & 0xff;

	if (n > DEV_IDE_MAX_MULT || (n & (n - 1))) {
		abort_command(ch, d);
		return;
	}
	d->mult_sectors = (uint8_t)n;
	complete(ch, d);
}

/*
 * INITIALIZE DEVICE PARAMETERS: the CHS translation CHS commands use from
 * now on (heads from the device register, sectors per track from the
 * count). QEMU acknowledges it and keeps its default geometry; btvmm does
 * what ATA says, which is the same for a guest that asks for the default.
 */
static void cmd_initialize_parameters(struct dev_ide_channel *ch,
				      struct dev_ide_drive *d)
{
	unsigned heads = (d->select & 0x0f) + 1u;
	unsigned spt = d->nsector & 0xff;

	if (spt == 0) {
		abort_command(ch, d);
		return;
	}
	uint64_t cyls = dev_disk_sectors(d->disk) / (heads * spt);
	d->cur_heads = (uint16_t)heads;
	d->cur_sectors = (uint16_t)spt;
	d->cur_cylinders = (uint16_t)(cyls > 65535 ? 65535 : cyls);
	complete(ch, d);
}

/* SET FEATURES: PIO transfer modes and the no-op subcommands; DMA modes
 * are refused (there is no bus master). */
static void cmd_set_features(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	bool ok = feature_is_noop(d->feature) ||
		  (d->feature == FEATURE_SET_TRANSFER_MODE && (d->nsector & 0xff) >> 3 <= 1);

	if (ok)
		complete(ch, d);
	else
		abort_command(ch, d);
}

static void cmd_verify(struct dev_ide_channel *ch, struct dev_ide_drive *d, bool lba48)
{
	drive_take_count(d, lba48);
	if (!drive_range_ok(d, drive_get_sector(d), d->nsector))
		abort_command(ch, d);
	else
		complete(ch, d);
}

static void cmd_flush(struct dev_ide_channel *ch, struct dev_ide_drive *d)
{
	if (dev_disk_flush(d->disk))
		abort_command(ch, d);
	else
		complete(ch, d);
}

static void exec_command(struct dev_ide_channel *ch, uint8_t cmd)
{
	struct dev_ide_drive *d = selected(ch);
	unsigned mult = d->mult_sectors;

	/* Commands to an absent drive go unanswered; a busy drive ignores
	 * new ones (QEMU: only ATAPI devices take DEVICE RESET then). */
	if (!d->disk || (d->status & (ST_BSY | ST_DRQ)))
		return;
	if ((cmd & 0xf0) == CMD_RECALIBRATE) {
		complete(ch, d);
		return;
	}
	switch (cmd) {
	case CMD_IDENTIFY:
		cmd_identify(ch, d);
		break;
	case CMD_READ_SECTORS: case CMD_READ_SECTORS_NORETRY:
		start_rw(ch, d, false, 1, false);
		break;
	case CMD_READ_SECTORS_EXT:
		start_rw(ch, d, true, 1, false);
		break;
	case CMD_WRITE_SECTORS: case CMD_WRITE_SECTORS_NORETRY:
		start_rw(ch, d, false, 1, true);
		break;
	case CMD_WRITE_SECTORS_EXT:
		start_rw(ch, d, true, 1, true);
		break;
	case CMD_READ_MULTIPLE: case CMD_READ_MULTIPLE_EXT:
	case CMD_WRITE_MULTIPLE: case CMD_WRITE_MULTIPLE_EXT:
		if (!mult)
			abort_command(ch, d);
		else
			start_rw(ch, d, cmd == CMD_READ_MULTIPLE_EXT || cmd == CMD_WRITE_MULTIPLE_EXT,
				 mult, cmd == CMD_WRITE_MULTIPLE || cmd == CMD_WRITE_MULTIPLE_EXT);
		break;
	case CMD_SET_MULTIPLE:
		cmd_set_multiple(ch, d);
		break;
	case CMD_READ_VERIFY: case CMD_READ_VERIFY_NORETRY:
		cmd_verify(ch, d, false);
		break;
	case CMD_READ_VERIFY_EXT:
		cmd_verify(ch, d, true);
		break;
	case CMD_FLUSH_CACHE: case CMD_FLUSH_CACHE_EXT:
		cmd_flush(ch, d);
		break;
	case CMD_SET_FEATURES:
		cmd_set_features(ch, d);
		break;
	case CMD_INITIALIZE_PARAMETERS:
		cmd_initialize_parameters(ch, d);
		break;
	case CMD_EXECUTE_DIAGNOSTIC:
		drive_set_signature(d);
		d->status = ST_READY;
		d->error = ERR_DIAG_PASS;
		irq_raise(ch);
		break;
	case CMD_CHECK_POWER_MODE:
		d->nsector = 0xff; /* active or idle */
		complete(ch, d);
		break;
	case CMD_SEEK:
	case CMD_STANDBY_IMMEDIATE: case CMD_IDLE_IMMEDIATE:
	case CMD_STANDBY: case CMD_IDLE:
		complete(ch, d);
		break;
	default: /* IDENTIFY PACKET DEVICE (not a packet device), NOP, unknown */
		abort_command(ch, d);
		break;
	}
}

/* ---- Registers ---- */

/* A task-file write reaches both drives; the old value moves to HOB. */
static void taskfile_write(struct dev_ide_channel *ch, unsigned reg, uint8_t v)
{
	ch->control &= (uint8_t)~CTL_HOB;
	for (unsigned i = 0; i < 2; i++) {
		struct dev_ide_drive *d = &ch->drive[i];
		switch (reg) {
		case REG_ERROR_FEATURE:
			d->hob_feature = d->feature;
			d->feature = v;
			break;
		case REG_NSECTOR:
			d->hob_nsector = (uint8_t)d->nsector;
			d->nsector = v;
			break;
		case REG_SECTOR:
			d->hob_sector = d->sector;
			d->sector = v;
			break;
		case REG_LCYL:
			d->hob_lcyl = d->lcyl;
			d->lcyl = v;
			break;
		case REG_HCYL:
			d->hob_hcyl = d->hcyl;
			d->hcyl = v;
			break;
		case REG_SELECT:
			d->select = v | SEL_ALWAYS_ON;
			break;
		}
	}
	if (reg == REG_SELECT)
		ch->unit = v & SEL_DEV ? 1 : 0;
}

static uint8_t taskfile_read(struct dev_ide_channel *ch, unsigned reg)
{
	struct dev_ide_drive *d = selected(ch);
	bool hob = ch->control & CTL_HOB;

	if (reg == REG_STATUS_COMMAND) {
		irq_lower(ch);
		return selected_reads_zero(ch) ? 0 : d->status;
	}
	if (reg == REG_ERROR_FEATURE)
		return selected_reads_zero(ch) ? 0 : hob ? d->hob_feature : d->error;
	if (channel_empty(ch))
		return 0;
	switch (reg) {
	case REG_NSECTOR: return hob ? d->hob_nsector : (uint8_t)d->nsector;
	case REG_SECTOR: return hob ? d->hob_sector : d->sector;
	case REG_LCYL: return hob ? d->hob_lcyl : d->lcyl;
	case REG_HCYL: return hob ? d->hob_hcyl : d->hcyl;
	default: return d->select;
	}
}

static uint32_t ide_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_ide_channel *ch = dev;
	unsigned reg = port & 7u;
	uint32_t v = 0;

	if (reg == REG_DATA)
		return size == 1 ? 0xff : data_read(ch, size);
	/* A wide access to the byte registers is that many byte accesses. */
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)(reg + i < 8 ? taskfile_read(ch, reg + i) : 0xff) << (8 * i);
	return v;
}

static void ide_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_ide_channel *ch = dev;
	unsigned reg = port & 7u;

	if (reg == REG_DATA) {
		if (size > 1)
			data_write(ch, size, value);
		return;
	}
	for (unsigned i = 0; i < size && reg + i < 8; i++) {
		uint8_t b = (uint8_t)(value >> (8 * i));
		if (reg + i == REG_STATUS_COMMAND) {
			ch->control &= (uint8_t)~CTL_HOB;
			irq_lower(ch);
			exec_command(ch, b);
		} else if (!(selected(ch)->status & (ST_BSY | ST_DRQ))) {
			/* QEMU ignores the task file while a command runs. */
			taskfile_write(ch, reg + i, b);
		}
	}
}

static uint32_t ide_ctrl_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_ide_channel *ch = dev;

	return selected_reads_zero(ch) ? 0 : selected(ch)->status;
}

/* SRST: BSY while held, the reset (signature, defaults, master selected)
 * when released. */
static void ide_ctrl_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_ide_channel *ch = dev;
	uint8_t v = (uint8_t)value;

	if (!(ch->control & CTL_SRST) && (v & CTL_SRST)) {
		for (unsigned i = 0; i < 2; i++) {
			ch->drive[i].status = ST_BSY | ST_DSC;
			ch->drive[i].error = ERR_DIAG_PASS;
			transfer_stop(&ch->drive[i]);
		}
	} else if ((ch->control & CTL_SRST) && !(v & CTL_SRST)) {
		for (unsigned i = 0; i < 2; i++) {
			drive_reset(&ch->drive[i]);
			ch->drive[i].error = ERR_DIAG_PASS;
		}
		ch->unit = 0;
	}
	ch->control = v;
}

const struct dev_pio_ops dev_ide_ops = {
	.name = "ide",
	.read = ide_read,
	.write = ide_write,
};

const struct dev_pio_ops dev_ide_ctrl_ops = {
	.name = "ide-ctrl",
	.max_access = 1,
	.read = ide_ctrl_read,
	.write = ide_ctrl_write,
};
