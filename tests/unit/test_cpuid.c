/* Unit tests for cpuid.c: the virtual CPU's CPUID leaves, its MSRs and its TSC. */
#include <check.h>
#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "monitor.h"

/*
 * cpuid.c reads and writes struct vcpu, and tells the S-view of an EFER
 * write (mon_sync_mode, counted by the fake below); a zeroed VM is the
 * reset state. The allowed feature sets below are
 * written from the project's brief, independently of cpuid.c's table.
 */

static struct mon_vm vm;
static unsigned mode_syncs;

void mon_sync_mode(struct mon_vm *m)
{
	ck_assert_ptr_eq(m, &vm);
	mode_syncs++;
}

static void setup(void)
{
	static const struct dev_platform_config no_devices_used;
	memset(&vm, 0, sizeof(vm));
	mode_syncs = 0;
	vm.plat = dev_platform_create(&no_devices_used); /* the local APIC */
	ck_assert_ptr_nonnull(vm.plat);
}

static void teardown(void)
{
	dev_platform_destroy(vm.plat);
}

enum { EAX, EBX, ECX, EDX };

static void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4])
{
	mon_cpuid(&vm, leaf, subleaf, r);
}

/* CPUID.1:EDX bits the virtual CPU may claim: FPU PSE TSC MSR PAE CX8 APIC
 * SEP PGE CMOV PAT CLFSH MMX FXSR SSE SSE2. */
#define ALLOWED_1_EDX ((1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | \
		       (1u << 8) | (1u << 9) | (1u << 11) | (1u << 13) | (1u << 15) | \
		       (1u << 16) | (1u << 19) | (1u << 23) | (1u << 24) | \
		       (1u << 25) | (1u << 26))
/* ... and must: what Debian's 686 and 686-pae kernels and our test guests
 * rely on. */
#define REQUIRED_1_EDX ((1u << 0) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | \
			(1u << 11) | (1u << 15))
#define ECX_SSE3 (1u << 0)
#define ECX_TSC_DEADLINE (1u << 24)
#define ECX_HYPERVISOR (1u << 31)

START_TEST(vendor_and_max_leaf)
{
	uint32_t r[4];
	char vendor[13] = {0};

	cpuid(0, 0, r);
	memcpy(vendor, &r[EBX], 4);
	memcpy(vendor + 4, &r[EDX], 4);
	memcpy(vendor + 8, &r[ECX], 4);
	ck_assert_str_eq(vendor, "GenuineIntel");
	ck_assert_uint_ge(r[EAX], 2);
	ck_assert_uint_le(r[EAX], 0xd);
}
END_TEST

START_TEST(leaf1_signature_and_ebx)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	unsigned family = (r[EAX] >> 8) & 0xf;
	unsigned model = ((r[EAX] >> 4) & 0xf) | ((r[EAX] >> 12) & 0xf0);
	ck_assert_uint_eq(family, 6);
	ck_assert_uint_eq((r[EAX] >> 20) & 0xff, 0); /* extended family */
	ck_assert_uint_ge(model, 1);
	ck_assert_uint_eq((r[EBX] >> 8) & 0xff, 8);   /* CLFLUSH: 64 bytes */
	ck_assert_uint_eq((r[EBX] >> 16) & 0xff, 1);  /* one logical CPU */
	ck_assert_uint_eq(r[EBX] >> 24, 0);           /* APIC ID */
}
END_TEST

START_TEST(leaf1_features_are_conservative)
{
	uint32_t r[4];
	unsigned a, b, c, d;

	cpuid(1, 0, r);
	ck_assert_uint_eq(r[EDX] & ~ALLOWED_1_EDX, 0);
	ck_assert_uint_eq(r[EDX] & REQUIRED_1_EDX, REQUIRED_1_EDX);
	ck_assert_uint_eq(r[ECX] & ~(ECX_SSE3 | ECX_TSC_DEADLINE | ECX_HYPERVISOR), 0);
	ck_assert(r[ECX] & ECX_HYPERVISOR);
	/* SSE3 exactly when the host has it. */
	ck_assert(__get_cpuid(1, &a, &b, &c, &d));
	ck_assert_uint_eq(r[ECX] & ECX_SSE3, c & bit_SSE3);
}
END_TEST

