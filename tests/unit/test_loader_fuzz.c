/* Seeded mutation fuzzing of the multiboot and bzImage loaders: refuse with one line, or load something that can run. */
#include <check.h>
#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "loader.h"
#include "splitmix.h"

/*
 * Each iteration mutates a valid kernel (a multiboot ELF or a minimal
 * bzImage), sometimes with a random command line and initrd, and loads it.
 * The loader must either refuse it (-1 and one non-empty line) or accept
 * something the vCPU can start: an entry point inside bytes it loaded
 * from the file. The sanitizer builds catch every read or write outside
 * the image, the RAM and the buffers. BTVMM_FUZZ_SEED and
 * BTVMM_FUZZ_ITERS choose the run (a failure prints both).
 */

#define RAM_SIZE (16u << 20)
#define IMG_MAX 0x3000u

static uint64_t rng;

static uint64_t next64(void)
{
	return splitmix64(&rng);
}

static uint32_t rnd(uint32_t n)
{
	return (uint32_t)(next64() % n);
}

static uint32_t interesting(void)
{
	static const uint32_t v[] = { 0, 1, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff,
				      0x10000, 0xfffff, 0x100000, 0x100001, RAM_SIZE - 1,
				      RAM_SIZE, RAM_SIZE + 0x1000, 0x7fffffff, 0x80000000,
				      0xfffff000, 0xfffffffe, 0xffffffff };
	return v[rnd(sizeof v / sizeof v[0])];
}

/* ---- the two valid kernels ---- */

static size_t valid_multiboot(uint8_t *img)
{
	memset(img, 0, IMG_MAX);
	Elf32_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_386;
	eh.e_version = EV_CURRENT;
	eh.e_entry = 0x100010;
	eh.e_phoff = sizeof eh;
	eh.e_ehsize = sizeof eh;
	eh.e_phentsize = sizeof(Elf32_Phdr);
	eh.e_phnum = 2;
	memcpy(img, &eh, sizeof eh);
	Elf32_Phdr ph[2] = {
		{ PT_LOAD, 0x1000, 0x100000, 0x100000, 0x800, 0x800, PF_R | PF_X, 0x1000 },
		{ PT_LOAD, 0x2000, 0x101000, 0x101000, 0x400, 0x2000, PF_R | PF_W, 0x1000 },
	};
	memcpy(img + sizeof eh, ph, sizeof ph);
	uint32_t mb[3] = { 0x1BADB002u, 0x3, -(0x1BADB002u + 0x3) };
	memcpy(img + 0x1000, mb, sizeof mb);
	for (unsigned i = 0x1010; i < 0x1800; i++)
		img[i] = 0x90;
	return 0x2400;
}

static size_t valid_bzimage(uint8_t *img)
{
	memset(img, 0, IMG_MAX);
	img[0x1f1] = 4; /* setup_sects: the kernel starts at 5 * 512 */
	img[0x1fe] = 0x55;
	img[0x1ff] = 0xaa;
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* the jump over the header: it ends at 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	uint32_t v;
	img[0x206] = 0x0f; /* protocol 2.15 */
	img[0x207] = 0x02;
	img[0x211] = 1; /* LOADED_HIGH */
	v = 0x100000;
	memcpy(img + 0x214, &v, 4); /* code32_start */
	v = 0x37ffffff;
	memcpy(img + 0x22c, &v, 4); /* initrd_addr_max */
	v = 2047;
	memcpy(img + 0x238, &v, 4); /* cmdline_size */
	v = 0x20000;
	memcpy(img + 0x260, &v, 4); /* init_size */
	for (unsigned i = 0xa00; i < IMG_MAX; i++)
		img[i] = 0x90;
	return IMG_MAX;
}

/* ---- mutations ---- */

static void mutate(uint8_t *img, size_t *len)
{
	unsigned n = 1 + rnd(4);
	for (unsigned k = 0; k < n; k++) {
		/* mostly the headers, where the decisions are */
		size_t span = rnd(4) ? (*len < 0x300 ? *len : 0x300) : *len;
		if (span == 0)
			span = 1;
		size_t at = rnd((uint32_t)span);
		switch (rnd(6)) {
		case 0:
			img[at] = (uint8_t)next64();
			break;
		case 1:
			img[at] ^= (uint8_t)(1u << rnd(8));
			break;
		case 2:
			img[at] = (uint8_t)(img[at] + (rnd(2) ? 1 : -1));
			break;
		case 3:
		case 4:
			if (at + 4 <= IMG_MAX) {
				uint32_t v = interesting();
				memcpy(img + (at & ~3u), &v, 4);
			}
			break;
		default:
			*len = rnd((uint32_t)*len + 1);
			break;
		}
	}
}

