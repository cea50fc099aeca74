/* hostdriver: guest RAM (memfd), the guest-space reservation and its views. */
#define _GNU_SOURCE
#include "hostdriver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t mmap_min;

uint64_t hd_mmap_min_addr(void)
{
	if (mmap_min)
		return mmap_min;
	uint64_t v = 65536; /* stock Debian's value if the sysctl is unreadable */
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");
	if (f) {
		unsigned long long x;
		if (fscanf(f, "%llu", &x) == 1)
			v = x;
		fclose(f);
	}
	if (v < HD_PAGE_SIZE)
		v = HD_PAGE_SIZE; /* page 0 is never mapped: NULL stays NULL */
	mmap_min = (v + HD_PAGE_SIZE - 1) & ~(uint64_t)(HD_PAGE_SIZE - 1);
	return mmap_min;
}

/* Return true if any mapping of this process other than the reservation
 * starts below HD_GUARD_END. */
static bool monitor_mapping_below_guard(char *what, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	char line[512];
	bool found = false;
	while (fgets(line, sizeof line, f)) {
		unsigned long long lo, hi;
		if (sscanf(line, "%llx-%llx", &lo, &hi) != 2)
			continue;
		if (lo < HD_GUARD_END && lo >= hd_mmap_min_addr() &&
		    strstr(line, "---p") && strlen(line) < 80) {
			continue; /* anonymous PROT_NONE: our own reservation */
		}
		if (lo < HD_GUARD_END) {
			line[strcspn(line, "\n")] = 0;
			snprintf(what, len, "%s", line);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

int hd_reserve_guest_space(char *err, size_t errlen)
{
	uint64_t lo = hd_mmap_min_addr();
	char what[256];
	if (monitor_mapping_below_guard(what, sizeof what)) {
		snprintf(err, errlen,
			 "monitor memory lies inside the guest space (%s); "
			 "btvmm must be a PIE and cannot run under AddressSanitizer",
			 what);
		return -1;
	}
	void *p = mmap((void *)lo, HD_GUARD_END - lo, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE,
		       -1, 0);
	if (p == MAP_FAILED || (uint64_t)p != lo) {
		if (p != MAP_FAILED)
			munmap(p, HD_GUARD_END - lo);
		snprintf(err, errlen,
			 "cannot reserve host [%#llx, %#llx) for the guest: %s",
			 (unsigned long long)lo, (unsigned long long)HD_GUARD_END,
			 strerror(errno));
		return -1;
	}
	return 0;
}

int hd_ram_create(uint64_t size, uint8_t **phys, char *err, size_t errlen)
{
	int fd = memfd_create("btvmm-ram", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		snprintf(err, errlen, "cannot size guest RAM to %llu bytes: %s",
			 (unsigned long long)size, strerror(errno));
		close(fd);
		return -1;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "cannot map guest RAM: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if ((uint64_t)p < HD_GUARD_END) {
		snprintf(err, errlen, "guest RAM view landed inside the guest space");
		munmap(p, size);
		close(fd);
		return -1;
	}
	*phys = p;
	return fd;
}

static int prot_bits(enum hd_prot prot)
{
	switch (prot) {
	case HD_PROT_READ:
		return PROT_READ;
	case HD_PROT_RW:
		return PROT_READ | PROT_WRITE;
	default:
		return PROT_NONE;
	}
}

/* Clip [linear, linear+len) to the mappable part of the guest space; return
 * false when nothing remains. *offset moves with the start. */
static bool clip(uint64_t *linear, uint64_t *len, uint64_t *offset)
{
	uint64_t lo = hd_mmap_min_addr();
	uint64_t end = *linear + *len;
	if (end > HD_GUEST_SPACE)
		end = HD_GUEST_SPACE;
	if (*linear < lo) {
		if (offset)
			*offset += lo - *linear;
		*linear = lo;
	}
	if (end <= *linear)
		return false;
	*len = end - *linear;
	return true;
}

int hd_populate(uint64_t len)
{
	return len <= HD_POPULATE_MAX ? MAP_POPULATE : 0;
}

int hd_view_map(int fd, uint64_t offset, uint64_t linear, uint64_t len,
		enum hd_prot prot)
{
	if (!clip(&linear, &len, &offset))
		return 0;
	void *p;
	if (prot == HD_PROT_NONE)
		p = mmap((void *)linear, len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
			 -1, 0);
	else
		p = mmap((void *)linear, len, prot_bits(prot),
			 MAP_SHARED | MAP_FIXED | hd_populate(len), fd, (off_t)offset);
	return p == MAP_FAILED ? -errno : 0;
}

int hd_view_protect(uint64_t linear, uint64_t len, enum hd_prot prot)
{
	if (!clip(&linear, &len, NULL))
		return 0;
	return mprotect((void *)linear, len, prot_bits(prot)) ? -errno : 0;
}

static void *alloc_prot(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if ((uint64_t)p < HD_GUARD_END) { /* never inside the guest's reach */
		munmap(p, len);
		return NULL;
	}
	return p;
}

void *hd_alloc(size_t len)
{
	return alloc_prot(len, PROT_READ | PROT_WRITE);
}

void *hd_alloc_exec(size_t len)
{
	return alloc_prot(len, PROT_READ | PROT_WRITE | PROT_EXEC);
}

void hd_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

int hd_page_set_readable(void *page, bool readable)
{
	return mprotect(page, HD_PAGE_SIZE, readable ? PROT_READ : PROT_NONE)
		       ? -errno
		       : 0;
}
