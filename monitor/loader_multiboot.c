/* monitor: the multiboot v1 loader for ELF32 i386 kernels, built on libelf. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libelf.h>

#include "layout.h"
#include "loader.h"

/*
 * The loader works in two passes so that a rejected kernel leaves guest RAM
 * untouched: first every input is checked and every address decided, then
 * the bytes are written. The result matches what QEMU 7.2's -kernel gives a
 * multiboot guest (checked with a probe guest under qemu-system-i386), except
 * where noted: QEMU additionally sets boot_device (0x8000ffff) and a boot
 * loader name ("qemu"), and its memory map comes from SeaBIOS (which also
 * reserves the top 128 KiB of RAM and the BIOS ROM below 4 GiB).
 */

/*
 * The multiboot header, found at a 4-byte aligned offset in the first
 * 8 KiB of the file:
 *
 *   +0 magic 0x1BADB002   +4 flags   +8 checksum (magic + flags + checksum
 *   == 0 mod 2^32)   +12.. a.out-kludge addresses (flag 16), video (flag 2)
 *
 * Flags 0-15 are requirements a loader must refuse if it cannot meet them:
 * bit 0 (page-aligned modules) and bit 1 (memory information) are always
 * met here; bit 2 (a video mode) is not.
 */
#define MBH_MAGIC        0x1BADB002u
#define MBH_SEARCH_LIMIT 8192u
#define MBH_SIZE_MIN     12u
#define MBH_PAGE_ALIGN   (1u << 0)
#define MBH_MEMORY_INFO  (1u << 1)
#define MBH_VIDEO_MODE   (1u << 2)
#define MBH_REQUIRED     0x0000ffffu
#define MBH_AOUT_KLUDGE  (1u << 16)

/*
 * The multiboot information structure at LAYOUT_MB_INFO, as far as btvmm
 * fills it (all other fields stay 0 and their flag bits clear):
 *
 *   offset  field        value
 *    0      flags        MEM | CMDLINE | MODS | MMAP
 *    4      mem_lower    KiB of conventional memory: 639
 *    8      mem_upper    KiB from 1 MiB to the end of RAM
 *   16      cmdline      LAYOUT_MB_CMDLINE
 *   20      mods_count   1 with an initrd, else 0 (QEMU, too, sets MODS
 *   24      mods_addr    LAYOUT_MB_MODS           with no module)
 *   44      mmap_length  bytes in the memory map
 *   48      mmap_addr    LAYOUT_MB_MMAP
 *   88      end of the v1 structure (no framebuffer fields)
 */
#define MBI_MAGIC_EAX    0x2BADB002u
#define MBI_FLAG_MEM     (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS    (1u << 3)
#define MBI_FLAG_MMAP    (1u << 6)
#define MBI_FLAGS        0u
#define MBI_MEM_LOWER    4u
#define MBI_MEM_UPPER    8u
#define MBI_CMDLINE      16u
#define MBI_MODS_COUNT   20u
#define MBI_MODS_ADDR    24u
#define MBI_MMAP_LENGTH  44u
#define MBI_MMAP_ADDR    48u
#define MBI_SIZE         88u

/* A module entry: mod_start, mod_end (exclusive), string, reserved. */
#define MOD_ENTRY_SIZE   16u
/* A memory map entry: size (of the rest: 20), base, length (64-bit each,
 * as low/high words), type. `size` precedes the entry it describes. */
#define MMAP_ENTRY_SIZE  24u
#define MMAP_ENTRIES     4u
#define MMAP_AVAILABLE   1u
#define MMAP_RESERVED    2u
#define BIOS_ROM_START   0x000f0000u /* the BIOS ROM QEMU maps, reserved */
#define STRING_AREA      0x1000u     /* room for cmdline and module name */
#define PAGE_SIZE        0x1000u

_Static_assert(LAYOUT_MB_INFO + MBI_SIZE <= LAYOUT_MB_MODS,
	       "multiboot info overlaps the module list");
_Static_assert(LAYOUT_MB_MODS + MOD_ENTRY_SIZE <= LAYOUT_MB_MMAP,
	       "module list overlaps the memory map");
_Static_assert(LAYOUT_MB_MMAP + MMAP_ENTRIES * MMAP_ENTRY_SIZE <=
	       LAYOUT_MB_CMDLINE, "memory map overlaps the command line");
_Static_assert(LAYOUT_MB_CMDLINE + STRING_AREA <= LAYOUT_MB_MODCMD,
	       "command line overlaps the module string");
