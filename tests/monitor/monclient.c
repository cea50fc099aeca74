/* Test helper: a scripted client of btvmm's monitor console socket (-monitor unix:PATH,server,nowait). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: monclient PATH < commands
 *
 * Connects to PATH (waiting up to 30 s for it to appear), then for each
 * line of stdin: waits for the console's prompt, sends the line. The
 * transcript -- all the console prints, each line after its prompt --
 * goes to stdout, until it closes the connection (the run
 * ended, e.g. after "quit") or stdin is done and the last prompt came.
 * Exit status 0, or 1 with a message if the console could not be reached.
 */
#define PROMPT "(btvmm) "

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return -1;
	strcpy(a.sun_path, path);
	for (int tries = 0; tries < 300; tries++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&a, sizeof a))
			return fd;
		close(fd);
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Copy the console's output to stdout until a prompt ends it; false at
 * the end of the connection. */
static int until_prompt(int fd)
{
	char tail[sizeof PROMPT] = "";
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		fwrite(buf, 1, (size_t)n, stdout);
		/* The last bytes seen, to find the prompt across reads. */
		size_t keep = sizeof PROMPT - 1, have = strlen(tail);
		char joined[sizeof PROMPT + sizeof buf];
		memcpy(joined, tail, have);
		memcpy(joined + have, buf, (size_t)n);
		size_t total = have + (size_t)n;
		size_t from = total > keep ? total - keep : 0;
		memcpy(tail, joined + from, total - from);
		tail[total - from] = 0;
		if (!strcmp(tail, PROMPT))
			return 1;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH < commands\n", argv[0]);
		return 2;
	}
	int fd = connect_to(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "monclient: cannot connect to %s\n", argv[1]);
		return 1;
	}
	char line[512];
	while (until_prompt(fd) && fgets(line, sizeof line, stdin)) {
		fputs(line, stdout); /* as typed after the prompt */
		fflush(stdout);
		if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
			break;
	}
	fflush(stdout);
	close(fd);
	return 0;
}
