/* Unit tests: BTVMM_CHECK and hd_host_failed end the process with their own statuses and lines, in every build. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "invariant.h"

/* Run fn in a child with stderr on a pipe; return its exit status and
 * what it wrote. */
static int run_child(void (*fn)(void), char *out, size_t size)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < size && (r = read(p[0], out + n, size - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static volatile int two = 2;

static void failing_check(void)
{
	BTVMM_CHECK(two == 3);
}

static void report_marker(void *ctx)
{
	fprintf(stderr, "report: %s\n", (const char *)ctx);
}

static void failing_check_with_report(void)
{
	hd_set_failure_report(report_marker, "guest state");
	BTVMM_CHECK(two + two == 5);
}

/* A check that fails inside the report must not report again, forever. */
static void report_that_fails(void *ctx)
{
	fprintf(stderr, "reporting\n");
	BTVMM_CHECK(ctx == NULL);
}

static void failing_report(void)
{
	hd_set_failure_report(report_that_fails, "x");
	BTVMM_CHECK(two == 0);
}

static void passing_check(void)
{
	BTVMM_CHECK(two == 2);
	fprintf(stderr, "went on\n");
}

static void host_failure(void)
{
	hd_host_failed("cannot map the guest view", ENOMEM);
}

START_TEST(failed_check_exits_16_naming_the_check)
{
	char out[512];
	ck_assert_int_eq(run_child(failing_check, out, sizeof out), HD_EXIT_BUG);
	ck_assert_int_eq(HD_EXIT_BUG, 16);
	ck_assert_msg(strstr(out, "btvmm: internal error: ") == out, "%s", out);
	ck_assert_msg(strstr(out, "test_invariant.c:") != NULL, "%s", out);
	ck_assert_msg(strstr(out, ": check `two == 3` failed\n") != NULL, "%s", out);
}
END_TEST

START_TEST(failed_check_runs_the_report_after_its_line)
{
	char out[512];
	ck_assert_int_eq(run_child(failing_check_with_report, out, sizeof out), HD_EXIT_BUG);
	char *line = strstr(out, "check `two + two == 5` failed\n");
	char *report = strstr(out, "report: guest state\n");
	ck_assert_msg(line && report && line < report, "%s", out);
}
END_TEST

START_TEST(a_check_failing_in_the_report_ends_it)
{
	char out[1024];
	ck_assert_int_eq(run_child(failing_report, out, sizeof out), HD_EXIT_BUG);
	ck_assert_msg(strstr(out, "reporting\n") != NULL, "%s", out);
	const char *second = strstr(out, "check `ctx == NULL` failed");
	ck_assert_msg(second != NULL, "%s", out);
	ck_assert_msg(strstr(second + 1, "reporting") == NULL, "reported twice: %s", out);
}
END_TEST

START_TEST(passing_check_goes_on)
{
	char out[256];
	ck_assert_int_eq(run_child(passing_check, out, sizeof out), 0);
	ck_assert_str_eq(out, "went on\n");
}
END_TEST

START_TEST(host_failure_exits_10_with_the_reason)
{
	char out[256];
	ck_assert_int_eq(run_child(host_failure, out, sizeof out), HD_EXIT_HOST);
	ck_assert_int_eq(HD_EXIT_HOST, 10);
	ck_assert_str_eq(out, "btvmm: host failure: cannot map the guest view: "
			      "Cannot allocate memory\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("invariant");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, failed_check_exits_16_naming_the_check);
	tcase_add_test(tc, failed_check_runs_the_report_after_its_line);
	tcase_add_test(tc, a_check_failing_in_the_report_ends_it);
	tcase_add_test(tc, passing_check_goes_on);
	tcase_add_test(tc, host_failure_exits_10_with_the_reason);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
