/* monitor: the Linux/x86 boot protocol, 32-bit entry (Documentation/arch/x86/boot.rst). */
#include <stdio.h>
#include <string.h>

#include "layout.h"
#include "loader.h"

/*
 * bzImage layout:
 *   0x0000           real-mode setup: boot sector, then setup_sects sectors
 *   0x01f1           the setup header (copied into the zero page at 0x1f1)
 *   (setup_sects+1)*512  the protected-mode kernel, loaded at 1 MiB
 *
 * Zero page (struct boot_params) fields written here, by offset:
 *   0x1e8 e820_entries (u8)     0x2d0 e820_table[] {u64 addr, u64 size, u32 type}
 *   0x1fa vid_mode (0xffff)     0x210 type_of_loader (0xff: undefined)
 *   0x211 loadflags             0x218 ramdisk_image, 0x21c ramdisk_size
 *   0x228 cmd_line_ptr
 */
#define HDR_OFFSET 0x1f1
#define HDR_MAGIC 0x53726448u /* "HdrS" at 0x202 */
#define MIN_PROTOCOL 0x0206   /* cmdline_size, initrd_addr_max: 2.06+ */
#define E820_MAX 128

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

bool mon_is_bzimage(const uint8_t *image, size_t len)
{
	return len >= 0x260 && rd32(image + 0x202) == HDR_MAGIC;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t n = zp[0x1e8];
	if (n >= E820_MAX)
		return;
	uint8_t *e = zp + 0x2d0 + 20u * n;
	wr64(e, addr);
	wr64(e + 8, size);
	wr32(e + 16, type);
	zp[0x1e8] = (uint8_t)(n + 1);
}

int mon_load_bzimage(uint8_t *ram, uint64_t ram_size, const uint8_t *image,
		     size_t len, const uint8_t *initrd, size_t initrd_len,
		     const char *cmdline, struct mon_boot *boot, char *err,
		     size_t errlen)
{
	if (!mon_is_bzimage(image, len)) {
		snprintf(err, errlen, "not a Linux bzImage (no \"HdrS\" setup header)");
		return -1;
	}
	uint16_t version = rd16(image + 0x206);
	if (version < MIN_PROTOCOL) {
		snprintf(err, errlen, "Linux boot protocol %u.%02u is too old (2.06 or later needed)",
			 version >> 8, version & 0xff);
		return -1;
	}
	if (!(image[0x211] & 1)) {
		snprintf(err, errlen, "not a bzImage: a zImage (loaded low) is not supported");
		return -1;
	}
	unsigned setup_sects = image[0x1f1] ? image[0x1f1] : 4;
	size_t kernel_off = (size_t)(setup_sects + 1) * 512;
	if (kernel_off >= len) {
		snprintf(err, errlen, "truncated bzImage (%zu bytes, setup says %zu)", len,
			 kernel_off);
		return -1;
	}
	size_t kernel_len = len - kernel_off;
	uint32_t init_size = rd32(image + 0x260);
	uint64_t need = LAYOUT_HOLE_END + (init_size > kernel_len ? init_size : kernel_len);
	if (need > ram_size) {
		snprintf(err, errlen, "the kernel needs %llu MiB of RAM or more",
			 (unsigned long long)((need + (1 << 20) - 1) >> 20));
		return -1;
	}
	/* We load it at 1 MiB, so its 32-bit entry must lie in it. */
	uint32_t code32 = rd32(image + 0x214);
	if (code32 < LAYOUT_HOLE_END || code32 - LAYOUT_HOLE_END >= kernel_len) {
		snprintf(err, errlen, "code32_start 0x%x lies outside the protected-mode kernel "
			 "loaded at [0x%x, 0x%zx)", code32, LAYOUT_HOLE_END,
			 LAYOUT_HOLE_END + kernel_len);
		return -1;
	}
	/* The protected-mode kernel at 1 MiB: it decompresses itself. */
	memcpy(ram + LAYOUT_HOLE_END, image + kernel_off, kernel_len);

	/* The zero page: zeroed, with the image's setup header copied in. */
	uint8_t *zp = ram + LAYOUT_ZERO_PAGE;
	memset(zp, 0, 4096);
	size_t hdr_end = 0x202 + image[0x201]; /* the jump at 0x200 skips the header */
	if (hdr_end > 0x280 || hdr_end > len)
		hdr_end = 0x268;
	memcpy(zp + HDR_OFFSET, image + HDR_OFFSET, hdr_end - HDR_OFFSET);
	zp[0x210] = 0xff;                       /* type_of_loader: undefined */
	zp[0x1fa] = 0xff;                       /* vid_mode: normal */
	zp[0x1fb] = 0xff;

	uint32_t cmdline_max = version >= 0x0206 ? rd32(image + 0x238) : 255;
	size_t cl = cmdline ? strlen(cmdline) : 0;
	if (cl > cmdline_max || cl >= LAYOUT_LINUX_CMDLINE_SIZE) {
		snprintf(err, errlen, "kernel command line too long (%zu bytes, at most %u)", cl,
			 cmdline_max);
		return -1;
	}
	memset(ram + LAYOUT_LINUX_CMDLINE, 0, cl + 1);
	if (cl)
		memcpy(ram + LAYOUT_LINUX_CMDLINE, cmdline, cl);
	wr32(zp + 0x228, LAYOUT_LINUX_CMDLINE);

	/* The initrd as high as the kernel allows, below 896 MiB (the 686
	 * kernel's low memory) and page-aligned. */
	if (initrd && initrd_len) {
		uint64_t max = rd32(image + 0x22c);
		uint64_t top = ram_size < (896ull << 20) ? ram_size : (896ull << 20);
		if (top > max + 1)
			top = max + 1;
		uint64_t at = (top - initrd_len) & ~0xfffull;
		if (initrd_len >= top || at < need) {
			snprintf(err, errlen, "initrd too large (%zu bytes) for %llu MiB of RAM",
				 initrd_len, (unsigned long long)(ram_size >> 20));
			return -1;
		}
		memcpy(ram + at, initrd, initrd_len);
		wr32(zp + 0x218, (uint32_t)at);
		wr32(zp + 0x21c, (uint32_t)initrd_len);
	}

	e820_add(zp, 0, LAYOUT_EBDA, 1);
	e820_add(zp, LAYOUT_EBDA, 0xa0000 - LAYOUT_EBDA, 2);
	e820_add(zp, 0xf0000, 0x10000, 2);
	e820_add(zp, LAYOUT_HOLE_END, ram_size - LAYOUT_HOLE_END, 1);

	/* 32-bit entry: EIP = code32_start, ESI = zero page, EBP = EDI =
	 * EBX = 0; CS 0x10, DS = ES = SS 0x18 (the boot GDT), paging off. */
	boot->entry = code32;
	boot->eax = 0;
	boot->ebx = 0;
	boot->esi = LAYOUT_ZERO_PAGE;
	return 0;
}