/* The same question always gets the same answer (guests check this). */
START_TEST(answers_are_stable)
{
	static const uint32_t leaves[] = { 0, 1, 2, 3, 4, 0x80000000u,
					   0x80000001u, 0x80000002u };
	uint32_t a[4], b[4];

	for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		cpuid(leaves[i], 0, a);
		cpuid(leaves[i], 0, b);
		ck_assert_mem_eq(a, b, sizeof(a));
	}
}
END_TEST

START_TEST(extended_leaves)
{
	uint32_t r[4];

	cpuid(0x80000000u, 0, r);
	ck_assert_uint_eq(r[EAX], 0x80000004u);
	cpuid(0x80000001u, 0, r);
	ck_assert_uint_eq(r[EDX] & (1u << 29), 0); /* LM */
	ck_assert_uint_eq(r[EDX] & (1u << 11), 0); /* SYSCALL */
	ck_assert_uint_eq(r[EDX], 1u << 20);       /* NX and nothing else */
	ck_assert_uint_eq(r[ECX], 0);
}
END_TEST

START_TEST(brand_string)
{
	char brand[49] = {0};
	uint32_t r[4];

	for (unsigned i = 0; i < 3; i++) {
		cpuid(0x80000002u + i, 0, r);
		memcpy(brand + 16 * i, r, 16);
	}
	ck_assert_str_eq(brand, "btvmm virtual CPU");
	/* NUL-padded to the end of the 48 bytes. */
	for (size_t i = strlen(brand); i < 48; i++)
		ck_assert_int_eq(brand[i], 0);
}
END_TEST

/* Above the maximum (basic, hypervisor range or extended): the highest
 * basic leaf, as on Intel. */
START_TEST(leaves_above_max_return_highest_basic)
{
	static const uint32_t beyond[] = { 0xe, 0x40000000u, 0x7fffffffu,
					   0x80000005u, 0x80000008u, 0xffffffffu };
	uint32_t r0[4], top[4], r[4];

	cpuid(0, 0, r0);
	cpuid(r0[EAX] + 1, 0, r);
	cpuid(r0[EAX], 0, top);
	ck_assert_mem_eq(r, top, sizeof(r));
	for (unsigned i = 0; i < sizeof(beyond) / sizeof(beyond[0]); i++) {
		cpuid(beyond[i], 0, r);
		ck_assert_mem_eq(r, top, sizeof(r));
	}
}
END_TEST

/* ---- MSRs ---- */

#define MSR_TSC 0x10u
#define MSR_PLATFORM_ID 0x17u
#define MSR_BIOS_SIGN_ID 0x8bu
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_MISC_ENABLE 0x1a0u
#define MSR_PAT 0x277u

static uint64_t rdmsr(uint32_t msr)
{
	uint64_t v = 0x5555555555555555ull;

	ck_assert_msg(mon_rdmsr(&vm, msr, &v), "rdmsr %#x refused", msr);
	return v;
}

START_TEST(sysenter_round_trip)
{
	ck_assert(mon_wrmsr(&vm, MSR_SYSENTER_CS, 0x10));
	ck_assert(mon_wrmsr(&vm, MSR_SYSENTER_ESP, 0xfffffffc));
	ck_assert(mon_wrmsr(&vm, MSR_SYSENTER_EIP, 0x00102030));
	ck_assert_uint_eq(rdmsr(MSR_SYSENTER_CS), 0x10);
	ck_assert_uint_eq(rdmsr(MSR_SYSENTER_ESP), 0xfffffffc);
	ck_assert_uint_eq(rdmsr(MSR_SYSENTER_EIP), 0x00102030);
	ck_assert_uint_eq(vm.vcpu.sysenter_esp, 0xfffffffc);
	/* No long mode: the MSRs are 32 bits wide, EDX is dropped. */
	ck_assert(mon_wrmsr(&vm, MSR_SYSENTER_EIP, 0x1234567800abcdefull));
	ck_assert_uint_eq(rdmsr(MSR_SYSENTER_EIP), 0x00abcdef);
}
END_TEST

