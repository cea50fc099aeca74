/* Tests of the user world: guest ring-3 code run natively in the stub process, every way back, and escapes. */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hostdriver.h"

#define RAM_SIZE (4u << 20)
#define CODE_FRAME 0x100u  /* guest-physical 1 MiB */
#define DATA_FRAME 0x110u
#define STACK_FRAME 0x120u
#define CODE 0x00400000u   /* guest linear addresses in the U-view */
#define DATA 0x00500000u
#define STACK_TOP 0x00601000u

static int ram_fd;
static uint8_t *ram;
static struct hd_uworld *w;
static struct uw_regs regs;
static uint8_t fx[512] __attribute__((aligned(16)));
static struct hd_uw_event ev;

static void setup(void)
{
	char err[256];
	ram_fd = memfd_create("test-ram", 0);
	ck_assert_int_ge(ram_fd, 0);
	ck_assert_int_eq(ftruncate(ram_fd, RAM_SIZE), 0);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	ck_assert_ptr_ne(ram, MAP_FAILED);
	w = hd_uworld_spawn(UW_STUB_PATH, ram_fd, err, sizeof err);
	ck_assert_msg(w != NULL, "%s", err);
	hd_uworld_map(w, CODE, CODE_FRAME, 1, HD_PROT_READ);
	hd_uworld_map(w, DATA, DATA_FRAME, 1, HD_PROT_RW);
	hd_uworld_map(w, STACK_TOP - 4096, STACK_FRAME, 1, HD_PROT_RW);
	ck_assert(hd_uworld_flush(w));
	memset(&regs, 0, sizeof regs);
	regs.eip = CODE;
	regs.gpr[4] = STACK_TOP;
	regs.eflags = 0x202;
	memset(fx, 0, sizeof fx);
	fx[0] = 0x7f; /* FCW 0x037f */
	fx[1] = 0x03;
	uint32_t mxcsr = 0x1f80;
	memcpy(fx + 24, &mxcsr, 4);
}

static void teardown(void)
{
	hd_uworld_destroy(w);
	munmap(ram, RAM_SIZE);
	close(ram_fd);
}

static void code(const uint8_t *bytes, size_t n)
{
	memcpy(ram + CODE_FRAME * 4096, bytes, n);
}
#define CODE_BYTES(...) code((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* Guest code as the world sees it: only the code page is read. */
static bool read_code(void *ctx, uint32_t linear, uint8_t *buf, unsigned n)
{
	(void)ctx;
	if (linear < CODE || linear + n > CODE + 4096)
		return false;
	memcpy(buf, ram + CODE_FRAME * 4096 + (linear - CODE), n);
	return true;
}

static enum hd_uw_result run(void)
{
	return hd_uworld_run(w, &regs, fx, &ev, read_code, NULL);
}

START_TEST(int80_returns_registers)
{
	CODE_BYTES(0xb8, 5, 0, 0, 0,   /* mov eax, 5 */
		   0x01, 0xd8,         /* add eax, ebx */
		   0xcd, 0x80);        /* int 0x80 */
	regs.gpr[3] = 7;               /* ebx */
	ck_assert_int_eq(run(), HD_UW_SYSCALL);
	ck_assert_uint_eq(ev.syscall_nr, 12);
	ck_assert_uint_eq(regs.gpr[0], 12);
	ck_assert_uint_eq(regs.eip, CODE + 9);   /* after the int */
	ck_assert_uint_eq(regs.gpr[4], STACK_TOP);
	/* resume: the world continues after the system call */
	CODE_BYTES(0xb8, 5, 0, 0, 0, 0x01, 0xd8, 0xcd, 0x80,
		   0x40,                            /* inc eax */
		   0xcd, 0x80);
	ck_assert_int_eq(run(), HD_UW_SYSCALL);
	ck_assert_uint_eq(regs.gpr[0], 13);
}
END_TEST

