/* monitor: boot loaders (multiboot v1 ELF32 kernels and Linux bzImages). */
#ifndef BTVMM_LOADER_H
#define BTVMM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the loader hands the vCPU: entry EIP and the entry registers. */
struct mon_boot {
	uint32_t entry; /* EIP */
	uint32_t eax;   /* 0x2BADB002 for multiboot */
	uint32_t ebx;   /* physical address of the multiboot info */
	uint32_t esi;   /* Linux: the zero page */
};

/*
 * Load a multiboot v1 ELF32 kernel into guest RAM.
 *
 * `ram`/`ram_size`: guest-physical [0, ram_size) as host memory (the
 * monitor's own view of the memfd). `kernel`/`kernel_len`: the file's bytes;
 * `initrd` (may be NULL) becomes module 0, named `initrd_name`; `cmdline`
 * (may be NULL) is written at LAYOUT_MB_CMDLINE. The multiboot info (with
 * mem_lower/mem_upper, a memory map with the 640 KiB / 1 MiB hole, cmdline,
 * modules) is written at LAYOUT_MB_INFO.
 *
 * Return 0 and fill *boot, or return -1 and write one line (no newline)
 * saying what is wrong into err[errlen]: not ELF, not ELF32/i386, no
 * multiboot header in the first 8 KiB, bad checksum, unsupported flags
 * (bit 2 video, bit 16 a.out kludge for non-ELF), segment outside RAM or
 * over the loader's area, truncated file, initrd too large.
 */
int mon_load_multiboot(uint8_t *ram, uint64_t ram_size,
		       const uint8_t *kernel, size_t kernel_len,
		       const uint8_t *initrd, size_t initrd_len,
		       const char *initrd_name, const char *cmdline,
		       struct mon_boot *boot, char *err, size_t errlen);

/* True if the image carries a Linux setup header ("HdrS" at 0x202). */
bool mon_is_bzimage(const uint8_t *image, size_t len);

/*
 * Load a Linux bzImage with the 32-bit boot protocol: the protected-mode
 * kernel at 1 MiB, a zero page at LAYOUT_ZERO_PAGE (the image's setup
 * header, an e820 map, cmd_line_ptr, the initrd placed high), and the
 * entry state in *boot. Return 0, or -1 with one line in err.
 */
int mon_load_bzimage(uint8_t *ram, uint64_t ram_size, const uint8_t *image,
		     size_t len, const uint8_t *initrd, size_t initrd_len,
		     const char *cmdline, struct mon_boot *boot, char *err,
		     size_t errlen);

#endif