START_TEST(pat_round_trip_and_reserved_types)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	if (!(r[EDX] & (1u << 16)))
		return; /* PAT not claimed: nothing to test */
	ck_assert(mon_wrmsr(&vm, MSR_PAT, 0x0007040600070406ull));
	ck_assert_uint_eq(rdmsr(MSR_PAT), 0x0007040600070406ull);
	ck_assert(mon_wrmsr(&vm, MSR_PAT, 0x0007010600070106ull));
	ck_assert_uint_eq(rdmsr(MSR_PAT), 0x0007010600070106ull);
	/* Types 2, 3 and 8-255 are reserved: #GP, value kept. */
	ck_assert(!mon_wrmsr(&vm, MSR_PAT, 0x0007040600070402ull));
	ck_assert(!mon_wrmsr(&vm, MSR_PAT, 0x0307040600070406ull));
	ck_assert(!mon_wrmsr(&vm, MSR_PAT, 0x0007040600070408ull));
	ck_assert_uint_eq(rdmsr(MSR_PAT), 0x0007010600070106ull);
}
END_TEST

START_TEST(misc_enable)
{
	uint32_t r[4], leaf2[4], full_max;
	uint64_t misc = rdmsr(MSR_MISC_ENABLE);

	ck_assert(misc & 1);                 /* fast strings */
	ck_assert(!(misc & (1ull << 22)));   /* CPUID not limited at reset */
	cpuid(0, 0, r);
	full_max = r[EAX];

	/* LIMIT_CPUID: leaf 0 reports 2, higher leaves answer as leaf 2. */
	ck_assert(mon_wrmsr(&vm, MSR_MISC_ENABLE, misc | (1ull << 22)));
	ck_assert_uint_eq(rdmsr(MSR_MISC_ENABLE), misc | (1ull << 22));
	cpuid(0, 0, r);
	ck_assert_uint_eq(r[EAX], 2);
	cpuid(2, 0, leaf2);
	cpuid(3, 0, r);
	ck_assert_mem_eq(r, leaf2, sizeof(r));
	ck_assert(mon_wrmsr(&vm, MSR_MISC_ENABLE, misc));
	cpuid(0, 0, r);
	ck_assert_uint_eq(r[EAX], full_max);

	/* Bits the virtual CPU does not have: #GP, nothing changes. */
	ck_assert(!mon_wrmsr(&vm, MSR_MISC_ENABLE, misc | (1ull << 18)));
	ck_assert(!mon_wrmsr(&vm, MSR_MISC_ENABLE, misc | (1ull << 34)));
	ck_assert_uint_eq(rdmsr(MSR_MISC_ENABLE), misc);
}
END_TEST

/* The instruction set the translator and emulator go by is the one CPUID
 * answers, whatever IA32_MISC_ENABLE hides of it. */
START_TEST(isa_is_what_cpuid_claims)
{
	uint32_t l1[4], l7[4], x1[4];
	struct bt_isa isa;
	cpuid(1, 0, l1);
	cpuid(7, 0, l7);
	cpuid(0x80000001u, 0, x1);
	uint64_t misc = rdmsr(MSR_MISC_ENABLE);
	ck_assert(mon_wrmsr(&vm, MSR_MISC_ENABLE, misc | (1ull << 22)));
	mon_isa(&vm, &isa);
	ck_assert_uint_eq(isa.l1_ecx, l1[ECX]);
	ck_assert_uint_eq(isa.l1_edx, l1[EDX]);
	ck_assert_uint_eq(isa.l7_ebx, l7[EBX]);
	ck_assert_uint_eq(isa.l7_ecx, l7[ECX]);
	ck_assert_uint_eq(isa.l7_edx, l7[EDX]);
	ck_assert_uint_eq(isa.x1_ecx, x1[ECX]);
	ck_assert_uint_eq(isa.x1_edx, x1[EDX]);
	/* no SYSCALL (CPUID.80000001H:EDX[11]) in the virtual CPU */
	ck_assert(!(isa.x1_edx & (1u << 11)));
}
END_TEST

