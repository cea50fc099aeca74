/* hostdriver: file input, output and the host clock. */
#define _GNU_SOURCE
#include "hostdriver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int hd_read_file(const char *path, uint8_t **buf, size_t *len, size_t max,
		 char *err, size_t errlen)
{
	int fd = hd_file_open(path, false);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(-fd));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "'%s' is too large (%lld bytes)", path,
			 (long long)st.st_size);
		close(fd);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *p = malloc(n ? n : 1);
	if (!p) {
		snprintf(err, errlen, "out of memory reading '%s'", path);
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 r < 0 ? strerror(errno) : "short read");
			free(p);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	*buf = p;
	*len = n;
	return 0;
}

bool hd_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

int hd_file_open(const char *path, bool writable)
{
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int hd_file_create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

/* lseek rather than fstat, so that a block device reports its size too. */
int64_t hd_file_size(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	return end < 0 ? -errno : (int64_t)end;
}

static int transfer_at(int fd, uint8_t *buf, size_t len, uint64_t off, bool write)
{
	while (len) {
		ssize_t n = write ? pwrite(fd, buf, len, (off_t)off)
				  : pread(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int hd_file_read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return transfer_at(fd, buf, len, off, false);
}

int hd_file_write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	return transfer_at(fd, (uint8_t *)buf, len, off, true); /* pwrite only reads it */
}

int hd_file_sync(int fd)
{
	return fsync(fd) ? -errno : 0;
}

FILE *hd_stream_create(const char *path)
{
	return fopen(path, "w");
}

int hd_stream_close(FILE *f)
{
	return fclose(f) ? -errno : 0;
}

FILE *hd_perf_map_create(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
	return hd_stream_create(path);
}

bool hd_mem_usage(struct hd_mem_usage *u)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return false;
	char line[256];
	*u = (struct hd_mem_usage){ 0 };
	while (fgets(line, sizeof line, f)) {
		unsigned long long v;
		if (sscanf(line, "RssAnon: %llu", &v) == 1)
			u->anon_kib = v;
		else if (sscanf(line, "RssFile: %llu", &v) == 1)
			u->file_kib = v;
		else if (sscanf(line, "RssShmem: %llu", &v) == 1)
			u->shmem_kib = v;
		else if (sscanf(line, "VmHWM: %llu", &v) == 1)
			u->peak_kib = v;
	}
	fclose(f);
	return true;
}

uint64_t hd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int hd_pidfile_create(const char *path, char *err, size_t errlen)
{
	int fd = hd_file_create(path);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path, strerror(-fd));
		return -1;
	}
	char line[24];
	int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	bool ok = hd_write_all(fd, line, (size_t)n);
	int saved = errno;
	if (close(fd) || !ok) {
		snprintf(err, errlen, "cannot write '%s': %s", path,
			 strerror(ok ? errno : saved));
		unlink(path);
		return -1;
	}
	return 0;
}

void hd_pidfile_remove(const char *path)
{
	/* Nothing to say if it is already gone: someone else cleaned up. */
	if (unlink(path) && errno != ENOENT)
		fprintf(stderr, "btvmm: cannot remove the pid file '%s': %s\n", path,
			strerror(errno));
}

bool hd_set_process_name(const char *name)
{
	return prctl(PR_SET_NAME, name, 0, 0, 0) == 0;
}
