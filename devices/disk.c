/* devices: a disk image backend — a raw file read and written in 512-byte sectors, with QEMU's -snapshot overlay. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices_internal.h"
#include "hostdriver.h"

/*
 * The image is a raw file whose size is a whole, positive number of
 * sectors. With `snapshot`, the file is opened read-only and every written
 * sector lives in memory instead, in a two-level table indexed by sector
 * number (a directory of chunks of OVERLAY_CHUNK sector pointers, both
 * allocated on first write), so reads see the guest's writes and the file
 * never changes, however large the disk is.
 */
#define OVERLAY_CHUNK 1024u

struct dev_disk {
	int fd;
	uint64_t sectors;
	bool readonly;
	bool snapshot;
	uint8_t ***overlay; /* [sector / CHUNK][sector % CHUNK] -> 512 bytes */
	size_t overlay_chunks;
};

int dev_disk_open(struct dev_disk **out, const char *path, bool readonly,
		  bool snapshot, char *why, size_t why_size)
{
	int fd = hd_file_open(path, !(readonly || snapshot));

	*out = NULL;
	if (fd < 0) {
		snprintf(why, why_size, "%s: %s", path, strerror(-fd));
		return fd;
	}
	int64_t size = hd_file_size(fd);
	int err = 0;
	if (size < 0) {
		err = (int)size;
		snprintf(why, why_size, "%s: cannot find its size: %s", path, strerror(-err));
	} else if (size == 0 || size % DEV_SECTOR_SIZE) {
		err = -EINVAL;
		snprintf(why, why_size, "%s: size %lld is not a positive multiple of %u",
			 path, (long long)size, DEV_SECTOR_SIZE);
	}
	struct dev_disk *d = err ? NULL : calloc(1, sizeof(*d));
	if (!err && !d) {
		err = -ENOMEM;
		snprintf(why, why_size, "%s: out of memory", path);
	}
	if (err) {
		hd_close(fd);
		return err;
	}
	d->fd = fd;
	d->sectors = (uint64_t)size / DEV_SECTOR_SIZE;
	d->readonly = readonly;
	d->snapshot = snapshot;
	*out = d;
	return 0;
}

void dev_disk_close(struct dev_disk *d)
{
	if (!d)
		return;
	for (size_t c = 0; c < d->overlay_chunks; c++) {
		if (!d->overlay[c])
			continue;
		for (unsigned i = 0; i < OVERLAY_CHUNK; i++)
			free(d->overlay[c][i]);
		free(d->overlay[c]);
	}
	free(d->overlay);
	hd_close(d->fd);
	free(d);
}

uint64_t dev_disk_sectors(const struct dev_disk *d)
{
	return d->sectors;
}

bool dev_disk_readonly(const struct dev_disk *d)
{
	return d->readonly;
}

static bool disk_range_ok(const struct dev_disk *d, uint64_t sector,
			  uint32_t count)
{
	return sector <= d->sectors && count <= d->sectors - sector;
}

/* The overlay's copy of `sector`, or NULL if the guest never wrote it. */
static uint8_t *overlay_find(const struct dev_disk *d, uint64_t sector)
{
	uint64_t c = sector / OVERLAY_CHUNK;

	if (c >= d->overlay_chunks || !d->overlay[c])
		return NULL;
	return d->overlay[c][sector % OVERLAY_CHUNK];
}

/* The overlay's copy of `sector`, allocated on first use; NULL: no memory. */
static uint8_t *overlay_slot(struct dev_disk *d, uint64_t sector)
{
	if (!d->overlay) {
		d->overlay_chunks = (size_t)((d->sectors + OVERLAY_CHUNK - 1) / OVERLAY_CHUNK);
		d->overlay = calloc(d->overlay_chunks, sizeof(*d->overlay));
		if (!d->overlay)
			return NULL;
	}
	uint8_t ***chunk = &d->overlay[sector / OVERLAY_CHUNK];
	if (!*chunk) {
		*chunk = calloc(OVERLAY_CHUNK, sizeof(**chunk));
		if (!*chunk)
			return NULL;
	}
	uint8_t **slot = &(*chunk)[sector % OVERLAY_CHUNK];
	if (!*slot)
		*slot = malloc(DEV_SECTOR_SIZE);
	return *slot;
}

int dev_disk_read(struct dev_disk *d, uint64_t sector, uint32_t count, void *buf)
{
	uint8_t *out = buf;

	if (!disk_range_ok(d, sector, count))
		return -EINVAL;
	if (!d->overlay)
		return hd_file_read_at(d->fd, out, (size_t)count * DEV_SECTOR_SIZE,
				       sector * DEV_SECTOR_SIZE);
	for (uint32_t i = 0; i < count; i++, out += DEV_SECTOR_SIZE) {
		const uint8_t *copy = overlay_find(d, sector + i);
		if (copy) {
			memcpy(out, copy, DEV_SECTOR_SIZE);
			continue;
		}
		int err = hd_file_read_at(d->fd, out, DEV_SECTOR_SIZE,
					  (sector + i) * DEV_SECTOR_SIZE);
		if (err)
			return err;
	}
	return 0;
}

int dev_disk_write(struct dev_disk *d, uint64_t sector, uint32_t count,
		   const void *buf)
{
	const uint8_t *in = buf;

	if (!disk_range_ok(d, sector, count))
		return -EINVAL;
	if (d->readonly)
		return -EROFS;
	if (!d->snapshot)
		return hd_file_write_at(d->fd, in, (size_t)count * DEV_SECTOR_SIZE,
					sector * DEV_SECTOR_SIZE);
	for (uint32_t i = 0; i < count; i++, in += DEV_SECTOR_SIZE) {
		uint8_t *copy = overlay_slot(d, sector + i);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, in, DEV_SECTOR_SIZE);
	}
	return 0;
}

/* The overlay is memory and dies with the run: nothing to make durable. */
int dev_disk_flush(struct dev_disk *d)
{
	if (d->snapshot || d->readonly)
		return 0;
	return hd_file_sync(d->fd);
}