_Static_assert(LAYOUT_MB_MODCMD + STRING_AREA <= LAYOUT_MB_END,
	       "module string runs past the loader's area");

/* What pass 1 decides and pass 2 writes. */
struct mb_plan {
	uint64_t kernel_end;  /* one past the highest loaded kernel byte */
	uint32_t entry;
	uint32_t initrd_addr;
	const char *cmdline;
	const char *initrd_name;
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *ram, uint32_t addr, uint32_t v)
{
	ram[addr] = (uint8_t)v;
	ram[addr + 1] = (uint8_t)(v >> 8);
	ram[addr + 2] = (uint8_t)(v >> 16);
	ram[addr + 3] = (uint8_t)(v >> 24);
}

static bool overlaps(uint64_t start, uint64_t end, uint64_t lo, uint64_t hi)
{
	return start < hi && end > lo;
}

/*
 * Find the multiboot header as QEMU and GRUB do: the first magic at a
 * 4-byte aligned offset whose checksum holds. Return 0 with *flags set, or
 * -1 with the message (a bad checksum is named when no good header exists).
 */
static int find_header(const uint8_t *kernel, size_t len, uint32_t *flags,
		       char *err, size_t errlen)
{
	size_t limit = len < MBH_SEARCH_LIMIT ? len : MBH_SEARCH_LIMIT;
	long bad = -1;

	for (size_t off = 0; off + MBH_SIZE_MIN <= limit; off += 4) {
		if (get32(kernel + off) != MBH_MAGIC)
			continue;
		uint32_t f = get32(kernel + off + 4);
		if (MBH_MAGIC + f + get32(kernel + off + 8) == 0) {
			*flags = f;
			return 0;
		}
		if (bad < 0)
			bad = (long)off;
	}
	if (bad >= 0)
		return fail(err, errlen, "multiboot header at file offset 0x%lx "
			    "has a bad checksum", (unsigned long)bad);
	return fail(err, errlen, "no multiboot header in the first 8 KiB of "
		    "the kernel (not a multiboot kernel)");
}

static bool is_elf(const uint8_t *kernel, size_t len)
{
	return len >= SELFMAG && memcmp(kernel, ELFMAG, SELFMAG) == 0;
}

/* Refuse header flags this loader cannot honour. */
static int check_flags(uint32_t flags, bool elf, char *err, size_t errlen)
{
	uint32_t known = MBH_PAGE_ALIGN | MBH_MEMORY_INFO | MBH_VIDEO_MODE;

	if (flags & MBH_VIDEO_MODE)
		return fail(err, errlen, "multiboot header requests a video "
			    "mode (flag bit 2); btvmm has no framebuffer");
	if (flags & MBH_REQUIRED & ~known)
		return fail(err, errlen, "multiboot header requires unknown "
			    "features (flags 0x%x)", flags & MBH_REQUIRED & ~known);
	/* For an ELF file the program headers say the same as the kludge's
	 * addresses, and are what we trust; without ELF there is nothing. */
	if (!elf && (flags & MBH_AOUT_KLUDGE))
		return fail(err, errlen, "multiboot a.out kludge (flag bit 16) "
			    "is not supported: only ELF multiboot kernels are");
	if (!elf)
		return fail(err, errlen, "kernel is not an ELF file: only ELF "
			    "multiboot kernels are supported");
	return 0;
}

