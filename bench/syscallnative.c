/* bench: the native i386 counterpart of userguest's null system calls (int $0x80 and the vDSO's SYSENTER). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * usage: syscallnative op=int80|sysenter iters=N
 * getppid is the null call. int80 issues `int $0x80` directly; sysenter
 * goes through glibc's syscall(), which on i386 enters the kernel through
 * the vDSO's __kernel_vsyscall (SYSENTER on Intel).
 */
int main(int argc, char **argv)
{
	unsigned long n = 0;
	const char *op = "int80";
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "iters=", 6))
			n = strtoul(argv[i] + 6, NULL, 10);
		else if (!strncmp(argv[i], "op=", 3))
			op = argv[i] + 3;
	}
	unsigned long acc = 0;
	if (!strcmp(op, "int80")) {
		for (unsigned long i = 0; i < n; i++) {
			long r;
			__asm__ volatile("int $0x80" : "=a"(r) : "a"(SYS_getppid) : "memory");
			acc += (unsigned long)r;
		}
	} else {
		for (unsigned long i = 0; i < n; i++)
			acc += (unsigned long)syscall(SYS_getppid);
	}
	printf("op=%s iters=%lu %s\n", op, n, acc || !n ? "ok" : "?");
	return 0;
}