/* Leaf 7 claims IA32_ARCH_CAPABILITIES alone, and the MSR says RDCL_NO
 * only (ring-3 code never reaches supervisor pages); it is read-only. */
START_TEST(arch_capabilities)
{
	uint32_t r[4];
	uint64_t v = 0;

	cpuid(7, 0, r);
	ck_assert_uint_eq(r[EAX], 0);
	ck_assert_uint_eq(r[EBX], 0);
	ck_assert_uint_eq(r[ECX], 0);
	ck_assert_uint_eq(r[EDX], 1u << 29);
	cpuid(7, 1, r);
	ck_assert_uint_eq(r[EDX], 0);
	ck_assert_uint_eq(rdmsr(0x10a), 1);
	ck_assert(!mon_wrmsr(&vm, 0x10a, 0));
	ck_assert(mon_rdmsr(&vm, 0x10a, &v));
	ck_assert_uint_eq(v, 1);
}
END_TEST

START_TEST(identification_msrs)
{
	ck_assert_uint_eq(rdmsr(MSR_PLATFORM_ID), 0);
	ck_assert(!mon_wrmsr(&vm, MSR_PLATFORM_ID, 0)); /* read-only */
	/* The microcode-revision protocol: write 0, CPUID(1), read. */
	ck_assert(mon_wrmsr(&vm, MSR_BIOS_SIGN_ID, 0));
	ck_assert_uint_eq(rdmsr(MSR_BIOS_SIGN_ID), 0);
}
END_TEST

START_TEST(unknown_msrs_refused)
{
	static const uint32_t unknown[] = {
		0x0, 0x3a /* FEATURE_CONTROL */,
		0xfe /* MTRRCAP */, 0x179 /* MCG_CAP */, 0x2ff /* MTRR_DEF_TYPE */,
		0x278, 0x40000000u, 0xc0000081u /* STAR */,
		0xc0000100u /* FS_BASE */, 0xffffffffu,
	};
	uint64_t v = 0x1234;

	for (unsigned i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		ck_assert_msg(!mon_rdmsr(&vm, unknown[i], &v), "rdmsr %#x", unknown[i]);
		ck_assert_msg(!mon_wrmsr(&vm, unknown[i], 0), "wrmsr %#x", unknown[i]);
	}
	ck_assert_uint_eq(v, 0x1234); /* untouched on refusal */
	struct mon_vm zero;
	memset(&zero, 0, sizeof(zero));
	ck_assert_mem_eq(&vm.vcpu, &zero.vcpu, sizeof(vm.vcpu));
}
END_TEST

/* IA32_EFER: zero at reset; NXE (bit 11) is the only writable bit (no
 * SYSCALL, no long mode: SCE, LME, LMA and the rest are reserved), and a
 * write reaches the S-view. */
START_TEST(efer_only_nxe)
{
	ck_assert_uint_eq(rdmsr(0xc0000080u), 0);
	ck_assert(mon_wrmsr(&vm, 0xc0000080u, 0x800));
	ck_assert_uint_eq(rdmsr(0xc0000080u), 0x800);
	ck_assert_uint_eq(mode_syncs, 1);
	static const uint64_t refused[] = { 0x1 /* SCE */, 0x100 /* LME */,
					    0x400 /* LMA */, 0x801, 1ull << 32 };
	for (unsigned i = 0; i < sizeof refused / sizeof refused[0]; i++)
		ck_assert_msg(!mon_wrmsr(&vm, 0xc0000080u, refused[i]), "%#llx",
			      (unsigned long long)refused[i]);
	ck_assert_uint_eq(rdmsr(0xc0000080u), 0x800);
	ck_assert_uint_eq(mode_syncs, 1);
	ck_assert(mon_wrmsr(&vm, 0xc0000080u, 0));
	ck_assert_uint_eq(rdmsr(0xc0000080u), 0);
}
END_TEST