/* Check the ELF header: ELF32, little-endian, i386, executable. */
static int check_ehdr(Elf *elf, size_t len, const Elf32_Ehdr **out,
		      char *err, size_t errlen)
{
	const char *ident = elf_getident(elf, NULL);
	const Elf32_Ehdr *eh;

	if (elf_kind(elf) != ELF_K_ELF || !ident)
		return fail(err, errlen, "kernel is not a valid ELF file");
	if (ident[EI_CLASS] == ELFCLASS64)
		return fail(err, errlen, "kernel is ELF64: only ELF32 i386 "
			    "kernels are supported");
	if (ident[EI_CLASS] != ELFCLASS32)
		return fail(err, errlen, "kernel has an unknown ELF class %u",
			    (unsigned)(uint8_t)ident[EI_CLASS]);
	if (ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, errlen, "kernel is not a little-endian ELF");
	eh = elf32_getehdr(elf);
	if (!eh)
		return fail(err, errlen, "kernel's ELF header is unreadable "
			    "(truncated file?): %s", elf_errmsg(-1));
	if (eh->e_machine != EM_386)
		return fail(err, errlen, "kernel is for ELF machine %u, not "
			    "i386 (EM_386)", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return fail(err, errlen, "kernel's ELF type is %u, not an "
			    "executable (ET_EXEC)", eh->e_type);
	if (eh->e_phnum == 0 || eh->e_phnum == PN_XNUM)
		return fail(err, errlen, "kernel has %s program headers",
			    eh->e_phnum ? "too many" : "no");
	if (eh->e_phentsize != sizeof(Elf32_Phdr))
		return fail(err, errlen, "kernel's program header size is %u, "
			    "not %zu", eh->e_phentsize, sizeof(Elf32_Phdr));
	if ((uint64_t)eh->e_phoff + (uint64_t)eh->e_phnum * eh->e_phentsize > len)
		return fail(err, errlen, "kernel's program headers run past the "
			    "end of the file (truncated?)");
	*out = eh;
	return 0;
}

/*
 * Pass 1 over the program headers: every PT_LOAD segment must come from
 * inside the file and land in RAM, clear of the loader's area. The
 * 640 KiB - 1 MiB hole is allowed, as QEMU allows it: `ld -Ttext=0x100000`
 * puts the ELF headers in a read-only segment at 0xff000.
 *
 * Also find the entry point: e_entry is virtual, and a kernel linked high
 * (vaddr != paddr) is entered at the physical address of its entry, which
 * QEMU's ELF loader computes from the executable segment
 * whose file-backed virtual range holds e_entry (GRUB does the same).
 */
static int plan_segments(const Elf32_Ehdr *eh, const Elf32_Phdr *ph,
			 size_t len, uint64_t ram_size, struct mb_plan *plan,
			 char *err, size_t errlen)
{
	unsigned loaded = 0;

	plan->kernel_end = 0;
	plan->entry = eh->e_entry;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf32_Phdr *p = &ph[i];
		uint64_t start = p->p_paddr, end = start + p->p_memsz;

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz)
			return fail(err, errlen, "segment %u: file size 0x%x "
				    "exceeds its memory size 0x%x", i,
				    p->p_filesz, p->p_memsz);
		if ((uint64_t)p->p_offset + p->p_filesz > len)
			return fail(err, errlen, "segment %u: file bytes "
				    "[0x%x, 0x%llx) run past the end of the "
				    "file (%zu bytes)", i, p->p_offset,
				    (unsigned long long)p->p_offset + p->p_filesz,
				    len);
		if (end > ram_size)
			return fail(err, errlen, "segment %u: [0x%llx, 0x%llx) "
				    "lies outside guest RAM (0x%llx bytes)", i,
				    (unsigned long long)start,
				    (unsigned long long)end,
				    (unsigned long long)ram_size);
		if (overlaps(start, end, LAYOUT_LOW_LIMIT, LAYOUT_MB_END))
			return fail(err, errlen, "segment %u: [0x%llx, 0x%llx) "
				    "overlaps the loader's area [0x%x, 0x%x)", i,
				    (unsigned long long)start,
				    (unsigned long long)end,
				    LAYOUT_LOW_LIMIT, LAYOUT_MB_END);
		if (end > plan->kernel_end)
			plan->kernel_end = end;
		if ((p->p_flags & PF_X) && p->p_vaddr != p->p_paddr &&
		    eh->e_entry >= p->p_vaddr &&
		    (uint64_t)eh->e_entry < (uint64_t)p->p_vaddr + p->p_filesz)
			plan->entry = eh->e_entry - p->p_vaddr + p->p_paddr;
		loaded++;
	}
	if (!loaded)
		return fail(err, errlen, "kernel has no loadable segments");
	/* The CPU must start on bytes from the file: anywhere else it runs
	 * zeroed bss or whatever RAM holds. */
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf32_Phdr *p = &ph[i];
		if (p->p_type == PT_LOAD && p->p_memsz && plan->entry >= p->p_paddr &&
		    (uint64_t)plan->entry < (uint64_t)p->p_paddr + p->p_filesz)
			return 0;
	}
	return fail(err, errlen, "entry point 0x%x lies outside the bytes the kernel's "
		    "segments load from the file", plan->entry);
}

/*
 * Place the initrd on the first page boundary after the kernel (as QEMU
 * does), moved up past the loader's area or the BIOS hole if it would
 * cover them. The multiboot module fields are 32-bit, so it ends below
 * 4 GiB.
 */
static int plan_initrd(size_t initrd_len, uint64_t ram_size,
		       struct mb_plan *plan, char *err, size_t errlen)
{
	uint64_t limit = ram_size < (1ull << 32) ? ram_size : (1ull << 32);
	uint64_t start = (plan->kernel_end + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);