START_TEST(page_faults_are_precise)
{
	CODE_BYTES(0x90,                               /* nop */
		   0xc7, 0x05, 0, 0, 0x30, 0, 1, 0, 0, 0); /* mov dword [0x300000], 1 */
	ck_assert_int_eq(run(), HD_UW_FAULT);
	ck_assert_uint_eq(ev.trapno, 14);
	ck_assert_uint_eq(ev.err & 7, 6);              /* user, write, not present */
	ck_assert_uint_eq(ev.addr, 0x300000);
	ck_assert_uint_eq(regs.eip, CODE + 1);
	/* map it and retry: the store lands in guest RAM */
	hd_uworld_map(w, 0x300000, 0x130, 1, HD_PROT_RW);
	CODE_BYTES(0x90, 0xc7, 0x05, 0, 0, 0x30, 0, 1, 0, 0, 0, 0xcd, 0x80);
	ck_assert_int_eq(run(), HD_UW_SYSCALL);
	ck_assert_uint_eq(ram[0x130 * 4096], 1);
	/* a read-only page: write protection fault */
	CODE_BYTES(0xc7, 0x05, 0, 0, 0x40, 0, 1, 0, 0, 0);   /* mov [CODE], 1 */
	regs.eip = CODE;
	ck_assert_int_eq(run(), HD_UW_FAULT);
	ck_assert_uint_eq(ev.err & 7, 7);
}
END_TEST

START_TEST(exceptions)
{
	CODE_BYTES(0x0f, 0x0b);                        /* ud2 */
	ck_assert_int_eq(run(), HD_UW_ILLEGAL);
	ck_assert_uint_eq(regs.eip, CODE);
	CODE_BYTES(0x31, 0xc9, 0xf7, 0xf1);            /* xor ecx,ecx; div ecx */
	regs.eip = CODE;
	ck_assert_int_eq(run(), HD_UW_FPE);
	ck_assert_uint_eq(ev.trapno, 0);
	ck_assert_uint_eq(regs.eip, CODE + 2);
	CODE_BYTES(0xcc);                              /* int3 */
	regs.eip = CODE;
	ck_assert_int_eq(run(), HD_UW_TRAP);
	ck_assert_uint_eq(regs.eip, CODE + 1);
}
END_TEST

/* Privileged instructions at CPL 3 fault (#GP), as the guest must see. */
START_TEST(privileged_instructions_fault)
{
	static const uint8_t insns[][3] = {
		{ 0xfa }, { 0xf4 }, { 0xe4, 0x60 }, { 0x0f, 0x01, 0x10 }, /* cli hlt in lgdt */
		{ 0x0f, 0x22, 0xd8 },                                    /* mov cr3, eax */
	};
	for (unsigned i = 0; i < sizeof insns / sizeof insns[0]; i++) {
		code(insns[i], 3);
		regs.eip = CODE;
		ck_assert_int_eq(run(), HD_UW_FAULT);
		ck_assert_uint_eq(ev.trapno, 13);
		ck_assert_uint_eq(regs.eip, CODE);
	}
}
END_TEST

START_TEST(fs_base_and_fp_state_travel)
{
	uint32_t v = 0xfeedf00d;
	memcpy(ram + DATA_FRAME * 4096 + 8, &v, 4);
	CODE_BYTES(0x64, 0xa1, 8, 0, 0, 0,   /* mov eax, fs:[8] */
		   0x66, 0x0f, 0x7e, 0xc1,   /* movd ecx, xmm0 */
		   0xcd, 0x80);
	regs.fs_base = DATA;
	uint32_t x = 0x12345678;
	memcpy(fx + 160, &x, 4);             /* XMM0 in the FXSAVE image */
	ck_assert_int_eq(run(), HD_UW_SYSCALL);
	ck_assert_uint_eq(regs.gpr[0], 0xfeedf00d);
	ck_assert_uint_eq(regs.gpr[1], 0x12345678);
	/* and back: the world's XMM1 comes home in fx */
	CODE_BYTES(0x66, 0x0f, 0x6e, 0xca,   /* movd xmm1, edx */
		   0xcd, 0x80);
	regs.eip = CODE;
	regs.gpr[2] = 0xabcdef01;
	ck_assert_int_eq(run(), HD_UW_SYSCALL);
	memcpy(&x, fx + 176, 4);
	ck_assert_uint_eq(x, 0xabcdef01);
}
END_TEST

/* SYSENTER, vDSO convention (EBP = ESP, caller's EBP at [EBP]): the
 * world reports a system call with the SYSENTER flag and the guest's EBP
 * intact, whatever the host kernel did with it. */
