/* PID 1 of the nested KVM host (nested.sh): load KVM, run each line of /runs.txt as btvmm's arguments, power off. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Everything it prints goes to the console (the outer QEMU's stdout),
 * framed for nested.sh: "@@ module NAME ok|ERROR", then per run
 * "@@ begin N" ... "@@ end N STATUS", and "@@ done" last.
 */

static void load_module(const char *name)
{
	char path[128];
	snprintf(path, sizeof path, "/modules/%s.ko", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 ? -1 : (int)syscall(SYS_finit_module, fd, "", 0);
	printf("@@ module %s %s\n", name, r ? strerror(errno) : "ok");
	if (fd >= 0)
		close(fd);
}

/* A line starting with this is run, then sent SIGTERM: a guest that
 * never exits to btvmm must still stop (status 12). Any other run still
 * going after WATCHDOG_S gets SIGTERM too, said with "@@ watchdog", so
 * that a hung run ends with btvmm's --stats and the rest still run. */
#define TERM_PREFIX "term\t"
#define TERM_AFTER_S 5
#define WATCHDOG_S 240

/* Run /btvmm with the tab-separated arguments of `line` (an argument may
 * hold blanks: a kernel command line); its exit status (128 + signal if
 * killed). */
static int run_btvmm(char *line)
{
	bool term = !strncmp(line, TERM_PREFIX, strlen(TERM_PREFIX));
	if (term)
		line += strlen(TERM_PREFIX);
	char *argv[32];
	int n = 0;
	argv[n++] = "/btvmm";
	for (char *save, *t = strtok_r(line, "\t", &save); t && n < 31; t = strtok_r(NULL, "\t", &save))
		argv[n++] = t;
	argv[n] = NULL;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		if (in >= 0)
			dup2(in, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	pid_t done = 0;
	unsigned limit_ms = (term ? TERM_AFTER_S : WATCHDOG_S) * 1000u;
	for (unsigned ms = 0; pid > 0 && (done = waitpid(pid, &st, WNOHANG)) == 0; ms += 100) {
		if (ms == limit_ms) {
			if (!term)
				printf("@@ watchdog\n");
			kill(pid, SIGTERM);
			done = waitpid(pid, &st, 0);
			break;
		}
		usleep(100000);
	}
	if (pid < 0 || done < 0)
		return 126;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	static const char *const modules[] = { "irqbypass", "ccp", "kvm", "kvm-amd" };
	for (unsigned i = 0; i < sizeof modules / sizeof modules[0]; i++)
		load_module(modules[i]);
	FILE *runs = fopen("/runs.txt", "r");
	char line[512];
	for (int n = 0; runs && fgets(line, sizeof line, runs); n++) {
		line[strcspn(line, "\n")] = 0;
		printf("@@ begin %d\n", n);
		int status = run_btvmm(line);
		printf("@@ end %d %d\n", n, status);
	}
	printf("@@ done\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