/* IA32_APIC_BASE: the reset value of a boot CPU's enabled xAPIC, and
 * CPUID.1:EDX.APIC follows its global enable; relocation reads back;
 * reserved bits and addresses above 4 GiB are refused. */
START_TEST(apic_base_and_cpuid)
{
	uint32_t r[4];
	ck_assert_uint_eq(rdmsr(0x1b), 0xfee00900u);
	cpuid(1, 0, r);
	ck_assert(r[EDX] & (1u << 9));
	ck_assert(mon_wrmsr(&vm, 0x1b, 0xfee00100u)); /* globally disabled */
	cpuid(1, 0, r);
	ck_assert(!(r[EDX] & (1u << 9)));
	ck_assert(mon_wrmsr(&vm, 0x1b, 0xfed00900u));
	ck_assert_uint_eq(rdmsr(0x1b), 0xfed00900u);
	cpuid(1, 0, r);
	ck_assert(r[EDX] & (1u << 9));
	ck_assert(!mon_wrmsr(&vm, 0x1b, 0xfee00901u));
	ck_assert(!mon_wrmsr(&vm, 0x1b, 0x1fee00900ull));
	ck_assert_uint_eq(rdmsr(0x1b), 0xfed00900u);
}
END_TEST

/* ---- TSC ---- */

/* Reads after a write continue from the written value; generous slack
 * because a sanitized test on a loaded VM may be descheduled. */
#define TSC_SLACK (1ull << 40)

START_TEST(tsc_write_sets_the_count)
{
	static const uint64_t values[] = { 0, 1000, 1ull << 63,
					   0xffffffff00000000ull };

	for (unsigned i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ck_assert(mon_wrmsr(&vm, MSR_TSC, values[i]));
		uint64_t a = rdmsr(MSR_TSC);
		uint64_t b = mon_guest_tsc(&vm);
		/* Distances from the written value, modulo 2^64. */
		ck_assert_uint_lt(a - values[i], TSC_SLACK);
		ck_assert_uint_le(a - values[i], b - values[i]);
	}
}
END_TEST

START_TEST(tsc_follows_the_host)
{
	uint64_t h0 = __builtin_ia32_rdtsc();
	uint64_t g0 = mon_guest_tsc(&vm);
	uint64_t h1 = __builtin_ia32_rdtsc();

	/* A zero offset: the guest sees the host's count. */
	ck_assert_uint_le(h0, g0);
	ck_assert_uint_le(g0, h1);
	ck_assert(mon_wrmsr(&vm, MSR_TSC, 5000));
	uint64_t t1 = mon_guest_tsc(&vm);
	for (volatile int i = 0; i < 100000; i++)
		;
	uint64_t t2 = mon_guest_tsc(&vm);
	ck_assert_uint_gt(t2, t1);
	ck_assert_uint_ge(t1, 5000);
}
END_TEST

static Suite *cpuid_suite(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("cpuid");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vendor_and_max_leaf);
	tcase_add_test(tc, leaf1_signature_and_ebx);
	tcase_add_test(tc, leaf1_features_are_conservative);
	tcase_add_test(tc, answers_are_stable);
	tcase_add_test(tc, extended_leaves);
	tcase_add_test(tc, efer_only_nxe);
	tcase_add_test(tc, brand_string);
	tcase_add_test(tc, leaves_above_max_return_highest_basic);
	suite_add_tcase(s, tc);

	tc = tcase_create("msr");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sysenter_round_trip);
	tcase_add_test(tc, pat_round_trip_and_reserved_types);
	tcase_add_test(tc, misc_enable);
	tcase_add_test(tc, identification_msrs);
	tcase_add_test(tc, arch_capabilities);
	tcase_add_test(tc, isa_is_what_cpuid_claims);
	tcase_add_test(tc, unknown_msrs_refused);
	tcase_add_test(tc, apic_base_and_cpuid);
	tcase_add_test(tc, tsc_write_sets_the_count);
	tcase_add_test(tc, tsc_follows_the_host);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cpuid_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
