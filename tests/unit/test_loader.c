/* Unit tests for the multiboot v1 loader, on ELF images built by the test. */
#include <check.h>
#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "loader.h"

#define RAM_SIZE  (8u << 20)
#define RAM_FILL  0xccu
#define IMG_MAX   0x4000u
#define DATA_OFF  0x100u     /* where segment bytes start in the file */
#define MB_MAGIC  0x1BADB002u

/* ---- A small ELF32 image generator. ---- */

struct seg_spec {
	uint32_t type, vaddr, paddr, filesz, memsz, flags;
};

struct elf_spec {
	uint16_t machine, type;
	uint32_t entry;
	unsigned nseg;
	struct seg_spec seg[4];
	bool no_mb_header;
	uint32_t mb_flags;
	uint32_t mb_checksum_delta; /* added to the right checksum */
};

/* The default kernel: text at 1 MiB with the multiboot header at its
 * start, data at 1 MiB + 4 KiB whose last 0xf00 bytes are bss. */
static struct elf_spec default_spec(void)
{
	return (struct elf_spec){
		.machine = EM_386, .type = ET_EXEC, .entry = 0x10000c,
		.nseg = 2,
		.seg = {
			{ PT_LOAD, 0x100000, 0x100000, 0x200, 0x200, PF_R | PF_X },
			{ PT_LOAD, 0x101000, 0x101000, 0x100, 0x1000, PF_R | PF_W },
		},
		.mb_flags = 0x3,
	};
}

/* File byte i of segment s: a pattern the tests can recompute. */
static uint8_t seg_byte(unsigned s, uint32_t i)
{
	return (uint8_t)(0x11 * (s + 1) + i * 7);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* the host is little-endian, like the guest */
}

static uint32_t ram32(const uint8_t *ram, uint32_t addr)
{
	uint32_t v;

	memcpy(&v, ram + addr, 4);
	return v;
}

/*
 * Lay out: ELF header at 0, program headers after it, segment bytes from
 * DATA_OFF on, one after another (16-byte aligned). Segment 0 begins with
 * the multiboot header. Return the file length.
 */
