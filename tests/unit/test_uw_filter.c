/* Tests of the user world's seccomp filter: each call the stub makes passes, any other call or argument kills the process. */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uw_filter.h"

/*
 * Each case forks a child that installs the very program the stub
 * installs (without the stub's text-range check: these calls come from
 * libc), makes one call, and exits with exit_group(0) (allowed); the
 * parent sees either that exit or SIGSYS. Addresses the calls map are in
 * the child only.
 */

static volatile uint32_t turn; /* the child's futex word */

#define ANY_LOW 0x60000000ul /* a spot below 4 GiB for MAP_FIXED */

typedef void call_fn(void);

static int run_filtered(call_fn *call)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sock_filter f[UW_FILTER_MAX];
		unsigned n = uw_filter_build(f, (uint64_t)(uintptr_t)&turn);
		struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
		int ram = memfd_create("ram", 0);
		if (n == 0 || ram < 0 || ftruncate(ram, 1 << 20) || dup2(ram, UW_FD_RAM) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			syscall(SYS_exit_group, 2);
		call();
		syscall(SYS_exit_group, 0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void allowed(call_fn *call, const char *what)
{
	int status = run_filtered(call);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: killed or failed (status %#x)", what, status);
}

static void killed(call_fn *call, const char *what)
{
	int status = run_filtered(call);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "%s: not killed by the filter (status %#x)", what, status);
}

static struct user_desc desc = { .entry_number = 2, .limit = 0xfffff, .seg_32bit = 1,
				 .limit_in_pages = 1, .useable = 1 };

static void futex_wake(void) { syscall(SYS_futex, &turn, FUTEX_WAKE, 1, 0, 0, 0); }
static void futex_wait(void) { syscall(SYS_futex, &turn, FUTEX_WAIT, 1, 0, 0, 0); } /* != 0: returns */
static void futex_other_word(void) { static uint32_t w; syscall(SYS_futex, &w, FUTEX_WAKE, 1, 0, 0, 0); }
static void futex_requeue(void) { syscall(SYS_futex, &turn, FUTEX_CMP_REQUEUE, 1, 0, &turn, 0); }
static void ldt_write(void) { syscall(SYS_modify_ldt, 1, &desc, sizeof desc); }
static void ldt_read(void) { static char buf[64]; syscall(SYS_modify_ldt, 0, buf, sizeof buf); }
static void ldt_bigger(void) { syscall(SYS_modify_ldt, 1, &desc, sizeof desc + 8); }
static void map_ram(void) { syscall(SYS_mmap, ANY_LOW, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, UW_FD_RAM, 0); }
static void map_ram_rw(void) { syscall(SYS_mmap, ANY_LOW, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED | MAP_FIXED, UW_FD_RAM, 4096); }
static void unmap_low(void) { syscall(SYS_mmap, ANY_LOW, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0); }
static void map_high(void) { syscall(SYS_mmap, 1ul << 33, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, UW_FD_RAM, 0); }
static void map_huge(void) { syscall(SYS_mmap, ANY_LOW, 1ul << 33, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0); }
static void map_not_fixed(void) { syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, UW_FD_RAM, 0); }
static void map_other_fd(void) { syscall(SYS_mmap, ANY_LOW, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, 0, 0); }
static void map_anon_rwx(void) { syscall(SYS_mmap, ANY_LOW, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0); }
static void map_write_only(void) { syscall(SYS_mmap, ANY_LOW, 4096, PROT_WRITE, MAP_SHARED | MAP_FIXED, UW_FD_RAM, 0); }
static void do_mprotect(void) { syscall(SYS_mprotect, ANY_LOW, 4096, PROT_READ); }
static void do_munmap(void) { syscall(SYS_munmap, ANY_LOW, 4096); }
static void do_getpid(void) { syscall(SYS_getpid); }
static void do_write(void) { syscall(SYS_write, 2, "x", 1); }
static void do_kill(void) { syscall(SYS_kill, 1, 0); }

START_TEST(the_stubs_calls_pass)
{
	allowed(futex_wake, "futex wake on the turn word");
	allowed(futex_wait, "futex wait on the turn word");
	allowed(ldt_write, "modify_ldt write of one entry");
	allowed(map_ram, "a guest page, read-only");
	allowed(map_ram_rw, "a guest page, writable");
	allowed(unmap_low, "an unmap below 4 GiB");
}
END_TEST

START_TEST(other_arguments_are_killed)
{
	killed(futex_other_word, "futex on another word");
	killed(futex_requeue, "futex requeue");
	killed(ldt_read, "modify_ldt read");
	killed(ldt_bigger, "modify_ldt with another size");
	killed(map_high, "a mapping above 4 GiB");
	killed(map_huge, "a mapping longer than 4 GiB");
	killed(map_not_fixed, "a mapping where the kernel likes");
	killed(map_other_fd, "a mapping of another file");
	killed(map_anon_rwx, "anonymous accessible memory");
	killed(map_write_only, "a guest page without read and execute");
}
END_TEST

START_TEST(other_calls_are_killed)
{
	killed(do_mprotect, "mprotect");
	killed(do_munmap, "munmap");
	killed(do_getpid, "getpid");
	killed(do_write, "write");
	killed(do_kill, "kill");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uw_filter");
	TCase *t = tcase_create("filter");
	tcase_add_test(t, the_stubs_calls_pass);
	tcase_add_test(t, other_arguments_are_killed);
	tcase_add_test(t, other_calls_are_killed);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
