/* bench: the host costs that bound a guest system call under direct execution. */
/*
 * A guest system call made by ring-3 code in the user world costs at least:
 * a seccomp trap delivered as SIGSYS and the sigreturn back (the host
 * kernel's signal frame, FP state included), plus two handoffs between the
 * user-world process and the monitor (a cache line written by one process
 * and seen by the other, spinning on another CPU). This program measures
 * those three on the host it runs on, the same way btvmm uses them, and a
 * futex wake-up across CPUs (what a handoff costs once a side stopped
 * spinning). Medians of 5 runs, in microseconds.
 *
 * usage: trapfloor [iterations]
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRAP_NR 1000 /* no such system call: the filter traps it */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median5(double v[5])
{
	qsort(v, 5, sizeof v[0], cmp);
	return v[2];
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	(void)ctx;
}

/* In a child (the filter stays there): us per trapped call. */
static double trap_cost(long n)
{
	int fd[2];
	if (pipe(fd))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
		sigaction(SIGSYS, &sa, NULL);
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TRAP_NR, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = 4, .filter = f };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			_exit(1);
		double t0 = now();
		for (long i = 0; i < n; i++)
			syscall(TRAP_NR);
		double us = (now() - t0) / (double)n * 1e6;
		if (write(fd[1], &us, sizeof us) != sizeof us)
			_exit(1);
		_exit(0);
	}
	double us = -1;
	if (read(fd[0], &us, sizeof us) != sizeof us)
		us = -1;
	waitpid(pid, NULL, 0);
	close(fd[0]);
	close(fd[1]);
	return us;
}

/* Two processes pass a turn back and forth: spinning (futex = 0) or
 * sleeping on a futex (futex = 1). us per one-way handoff. */
static double handoff_cost(long n, int futex)
{
	volatile uint32_t *turn = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (turn == MAP_FAILED)
		return -1;
	*turn = 0;
	pid_t pid = fork();
	int me = pid == 0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		while (__atomic_load_n(turn, __ATOMIC_ACQUIRE) != (uint32_t)me) {
			if (futex)
				syscall(SYS_futex, turn, FUTEX_WAIT, !me, NULL, NULL, 0);
			else
				__builtin_ia32_pause();
		}
		__atomic_store_n(turn, !me, __ATOMIC_RELEASE);
		if (futex)
			syscall(SYS_futex, turn, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
	double us = (now() - t0) / (double)(2 * n) * 1e6;
	if (me)
		_exit(0);
	waitpid(pid, NULL, 0);
	munmap((void *)turn, 4096);
	return us;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	if (n <= 0) {
		fprintf(stderr, "usage: trapfloor [iterations]\n");
		return 2;
	}
	double trap[5], spin[5], sleep[5];
	for (int r = 0; r < 5; r++) {
		trap[r] = trap_cost(n);
		spin[r] = handoff_cost(n, 0);
		sleep[r] = handoff_cost(n / 10 + 1, 1);
	}
	double t = median5(trap), s = median5(spin), f = median5(sleep);
	printf("seccomp trap + SIGSYS + sigreturn: %.2f us\n", t);
	printf("handoff between processes, spinning: %.2f us; by futex: %.2f us\n", s, f);
	printf("floor per guest system call in the user world (trap + 2 spinning handoffs): %.2f us\n",
	       t + 2 * s);
	return 0;
}