static size_t build_elf(const struct elf_spec *s, uint8_t *img)
{
	Elf32_Ehdr eh = {0};
	uint32_t off = DATA_OFF;

	memset(img, 0, IMG_MAX);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = s->type;
	eh.e_machine = s->machine;
	eh.e_version = EV_CURRENT;
	eh.e_entry = s->entry;
	eh.e_phoff = sizeof(Elf32_Ehdr);
	eh.e_ehsize = sizeof(Elf32_Ehdr);
	eh.e_phentsize = sizeof(Elf32_Phdr);
	eh.e_phnum = (uint16_t)s->nseg;
	memcpy(img, &eh, sizeof(eh));
	for (unsigned i = 0; i < s->nseg; i++) {
		Elf32_Phdr ph = {
			.p_type = s->seg[i].type, .p_offset = off,
			.p_vaddr = s->seg[i].vaddr, .p_paddr = s->seg[i].paddr,
			.p_filesz = s->seg[i].filesz, .p_memsz = s->seg[i].memsz,
			.p_flags = s->seg[i].flags, .p_align = 16,
		};

		ck_assert_uint_le(off + ph.p_filesz, IMG_MAX);
		memcpy(img + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
		for (uint32_t b = 0; b < ph.p_filesz; b++)
			img[off + b] = seg_byte(i, b);
		if (i == 0 && !s->no_mb_header) {
			ck_assert_uint_ge(ph.p_filesz, 12);
			put32(img + off, MB_MAGIC);
			put32(img + off + 4, s->mb_flags);
			put32(img + off + 8, -(MB_MAGIC + s->mb_flags) +
			      s->mb_checksum_delta);
		}
		off = (off + ph.p_filesz + 15) & ~15u;
	}
	return off;
}

/* Rewrite one 32-bit field of program header `index`. */
static void patch_phdr(uint8_t *img, unsigned index, size_t field, uint32_t v)
{
	put32(img + sizeof(Elf32_Ehdr) + index * sizeof(Elf32_Phdr) + field, v);
}

/* ---- Fixture: guest RAM filled with a marker byte. ---- */

static uint8_t *ram;
static uint8_t img[IMG_MAX];
static char err[256];
static struct mon_boot boot;

static void ram_setup(void)
{
	ram = malloc(RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, RAM_FILL, RAM_SIZE);
	memset(&boot, 0, sizeof(boot));
	err[0] = '\0';
}

static void ram_teardown(void)
{
	free(ram);
	ram = NULL;
}

static int load(size_t len, const uint8_t *initrd, size_t initrd_len,
		const char *cmdline)
{
	return mon_load_multiboot(ram, RAM_SIZE, img, len, initrd, initrd_len,
				  "initrd.img arg", cmdline, &boot, err,
				  sizeof(err));
}

/* ---- Valid kernels ---- */

START_TEST(loads_segments_and_zeroes_bss)
{
	struct elf_spec s = default_spec();
	size_t len = build_elf(&s, img);

	ck_assert_int_eq(load(len, NULL, 0, "k.elf "), 0);
	/* Text: the header, then the pattern. */
	ck_assert_uint_eq(ram32(ram, 0x100000), MB_MAGIC);
	for (uint32_t i = 12; i < 0x200; i++)
		ck_assert_uint_eq(ram[0x100000 + i], seg_byte(0, i));
	/* Data, then zeroed bss up to memsz, and nothing beyond touched. */
	for (uint32_t i = 0; i < 0x100; i++)
		ck_assert_uint_eq(ram[0x101000 + i], seg_byte(1, i));
	for (uint32_t i = 0x100; i < 0x1000; i++)
		ck_assert_uint_eq(ram[0x101000 + i], 0);
	ck_assert_uint_eq(ram[0x100200], RAM_FILL);
	ck_assert_uint_eq(ram[0x102000], RAM_FILL);
	ck_assert_uint_eq(ram[0xfffff], RAM_FILL);
	/* Entry registers. */
	ck_assert_uint_eq(boot.entry, 0x10000c);
	ck_assert_uint_eq(boot.eax, 0x2BADB002u);
	ck_assert_uint_eq(boot.ebx, LAYOUT_MB_INFO);
}
END_TEST

START_TEST(info_memory_fields_and_map)
{
	struct elf_spec s = default_spec();
	size_t len = build_elf(&s, img);
	static const uint32_t want[4][6] = {
		{ 20, 0x00000, 0, 0x9fc00, 0, 1 },
		{ 20, 0x9fc00, 0, 0x00400, 0, 2 },
		{ 20, 0xf0000, 0, 0x10000, 0, 2 },
		{ 20, 0x100000, 0, RAM_SIZE - 0x100000, 0, 1 },
	};
	uint32_t info = LAYOUT_MB_INFO;

	ck_assert_int_eq(load(len, NULL, 0, "k.elf hello"), 0);
	/* MEM | CMDLINE | MODS | MMAP; MODS with no module, as QEMU. */
	ck_assert_uint_eq(ram32(ram, info + 0), 0x4d);
	ck_assert_uint_eq(ram32(ram, info + 4), 639);
	ck_assert_uint_eq(ram32(ram, info + 8), (RAM_SIZE - 0x100000) / 1024);
	ck_assert_uint_eq(ram32(ram, info + 16), LAYOUT_MB_CMDLINE);
	ck_assert_str_eq((char *)ram + LAYOUT_MB_CMDLINE, "k.elf hello");
	ck_assert_uint_eq(ram32(ram, info + 20), 0);
	ck_assert_uint_eq(ram32(ram, info + 44), 4 * 24);
	ck_assert_uint_eq(ram32(ram, info + 48), LAYOUT_MB_MMAP);
	for (unsigned e = 0; e < 4; e++)
		for (unsigned f = 0; f < 6; f++)
			ck_assert_uint_eq(ram32(ram, LAYOUT_MB_MMAP + e * 24 + f * 4),
					  want[e][f]);
	/* Fields btvmm leaves out are zero, not stale RAM. */
	ck_assert_uint_eq(ram32(ram, info + 12), 0);
	ck_assert_uint_eq(ram32(ram, info + 64), 0);
	/* Nothing written below the loader's area. */
	ck_assert_uint_eq(ram[LAYOUT_LOW_LIMIT - 1], RAM_FILL);
}
END_TEST

START_TEST(null_cmdline_is_empty_string)
{
	struct elf_spec s = default_spec();
	size_t len = build_elf(&s, img);

	ck_assert_int_eq(load(len, NULL, 0, NULL), 0);
	ck_assert_uint_eq(ram32(ram, LAYOUT_MB_INFO) & 4, 4);
	ck_assert_uint_eq(ram[LAYOUT_MB_CMDLINE], 0);
}
END_TEST

START_TEST(module_follows_kernel)
{
	struct elf_spec s = default_spec();
	size_t len;
	uint8_t initrd[5000];
	uint32_t mods;

	/* The kernel ends at 0x101100 (bss included): not page-aligned. */
	s.seg[1].memsz = 0x100;
	len = build_elf(&s, img);
	for (unsigned i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 13 + 5);
	ck_assert_int_eq(load(len, initrd, sizeof(initrd), ""), 0);
	ck_assert_uint_eq(ram32(ram, LAYOUT_MB_INFO) & 8, 8);
	ck_assert_uint_eq(ram32(ram, LAYOUT_MB_INFO + 20), 1);
	mods = ram32(ram, LAYOUT_MB_INFO + 24);
	ck_assert_uint_eq(mods, LAYOUT_MB_MODS);
	ck_assert_uint_eq(ram32(ram, mods), 0x102000);
	ck_assert_uint_eq(ram32(ram, mods + 4), 0x102000 + sizeof(initrd));
	ck_assert_uint_eq(ram32(ram, mods + 8), LAYOUT_MB_MODCMD);
	ck_assert_uint_eq(ram32(ram, mods + 12), 0);
	ck_assert_str_eq((char *)ram + LAYOUT_MB_MODCMD, "initrd.img arg");
	ck_assert(memcmp(ram + 0x102000, initrd, sizeof(initrd)) == 0);
	ck_assert_uint_eq(ram[0x102000 + sizeof(initrd)], RAM_FILL);
}
END_TEST

START_TEST(initrd_too_large)
{
	struct elf_spec s = default_spec();
	size_t len = build_elf(&s, img);
	/* Never read: the size alone must be refused. */
	static const uint8_t dummy[1];

	ck_assert_int_eq(load(len, dummy, RAM_SIZE - 0x102000 + 1, ""), -1);
	ck_assert_ptr_nonnull(strstr(err, "initrd too large"));
	/* Refused before anything was written. */
	ck_assert_uint_eq(ram[0x100000], RAM_FILL);
	ck_assert_uint_eq(ram[LAYOUT_MB_INFO], RAM_FILL);
	ck_assert_int_eq(load(len, dummy, 0, ""), 0);
}
END_TEST

START_TEST(high_linked_entry_is_translated)
{
	struct elf_spec s = default_spec();
	size_t len;

	s.seg[0].vaddr = 0xc0100000;
	s.seg[1].vaddr = 0xc0101000;
	s.entry = 0xc010000c;
	len = build_elf(&s, img);
	ck_assert_int_eq(load(len, NULL, 0, ""), 0);
	ck_assert_uint_eq(boot.entry, 0x10000c);
	ck_assert_uint_eq(ram32(ram, 0x100000), MB_MAGIC);

	/* An entry already physical (outside every vaddr range) is kept. */
	s.entry = 0x100010;
	len = build_elf(&s, img);
	ck_assert_int_eq(load(len, NULL, 0, ""), 0);
	ck_assert_uint_eq(boot.entry, 0x100010);
}
END_TEST

START_TEST(non_load_segments_are_ignored)
{
	struct elf_spec s = default_spec();
	size_t len;

	s.nseg = 3;
	/* A PT_NOTE claiming the loader's area must not matter. */
	s.seg[2] = (struct seg_spec){ PT_NOTE, 0x10000, 0x10000, 0x10, 0x10, PF_R };
	len = build_elf(&s, img);
	ck_assert_int_eq(load(len, NULL, 0, ""), 0);
}
END_TEST

START_TEST(misaligned_program_headers)
{
	struct elf_spec s = default_spec();
	size_t len = build_elf(&s, img);
	size_t phoff = sizeof(Elf32_Ehdr);

	/* Legal, if odd: libelf then returns a misaligned table, which the
	 * loader must not dereference in place (UBSan would stop it). */
	memmove(img + phoff + 2, img + phoff, 2 * sizeof(Elf32_Phdr));
	put32(img + offsetof(Elf32_Ehdr, e_phoff), (uint32_t)phoff + 2);
	ck_assert_int_eq(load(len, NULL, 0, ""), 0);
	ck_assert_uint_eq(boot.entry, 0x10000c);
	ck_assert_uint_eq(ram[0x101000], seg_byte(1, 0));
}
END_TEST

/* ---- Malformed inputs: each refused with its own message. ---- */

struct bad_case {
	const char *name;
	const char *expect; /* a substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ "empty file", "empty" },
	{ "not ELF", "not an ELF file" },
	{ "ELF64", "ELF64" },
	{ "wrong machine", "not i386" },
	{ "truncated program headers", "program headers run past" },
	{ "segment beyond file end", "file bytes" },
	{ "segment beyond RAM", "outside guest RAM" },
	{ "segment over the loader area", "loader's area" },
	{ "no multiboot header", "no multiboot header" },
	{ "bad checksum", "bad checksum" },
	{ "video mode flag", "video mode" },
	{ "a.out kludge", "a.out kludge" },
	{ "entry outside the segments", "entry point" },
	{ "not executable", "ET_EXEC" },
};
#define NBAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

/* Build the bad input number `i` in img; return its length. */
static size_t build_bad(unsigned i)
{
	struct elf_spec s = default_spec();
	size_t len;

	switch (i) {
	case 0:
		return 0;
	case 1: /* a flat binary with a valid header */
		memset(img, 0x90, 64);
		put32(img + 16, MB_MAGIC);
		put32(img + 20, 0);
		put32(img + 24, -MB_MAGIC);
		return 64;
	case 2: {
		Elf64_Ehdr eh = {0};

		len = build_elf(&s, img);
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_X86_64;
		eh.e_version = EV_CURRENT;
		eh.e_ehsize = sizeof(eh);
		memset(img, 0, DATA_OFF);
		memcpy(img, &eh, sizeof(eh));
		return len;
	}
	case 3:
		s.machine = EM_X86_64;
		return build_elf(&s, img);
	case 4:
		len = build_elf(&s, img);
		put32(img + offsetof(Elf32_Ehdr, e_phoff), (uint32_t)len - 40);
		return len;
	case 5:
		len = build_elf(&s, img);
		patch_phdr(img, 1, offsetof(Elf32_Phdr, p_filesz), 0x800);
		patch_phdr(img, 1, offsetof(Elf32_Phdr, p_memsz), 0x1000);
		return len;
	case 6:
		s.seg[1].paddr = RAM_SIZE - 0x800;
		return build_elf(&s, img);
	case 7:
		s.seg[1].paddr = LAYOUT_MB_END - 0x10;
		s.seg[1].memsz = 0x100;
		return build_elf(&s, img);
	case 8:
		s.no_mb_header = true;
		return build_elf(&s, img);
	case 9:
		s.mb_checksum_delta = 1;
		return build_elf(&s, img);
	case 10:
		s.mb_flags = 0x7;
		return build_elf(&s, img);
	case 11: /* case 1 with flag 16 */
		build_bad(1);
		put32(img + 20, 1u << 16);
		put32(img + 24, -(MB_MAGIC + (1u << 16)));
		return 64;
	case 12: /* in the bss of the data segment: zeroes, not code */
		s.entry = 0x101800;
		return build_elf(&s, img);
	default:
		s.type = ET_DYN;
		return build_elf(&s, img);
	}
}

START_TEST(malformed_input_refused)
{
	char seen[NBAD][sizeof(err)];

	for (unsigned i = 0; i < NBAD; i++) {
		size_t len = build_bad(i);

		memset(err, 0, sizeof(err));
		ck_assert_msg(load(len, NULL, 0, "") == -1,
			      "%s: accepted", bad_cases[i].name);
		ck_assert_msg(strstr(err, bad_cases[i].expect) != NULL,
			      "%s: message \"%s\" lacks \"%s\"", bad_cases[i].name,
			      err, bad_cases[i].expect);
		ck_assert_msg(strchr(err, '\n') == NULL, "%s: newline",
			      bad_cases[i].name);
		/* No message is shared with another case. */
		for (unsigned j = 0; j < i; j++)
			ck_assert_msg(strcmp(err, seen[j]) != 0, "%s and %s: "
				      "same message", bad_cases[i].name,
				      bad_cases[j].name);
		strcpy(seen[i], err);
		/* A refused kernel leaves RAM alone. */
		ck_assert_uint_eq(ram[0x100000], RAM_FILL);
		ck_assert_uint_eq(ram[LAYOUT_MB_INFO], RAM_FILL);
	}
}
END_TEST

START_TEST(error_buffer_is_bounded)
{
	char small[8];

	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(mon_load_multiboot(ram, RAM_SIZE, img, 0, NULL, 0,
					    NULL, NULL, &boot, small, 5), -1);
	ck_assert_uint_eq(strlen(small), 4);
	ck_assert_uint_eq(small[5], 'x');
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("multiboot");

	tcase_add_checked_fixture(tc, ram_setup, ram_teardown);
	tcase_add_test(tc, loads_segments_and_zeroes_bss);
	tcase_add_test(tc, info_memory_fields_and_map);
	tcase_add_test(tc, null_cmdline_is_empty_string);
	tcase_add_test(tc, module_follows_kernel);
	tcase_add_test(tc, initrd_too_large);
	tcase_add_test(tc, high_linked_entry_is_translated);
	tcase_add_test(tc, non_load_segments_are_ignored);
	tcase_add_test(tc, misaligned_program_headers);
	tcase_add_test(tc, malformed_input_refused);
	tcase_add_test(tc, error_buffer_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(loader_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