START_TEST(sysenter_is_reported_with_ebp)
{
	CODE_BYTES(0xb8, 0x14, 0, 0, 0,     /* mov eax, 20 */
		   0x55,                    /* push ebp */
		   0x89, 0xe5,              /* mov ebp, esp */
		   0x89, 0xe1,              /* mov ecx, esp */
		   0xba, 0x40, 0, 0x40, 0,  /* mov edx, CODE+0x40 */
		   0x0f, 0x34);             /* sysenter */
	regs.gpr[5] = 0x5eed;
	ck_assert_int_eq(run(), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSENTER); /* on either vendor */
	ck_assert_uint_eq(regs.gpr[0], 20);
	ck_assert_uint_eq(regs.gpr[5], STACK_TOP - 4);  /* EBP as the guest left it */
	ck_assert_uint_eq(regs.gpr[1], STACK_TOP - 4);  /* ECX, EDX untouched */
	ck_assert_uint_eq(regs.gpr[2], CODE + 0x40);
	/* EBP pointing nowhere: still reported as the guest's SYSENTER */
	CODE_BYTES(0xbd, 0, 0, 0x70, 0,     /* mov ebp, 0x700000 (unmapped) */
		   0x0f, 0x34);
	regs.eip = CODE;
	ck_assert_int_eq(run(), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSENTER);
	ck_assert_uint_eq(regs.gpr[5], 0x700000);
}
END_TEST

static void *preempt_later(void *arg)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	hd_uworld_preempt(arg);
	return NULL;
}

START_TEST(preemption_stops_a_spinning_guest)
{
	CODE_BYTES(0x40, 0xeb, 0xfd);        /* 1: inc eax; jmp 1b */
	pthread_t t;
	pthread_create(&t, NULL, preempt_later, w);
	ck_assert_int_eq(run(), HD_UW_PREEMPT);
	pthread_join(t, NULL);
	ck_assert(regs.eip == CODE || regs.eip == CODE + 1);
	ck_assert_uint_gt(regs.gpr[0], 1000);  /* it did run natively */
}
END_TEST

/* Escape: far jump to the host's 64-bit code segment, then a host system
 * call: seccomp kills the world; the monitor sees it die. */
START_TEST(escape_to_64bit_and_syscall_dies)
{
	CODE_BYTES(0xea, 0x10, 0, 0x40, 0, 0x33, 0,   /* jmp far 0x33:CODE+0x10 */
		   0, 0, 0, 0, 0, 0, 0, 0, 0,
		   0xb8, 39, 0, 0, 0,                     /* mov eax, 39 (getpid) */
		   0x0f, 0x05);                            /* syscall */
	ck_assert_int_eq(run(), HD_UW_DEAD);
}
END_TEST

/* Escape, then any trap: the stub sees a code segment that is not the
 * guest's and says so instead of reporting guest state. */
START_TEST(escape_is_reported)
{
	CODE_BYTES(0xea, 0x10, 0, 0x40, 0, 0x33, 0,
		   0, 0, 0, 0, 0, 0, 0, 0, 0,
		   0x0f, 0x0b);                            /* ud2 in 64-bit mode */
	ck_assert_int_eq(run(), HD_UW_ESCAPE);
}
END_TEST

/* Escape and try to read monitor-side memory: nothing of the monitor is
 * mapped in the world, so the read faults (and is reported as an escape). */
START_TEST(escape_cannot_read_the_monitor)
{
	uint64_t target = (uint64_t)ram; /* a monitor address */
	uint8_t c[32] = { 0xea, 0x10, 0, 0x40, 0, 0x33, 0 };
	c[16] = 0x48; c[17] = 0xb8;               /* mov rax, imm64 */
	memcpy(c + 18, &target, 8);
	c[26] = 0x8b; c[27] = 0x00;               /* mov eax, [rax] */
	code(c, sizeof c);
	ck_assert_int_eq(run(), HD_UW_ESCAPE);
}
END_TEST

int main(void)
{
	/* The user world runs guest code in 32-bit compatibility mode; hosts
	 * whose kernel cannot (some hypervisors' guests, ia32_emulation=0)
	 * translate ring-3 code instead, and have nothing to test here. */
	char why[256];
	if (!hd_compat_mode_works(why, sizeof why)) {
		printf("SKIP: this host cannot run 32-bit code natively: %s\n", why);
		return 77;
	}
	Suite *s = suite_create("userworld");
	TCase *t = tcase_create("world");
	tcase_set_timeout(t, 30);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, int80_returns_registers);
	tcase_add_test(t, page_faults_are_precise);
	tcase_add_test(t, exceptions);
	tcase_add_test(t, privileged_instructions_fault);
	tcase_add_test(t, fs_base_and_fp_state_travel);
	tcase_add_test(t, sysenter_is_reported_with_ebp);
	tcase_add_test(t, preemption_stops_a_spinning_guest);
	tcase_add_test(t, escape_to_64bit_and_syscall_dies);
	tcase_add_test(t, escape_is_reported);
	tcase_add_test(t, escape_cannot_read_the_monitor);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
