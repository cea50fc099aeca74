/* hostdriver: the TCP sockets of the GDB stub (listen, accept, wait for bytes). */
#define _GNU_SOURCE
#include "hostdriver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int hd_tcp_listen(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *list;
	int rc = getaddrinfo(host && *host ? host : NULL, port, &hints, &list);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s:%s': %s", host ? host : "", port,
			 gai_strerror(rc));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
		    bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 1)) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(list);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on '%s:%s': %s", host ? host : "", port,
			 strerror(saved));
	return fd;
}

int hd_tcp_accept(int listen_fd, bool wait)
{
	struct pollfd p = { .fd = listen_fd, .events = POLLIN };
	int ready = poll(&p, 1, wait ? -1 : 0);
	if (ready <= 0)
		return ready < 0 && errno != EINTR ? -2 : -1;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == EAGAIN || errno == ECONNABORTED ? -1 : -2;
	/* One-packet replies: without TCP_NODELAY each waits for gdb's ACK. */
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) {
		close(fd);
		return -2;
	}
	return fd;
}

int hd_read_wait(int fd, uint8_t *buf, size_t len)
{
	/* poll, unlike read, is never restarted after a signal handler
	 * (SA_RESTART): a SIGTERM while gdb is silent still ends the run. */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ready = poll(&p, 1, -1);
	if (ready < 0)
		return errno == EINTR ? 0 : -1;
	ssize_t n = read(fd, buf, len);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	return n == 0 ? -1 : (int)n;
}

void hd_close(int fd)
{
	/* A close that fails leaves nothing to do: the descriptor is gone. */
	(void)close(fd);
}

int hd_unix_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1)) {
		snprintf(err, errlen, "cannot listen on '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int hd_unix_accept(int listen_fd)
{
	struct pollfd p = { .fd = listen_fd, .events = POLLIN };
	if (poll(&p, 1, 0) <= 0)
		return -1;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -1 : fd;
}

void hd_wait_readable(const int *fds, unsigned n)
{
	struct pollfd p[8];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < 8; i++)
		if (fds[i] >= 0)
			p[k++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	/* A signal (the host timer, SIGTERM) ends the wait early: the caller
	 * looks again. */
	(void)poll(p, k, -1);
}

void hd_unlink(const char *path)
{
	if (unlink(path) && errno != ENOENT)
		fprintf(stderr, "btvmm: cannot remove '%s': %s\n", path, strerror(errno));
}
