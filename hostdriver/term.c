/* hostdriver: the host terminal in raw mode while a guest owns it, and non-blocking input. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hostdriver.h"

static struct termios saved;
static int saved_fd = -1;

void hd_term_restore(void)
{
	/* tcsetattr is async-signal-safe: the crash path calls this too. */
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSAFLUSH, &saved);
	saved_fd = -1;
}

bool hd_term_raw(int fd)
{
	if (!isatty(fd) || tcgetattr(fd, &saved))
		return false;
	struct termios t = saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR; /* the host's output stays readable */
	if (tcsetattr(fd, TCSAFLUSH, &t))
		return false;
	saved_fd = fd;
	atexit(hd_term_restore);
	return true;
}

int hd_read_nonblock(int fd, uint8_t *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) <= 0)
		return 0;
	ssize_t n = read(fd, buf, len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	return n == 0 ? -1 : (int)n;
}

void hd_sleep_until_or_input(uint64_t deadline_ns, int fd)
{
	if (fd < 0) {
		hd_sleep_until(deadline_ns);
		return;
	}
	uint64_t now = hd_now_ns();
	if (deadline_ns <= now)
		return;
	uint64_t d = deadline_ns - now;
	struct timespec ts = { .tv_sec = (time_t)(d / 1000000000ull),
			       .tv_nsec = (long)(d % 1000000000ull) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ppoll(&p, 1, deadline_ns == UINT64_MAX ? NULL : &ts, NULL);
}