	if (overlaps(start, start + initrd_len, LAYOUT_LOW_LIMIT, LAYOUT_MB_END))
		start = LAYOUT_MB_END;
	if (overlaps(start, start + initrd_len, LAYOUT_EBDA, LAYOUT_HOLE_END))
		start = LAYOUT_HOLE_END;
	if (start > limit || initrd_len > limit - start)
		return fail(err, errlen, "initrd too large: %zu bytes do not "
			    "fit in guest RAM between 0x%llx and 0x%llx",
			    initrd_len, (unsigned long long)start,
			    (unsigned long long)limit);
	plan->initrd_addr = (uint32_t)start;
	return 0;
}

/* Pass 2, step 1: copy the segments and zero their bss. */
static void load_segments(uint8_t *ram, const uint8_t *kernel,
			  const Elf32_Ehdr *eh, const Elf32_Phdr *ph)
{
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf32_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		memcpy(ram + p->p_paddr, kernel + p->p_offset, p->p_filesz);
		memset(ram + p->p_paddr + p->p_filesz, 0,
		       p->p_memsz - p->p_filesz);
	}
}

static void put_mmap_entry(uint8_t *ram, unsigned index, uint64_t base,
			   uint64_t length, uint32_t type)
{
	uint32_t at = LAYOUT_MB_MMAP + index * MMAP_ENTRY_SIZE;

	put32(ram, at, MMAP_ENTRY_SIZE - 4);
	put32(ram, at + 4, (uint32_t)base);
	put32(ram, at + 8, (uint32_t)(base >> 32));
	put32(ram, at + 12, (uint32_t)length);
	put32(ram, at + 16, (uint32_t)(length >> 32));
	put32(ram, at + 20, type);
}

/* Pass 2, step 2: the multiboot information and everything it points at. */
static void write_boot_info(uint8_t *ram, uint64_t ram_size,
			    const uint8_t *initrd, size_t initrd_len,
			    const struct mb_plan *plan)
{
	uint32_t flags = MBI_FLAG_MEM | MBI_FLAG_CMDLINE | MBI_FLAG_MODS |
			 MBI_FLAG_MMAP;

	memset(ram + LAYOUT_LOW_LIMIT, 0, LAYOUT_MB_END - LAYOUT_LOW_LIMIT);
	memcpy(ram + LAYOUT_MB_CMDLINE, plan->cmdline, strlen(plan->cmdline));
	if (initrd) {
		memcpy(ram + plan->initrd_addr, initrd, initrd_len);
		memcpy(ram + LAYOUT_MB_MODCMD, plan->initrd_name,
		       strlen(plan->initrd_name));
		put32(ram, LAYOUT_MB_MODS, plan->initrd_addr);
		put32(ram, LAYOUT_MB_MODS + 4,
		      plan->initrd_addr + (uint32_t)initrd_len);
		put32(ram, LAYOUT_MB_MODS + 8, LAYOUT_MB_MODCMD);
	}

	/* The PC memory map, one row per range:
	 *   [0, 0x9fc00)            conventional memory
	 *   [0x9fc00, 0xa0000)      EBDA, reserved
	 *   [0xf0000, 0x100000)     BIOS ROM, reserved
	 *   [1 MiB, ram_size)       extended memory
	 * The VGA window and option ROMs [0xa0000, 0xf0000) are not listed,
	 * as on SeaBIOS. */
	put_mmap_entry(ram, 0, 0, LAYOUT_EBDA, MMAP_AVAILABLE);
	put_mmap_entry(ram, 1, LAYOUT_EBDA, 0xa0000u - LAYOUT_EBDA, MMAP_RESERVED);
	put_mmap_entry(ram, 2, BIOS_ROM_START, LAYOUT_HOLE_END - BIOS_ROM_START,
		       MMAP_RESERVED);
	put_mmap_entry(ram, 3, LAYOUT_HOLE_END, ram_size - LAYOUT_HOLE_END,
		       MMAP_AVAILABLE);

	put32(ram, LAYOUT_MB_INFO + MBI_FLAGS, flags);
	put32(ram, LAYOUT_MB_INFO + MBI_MEM_LOWER, LAYOUT_EBDA / 1024);
	put32(ram, LAYOUT_MB_INFO + MBI_MEM_UPPER,
	      (uint32_t)((ram_size - LAYOUT_HOLE_END) / 1024));
	put32(ram, LAYOUT_MB_INFO + MBI_CMDLINE, LAYOUT_MB_CMDLINE);
	put32(ram, LAYOUT_MB_INFO + MBI_MODS_COUNT, initrd ? 1 : 0);
	put32(ram, LAYOUT_MB_INFO + MBI_MODS_ADDR, LAYOUT_MB_MODS);
	put32(ram, LAYOUT_MB_INFO + MBI_MMAP_LENGTH, MMAP_ENTRIES * MMAP_ENTRY_SIZE);
	put32(ram, LAYOUT_MB_INFO + MBI_MMAP_ADDR, LAYOUT_MB_MMAP);
}