/* ---- what an accepted kernel must satisfy ---- */

/* The multiboot entry lies in the file-backed bytes of a loaded segment. */
static bool entry_in_segment(const uint8_t *img, size_t len, uint32_t entry)
{
	Elf32_Ehdr eh;
	if (len < sizeof eh)
		return false;
	memcpy(&eh, img, sizeof eh);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf32_Phdr p;
		uint64_t off = (uint64_t)eh.e_phoff + (uint64_t)i * sizeof p;
		if (off + sizeof p > len)
			return false;
		memcpy(&p, img + off, sizeof p);
		if (p.p_type == PT_LOAD && p.p_memsz && entry >= p.p_paddr &&
		    (uint64_t)entry < (uint64_t)p.p_paddr + p.p_filesz)
			return true;
	}
	return false;
}

static uint8_t *ram;
static uint8_t img[IMG_MAX + 16];
static char cmdline[6000];
static uint8_t initrd[64 << 10];

START_TEST(mutated_kernels)
{
	const char *s = getenv("BTVMM_FUZZ_SEED"), *n = getenv("BTVMM_FUZZ_ITERS");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 1;
	unsigned iters = n ? (unsigned)strtoul(n, NULL, 0) : 20000;
	unsigned accepted = 0, refused = 0;
	ram = malloc(RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, 0, RAM_SIZE);
	for (unsigned it = 0; it < iters; it++) {
		rng = seed * 0x100000001b3ull + it;
		bool bz = rnd(2);
		size_t len = bz ? valid_bzimage(img) : valid_multiboot(img);
		if (it % 16)
			mutate(img, &len);
		const char *cl = NULL;
		if (rnd(3) == 0) {
			size_t cll = rnd(3) ? rnd(64) : rnd(sizeof cmdline);
			memset(cmdline, 'a' + (int)rnd(26), cll);
			cmdline[cll] = '\0';
			cl = cmdline;
		}
		size_t initrd_len = rnd(4) == 0 ? rnd(sizeof initrd) : 0;
		struct mon_boot boot;
		char err[160];
		memset(err, 0, sizeof err);
		int r = bz ? mon_load_bzimage(ram, RAM_SIZE, img, len,
					      initrd_len ? initrd : NULL, initrd_len, cl,
					      &boot, err, sizeof err)
			   : mon_load_multiboot(ram, RAM_SIZE, img, len,
						initrd_len ? initrd : NULL, initrd_len,
						"initrd", cl, &boot, err, sizeof err);
		ck_assert_msg(r == 0 || r == -1, "seed %llu iteration %u: returned %d",
			      (unsigned long long)seed, it, r);
		if (r == -1) {
			ck_assert_msg(err[0] && !strchr(err, '\n'),
				      "seed %llu iteration %u: refused without one line: \"%s\"",
				      (unsigned long long)seed, it, err);
			refused++;
			continue;
		}
		accepted++;
		if (bz) {
			size_t setup = (size_t)((img[0x1f1] ? img[0x1f1] : 4) + 1) * 512;
			ck_assert_msg(boot.entry >= LAYOUT_HOLE_END &&
				      boot.entry < LAYOUT_HOLE_END + (len - setup),
				      "seed %llu iteration %u: bzImage entry %#x outside the "
				      "kernel [%#x, %#zx)", (unsigned long long)seed, it,
				      boot.entry, LAYOUT_HOLE_END, LAYOUT_HOLE_END + (len - setup));
			ck_assert_uint_eq(boot.esi, LAYOUT_ZERO_PAGE);
		} else {
			ck_assert_msg(entry_in_segment(img, len, boot.entry),
				      "seed %llu iteration %u: multiboot entry %#x outside every "
				      "loaded segment's file bytes", (unsigned long long)seed, it,
				      boot.entry);
			ck_assert_uint_eq(boot.eax, 0x2BADB002u);
			ck_assert_uint_eq(boot.ebx, LAYOUT_MB_INFO);
		}
	}
	printf("loader fuzz: seed %llu, %u kernels: %u accepted, %u refused\n",
	       (unsigned long long)seed, iters, accepted, refused);
	/* Both outcomes happen: the mutations are neither all fatal nor all
	 * harmless. */
	ck_assert_uint_gt(accepted, iters / 20);
	ck_assert_uint_gt(refused, iters / 20);
	free(ram);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loader_fuzz");
	TCase *t = tcase_create("fuzz");
	tcase_set_timeout(t, 300);
	tcase_add_test(t, mutated_kernels);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