/*
 * Everything that does not need the ELF parsed: RAM size, strings, header.
 */
static int check_inputs(uint64_t ram_size, const uint8_t *kernel,
			size_t kernel_len, struct mb_plan *plan,
			char *err, size_t errlen)
{
	uint32_t flags = 0;

	/* mem_upper counts KiB in 32 bits: RAM up to 4 TiB can be told. */
	if (ram_size <= LAYOUT_HOLE_END || ram_size > (1ull << 42))
		return fail(err, errlen, "guest RAM size 0x%llx must be above "
			    "1 MiB and at most 4 TiB", (unsigned long long)ram_size);
	if (strlen(plan->cmdline) >= STRING_AREA)
		return fail(err, errlen, "kernel command line too long (%zu "
			    "bytes, at most %u)", strlen(plan->cmdline),
			    STRING_AREA - 1);
	if (strlen(plan->initrd_name) >= STRING_AREA)
		return fail(err, errlen, "initrd name too long (%zu bytes, at "
			    "most %u)", strlen(plan->initrd_name),
			    STRING_AREA - 1);
	if (kernel_len == 0)
		return fail(err, errlen, "kernel file is empty");
	if (find_header(kernel, kernel_len, &flags, err, errlen))
		return -1;
	return check_flags(flags, is_elf(kernel, kernel_len), err, errlen);
}

int mon_load_multiboot(uint8_t *ram, uint64_t ram_size,
		       const uint8_t *kernel, size_t kernel_len,
		       const uint8_t *initrd, size_t initrd_len,
		       const char *initrd_name, const char *cmdline,
		       struct mon_boot *boot, char *err, size_t errlen)
{
	struct mb_plan plan = {
		.cmdline = cmdline ? cmdline : "",
		.initrd_name = initrd_name ? initrd_name : "",
	};
	const Elf32_Ehdr *eh = NULL;
	const void *table;
	Elf32_Phdr *ph = NULL;
	char *image;
	Elf *elf;
	int rc = -1;

	if (check_inputs(ram_size, kernel, kernel_len, &plan, err, errlen))
		return -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(err, errlen, "libelf: %s", elf_errmsg(-1));
	/* libelf may convert a read-only image in place (byte order,
	 * alignment), and the caller's bytes are const: give it a copy. */
	image = malloc(kernel_len);
	if (!image)
		return fail(err, errlen, "out of memory copying the kernel "
			    "(%zu bytes)", kernel_len);
	memcpy(image, kernel, kernel_len);
	elf = elf_memory(image, kernel_len);
	if (!elf) {
		fail(err, errlen, "libelf cannot open the kernel: %s",
		     elf_errmsg(-1));
		goto out_free;
	}
	if (check_ehdr(elf, kernel_len, &eh, err, errlen))
		goto out_end;
	table = elf32_getphdr(elf);
	if (!table) {
		fail(err, errlen, "kernel's program headers are unreadable: %s",
		     elf_errmsg(-1));
		goto out_end;
	}
	/* On x86 libelf hands out a pointer into the image even when e_phoff
	 * is misaligned; read the table through an aligned copy. */
	ph = malloc(eh->e_phnum * sizeof(*ph));
	if (!ph) {
		fail(err, errlen, "out of memory reading program headers");
		goto out_end;
	}
	memcpy(ph, table, eh->e_phnum * sizeof(*ph));
	if (plan_segments(eh, ph, kernel_len, ram_size, &plan, err, errlen))
		goto out_end;
	if (initrd && plan_initrd(initrd_len, ram_size, &plan, err, errlen))
		goto out_end;

	load_segments(ram, kernel, eh, ph);
	write_boot_info(ram, ram_size, initrd, initrd_len, &plan);
	boot->entry = plan.entry;
	boot->eax = MBI_MAGIC_EAX;
	boot->ebx = LAYOUT_MB_INFO;
	rc = 0;
out_end:
	free(ph);
	elf_end(elf);
out_free:
	free(image);
	return rc;
}
