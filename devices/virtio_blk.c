/* devices: virtio-blk behind the legacy (virtio 0.9.5, "transitional") PCI interface: one split virtqueue, requests served on notify. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices_internal.h"

/*
 * BAR 0 (I/O, 64 ports) without MSI-X:
 *
 *   +0  host features (R, 32)    +4  guest features (RW, 32)
 *   +8  queue PFN (RW, 32)       +12 queue size (R, 16)
 *   +14 queue select (RW, 16)    +16 queue notify (W, 16)
 *   +18 device status (RW, 8)    +19 ISR (R, 8: read clears, lowers INTx)
 *   +20 virtio_blk_config: capacity (64), size_max, seg_max, geometry,
 *       blk_size, topology — little-endian, any width at any offset
 *       (Linux's legacy driver reads it a byte at a time).
 *
 * The queue is a legacy split ring of DEV_VIRTIO_QUEUE_SIZE entries at
 * PFN * 4096: descriptors, then the available ring, then the used ring on
 * the next 4 KiB boundary. A notify serves every available request at
 * once, synchronously; a request is a descriptor chain whose readable
 * part starts with the 16-byte header {type, ioprio, sector} and whose
 * writable part ends with the status byte.
 *
 * A driver that breaks the ring's rules (index out of range, a loop, a
 * buffer outside RAM, a readable buffer after a writable one, a ring
 * outside RAM) gets no completion: the device sets NEEDS_RESET and
 * ignores the queue until reset, as QEMU's virtio_error does, and never
 * touches memory outside RAM. Errors in a well-formed request (a sector
 * past the end, a write to a read-only disk) complete with IOERR.
 */

enum {
	REG_HOST_FEATURES = 0, REG_GUEST_FEATURES = 4, REG_QUEUE_PFN = 8,
	REG_QUEUE_SIZE = 12, REG_QUEUE_SELECT = 14, REG_QUEUE_NOTIFY = 16,
	REG_STATUS = 18, REG_ISR = 19, REG_CONFIG = 20,
};

#define VIRTIO_BLK_F_SIZE_MAX   (1u << 1)
#define VIRTIO_BLK_F_SEG_MAX    (1u << 2)
#define VIRTIO_BLK_F_RO         (1u << 5)
#define VIRTIO_BLK_F_BLK_SIZE   (1u << 6)
#define VIRTIO_BLK_F_FLUSH      (1u << 9)

#define STATUS_NEEDS_RESET      0x40u
#define ISR_USED                0x01u

#define VRING_DESC_F_NEXT       1u
#define VRING_DESC_F_WRITE      2u
#define VRING_AVAIL_F_NO_INTERRUPT 1u
#define VRING_ALIGN             4096u

#define VIRTIO_BLK_T_IN         0u
#define VIRTIO_BLK_T_OUT        1u
#define VIRTIO_BLK_T_FLUSH      4u
#define VIRTIO_BLK_T_GET_ID     8u
#define VIRTIO_BLK_T_BARRIER    0x80000000u /* legacy flag, ignored */
#define VIRTIO_BLK_S_OK         0u
#define VIRTIO_BLK_S_IOERR      1u
#define VIRTIO_BLK_S_UNSUPP     2u
#define BLK_HEADER_SIZE         16u

#define QSIZE DEV_VIRTIO_QUEUE_SIZE
/* Ring layout: desc[16 * Q] | avail {flags, idx, ring[Q], used_event} |
 * pad to 4 KiB | used {flags, idx, ring[Q] {id, len}, avail_event}. */
#define RING_AVAIL_OFF  (16u * QSIZE)
#define RING_USED_OFF   ((RING_AVAIL_OFF + 6u + 2u * QSIZE + VRING_ALIGN - 1) & ~(VRING_ALIGN - 1))
#define RING_BYTES      (RING_USED_OFF + 6u + 8u * QSIZE)

/* A request's buffers, in chain order (readable ones first). */
struct vq_iov {
	uint64_t addr;
	uint32_t len;
	bool write;
};

struct vq_request {
	struct vq_iov iov[QSIZE];
	unsigned n_out, n_in; /* readable then writable descriptors */
	uint64_t out_len, in_len;
};

static uint32_t host_features(const struct dev_virtio_blk *vb)
{
	uint32_t f = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;

	return dev_disk_readonly(vb->disk) ? f | VIRTIO_BLK_F_RO : f;
}

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) { return (uint32_t)ld16(p) | (uint32_t)ld16(p + 2) << 16; }
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32; }

static void st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *p, uint32_t v) { st16(p, (uint16_t)v); st16(p + 2, (uint16_t)(v >> 16)); }
static void st64(uint8_t *p, uint64_t v) { st32(p, (uint32_t)v); st32(p + 4, (uint32_t)(v >> 32)); }

void dev_virtio_blk_init(struct dev_virtio_blk *vb, struct dev_pci *pci,
			 unsigned slot, struct dev_disk *disk,
			 const struct dev_guest_ram *ram, unsigned index)
{
	struct dev_pci_function *f = &vb->fn;

	memset(vb, 0, sizeof(*vb));
	vb->pci = pci;
	vb->disk = disk;
	vb->ram = ram;
	snprintf(vb->serial, sizeof vb->serial, "BTVMM-VD%u", index);
	f->devfn = (uint8_t)(slot << 3);
	dev_pci_set16(f, PCI_VENDOR_ID, 0x1af4);
	dev_pci_set16(f, PCI_VENDOR_ID + 2, 0x1001); /* transitional block device */
	f->config[PCI_REVISION] = 0;                 /* legacy ABI version 0 */
	f->config[PCI_CLASS_PROG + 2] = 0x01;        /* mass storage, */
	f->config[PCI_CLASS_PROG + 1] = 0x00;        /* SCSI (as QEMU) */
	dev_pci_set16(f, PCI_SUBSYS_VENDOR, 0x1af4);
	dev_pci_set16(f, PCI_SUBSYS_ID, 2);          /* virtio device ID: block */
	f->config[PCI_INTERRUPT_PIN] = 1;            /* INTA */
	f->bar[0] = (struct dev_pci_bar){
		.size = DEV_VIRTIO_BAR_SIZE, .ops = &dev_virtio_blk_ops, .dev = vb,
	};
}

static void virtio_update_irq(struct dev_virtio_blk *vb)
{
	dev_pci_set_intx(vb->pci, &vb->fn, vb->isr != 0);
}

static void virtio_reset(struct dev_virtio_blk *vb)
{
	vb->guest_features = 0;
	vb->queue_pfn = 0;
	vb->queue_select = 0;
	vb->last_avail = 0;
	vb->used_idx = 0;
	vb->status = 0;
	vb->isr = 0;
	virtio_update_irq(vb);
}

/* Where the ring lives in host memory, or NULL (no queue, or not in RAM:
 * the ring's every byte must be RAM before the device reads any of it). */
static uint8_t *ring_base(const struct dev_virtio_blk *vb)
{
	uint64_t phys = (uint64_t)vb->queue_pfn * VRING_ALIGN;

	if (!vb->queue_pfn || !dev_ram_contains(vb->ram, phys, RING_BYTES))
		return NULL;
	return vb->ram->base + phys;
}

/* ---- The request's buffers as one byte stream ---- */

/*
 * Copy `len` bytes between `buf` and the concatenation of iov[0..n) from
 * byte `skip` on (to_guest: buf -> guest). The caller checked the lengths;
 * every buffer is in RAM (checked when the chain was walked).
 */
static void iov_copy(const struct dev_virtio_blk *vb, const struct vq_iov *iov,
		     unsigned n, uint64_t skip, uint8_t *buf, uint64_t len,
		     bool to_guest)
{
	for (unsigned i = 0; i < n && len; i++) {
		if (skip >= iov[i].len) {
			skip -= iov[i].len;
			continue;
		}
		uint64_t chunk = iov[i].len - skip;
		uint64_t phys = iov[i].addr + skip;
		if (chunk > len)
			chunk = len;
		if (to_guest) {
			memcpy(vb->ram->base + phys, buf, chunk);
			dev_ram_written(vb->ram, phys, chunk);
		} else {
			memcpy(buf, vb->ram->base + phys, chunk);
		}
		buf += chunk;
		len -= chunk;
		skip = 0;
	}
}

/*
 * Move `bytes` (a multiple of 512) between the disk at `sector` and the
 * byte stream iov[0..n) from `skip` on. Whole sectors that sit in one
 * buffer go straight between the file and guest RAM; a sector split
 * across buffers goes through a bounce sector. Return 0 or -errno.
 */
static int iov_disk(struct dev_virtio_blk *vb, const struct vq_iov *iov,
		    unsigned n, uint64_t skip, uint64_t sector, uint64_t bytes,
		    bool to_guest)
{
	uint8_t bounce[DEV_SECTOR_SIZE];
	unsigned i = 0;

	while (bytes) {
		while (skip >= iov[i].len)
			skip -= iov[i++].len;
		uint64_t phys = iov[i].addr + skip;
		uint64_t contig = iov[i].len - skip;
		uint64_t count = (contig < bytes ? contig : bytes) / DEV_SECTOR_SIZE;
		uint64_t done;
		int err;
		if (count > 0xffffu)
			count = 0xffffu;
		if (count) {
			done = count * DEV_SECTOR_SIZE;
			uint8_t *host = vb->ram->base + phys;
			err = to_guest ? dev_disk_read(vb->disk, sector, (uint32_t)count, host)
				       : dev_disk_write(vb->disk, sector, (uint32_t)count, host);
			if (!err && to_guest)
				dev_ram_written(vb->ram, phys, done);
		} else {
			done = DEV_SECTOR_SIZE;
			count = 1;
			if (to_guest) {
				err = dev_disk_read(vb->disk, sector, 1, bounce);
				if (!err)
					iov_copy(vb, iov + i, n - i, skip, bounce, done, true);
			} else {
				iov_copy(vb, iov + i, n - i, skip, bounce, done, false);
				err = dev_disk_write(vb->disk, sector, 1, bounce);
			}
		}
		if (err)
			return err;
		skip += done;
		sector += count;
		bytes -= done;
	}
	return 0;
}

/* ---- Requests ---- */

/* Walk the chain from `head` into `req`. False: the chain breaks the
 * ring's rules (the device must stop). */
static bool vq_walk(const struct dev_virtio_blk *vb, const uint8_t *ring,
		    uint16_t head, struct vq_request *req)
{
	unsigned idx = head;

	req->n_out = req->n_in = 0;
	req->out_len = req->in_len = 0;
	for (unsigned count = 0;; count++) {
		if (idx >= QSIZE || count == QSIZE)
			return false; /* out of range, or a loop */
		const uint8_t *d = ring + 16u * idx;
		struct vq_iov *v = &req->iov[count];
		uint16_t flags = ld16(d + 12);
		v->addr = ld64(d);
		v->len = ld32(d + 8);
		v->write = flags & VRING_DESC_F_WRITE;
		if (!dev_ram_contains(vb->ram, v->addr, v->len))
			return false;
		if (!v->write && req->n_in)
			return false; /* readable after writable */
		if (v->write) {
			req->n_in++;
			req->in_len += v->len;
		} else {
			req->n_out++;
			req->out_len += v->len;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			return true;
		idx = ld16(d + 14);
	}
}

/* Serve a readable, range-checked transfer; return the status byte. */
static uint8_t blk_transfer(struct dev_virtio_blk *vb, const struct vq_request *req,
			    uint64_t sector, bool read)
{
	const struct vq_iov *iov = read ? req->iov + req->n_out : req->iov;
	unsigned n = read ? req->n_in : req->n_out;
	uint64_t skip = read ? 0 : BLK_HEADER_SIZE;
	uint64_t bytes = read ? req->in_len - 1 : req->out_len - BLK_HEADER_SIZE;
	uint64_t sectors = bytes / DEV_SECTOR_SIZE;

	if (bytes % DEV_SECTOR_SIZE || sector > dev_disk_sectors(vb->disk) ||
	    sectors > dev_disk_sectors(vb->disk) - sector)
		return VIRTIO_BLK_S_IOERR;
	return iov_disk(vb, iov, n, skip, sector, bytes, read) ? VIRTIO_BLK_S_IOERR
							       : VIRTIO_BLK_S_OK;
}

/* Serve one well-formed request; return its status byte. */
static uint8_t blk_serve(struct dev_virtio_blk *vb, const struct vq_request *req)
{
	uint8_t header[BLK_HEADER_SIZE];
	const struct vq_iov *in = req->iov + req->n_out;

	iov_copy(vb, req->iov, req->n_out, 0, header, sizeof header, false);
	uint32_t type = ld32(header) & ~VIRTIO_BLK_T_BARRIER;
	uint64_t sector = ld64(header + 8);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return blk_transfer(vb, req, sector, true);
	case VIRTIO_BLK_T_OUT:
		return blk_transfer(vb, req, sector, false);
	case VIRTIO_BLK_T_FLUSH:
		return dev_disk_flush(vb->disk) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		uint8_t id[DEV_VIRTIO_ID_BYTES] = {0};
		uint64_t len = req->in_len - 1;
		memcpy(id, vb->serial, strlen(vb->serial));
		iov_copy(vb, in, req->n_in, 0, id, len < sizeof id ? len : sizeof id, true);
		return VIRTIO_BLK_S_OK;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* Publish `head` as used with `len` bytes written. */
static void vq_push_used(struct dev_virtio_blk *vb, uint8_t *ring, uint16_t head,
			 uint32_t len)
{
	uint64_t ring_phys = (uint64_t)vb->queue_pfn * VRING_ALIGN;
	unsigned slot = vb->used_idx % QSIZE;
	uint8_t *elem = ring + RING_USED_OFF + 4 + 8u * slot;

	st32(elem, head);
	st32(elem + 4, len);
	dev_ram_written(vb->ram, ring_phys + RING_USED_OFF + 4 + 8u * slot, 8);
	vb->used_idx++;
	st16(ring + RING_USED_OFF + 2, vb->used_idx);
	dev_ram_written(vb->ram, ring_phys + RING_USED_OFF + 2, 2);
}

static void virtio_fail(struct dev_virtio_blk *vb)
{
	vb->status |= STATUS_NEEDS_RESET;
}

/* Serve every request the driver made available since the last notify. */
static void virtio_notify(struct dev_virtio_blk *vb)
{
	struct vq_request req;
	uint8_t *ring = ring_base(vb);
	bool completed = false;

	if (vb->status & STATUS_NEEDS_RESET)
		return;
	if (!ring) {
		virtio_fail(vb);
		return;
	}
	uint16_t avail_idx = ld16(ring + RING_AVAIL_OFF + 2);
	if ((uint16_t)(avail_idx - vb->last_avail) > QSIZE) {
		virtio_fail(vb);
		return;
	}
	while (vb->last_avail != avail_idx) {
		uint16_t head = ld16(ring + RING_AVAIL_OFF + 4 + 2u * (vb->last_avail % QSIZE));
		if (!vq_walk(vb, ring, head, &req) || req.out_len < BLK_HEADER_SIZE ||
		    req.in_len < 1) {
			virtio_fail(vb);
			break;
		}
		uint8_t status = blk_serve(vb, &req);
		iov_copy(vb, req.iov + req.n_out, req.n_in, req.in_len - 1, &status, 1, true);
		vq_push_used(vb, ring, head, (uint32_t)req.in_len);
		vb->last_avail++;
		completed = true;
	}
	if (completed && !(ld16(ring + RING_AVAIL_OFF) & VRING_AVAIL_F_NO_INTERRUPT)) {
		vb->isr |= ISR_USED;
		virtio_update_irq(vb);
	}
}

/* ---- Registers ---- */

/* The device-specific configuration (struct virtio_blk_config). */
static void blk_config(const struct dev_virtio_blk *vb, uint8_t *cfg)
{
	st64(cfg + 0, dev_disk_sectors(vb->disk)); /* capacity, 512-byte units */
	st32(cfg + 12, QSIZE - 2);                 /* seg_max: header and status take two */
	st32(cfg + 20, DEV_SECTOR_SIZE);           /* blk_size */
}

static uint32_t virtio_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_virtio_blk *vb = dev;
	unsigned off = port - vb->fn.bar[0].mapped_at;
	uint8_t regs[DEV_VIRTIO_BAR_SIZE] = {0};
	uint32_t v = 0;

	if (off == REG_ISR) {
		uint8_t isr = vb->isr;
		vb->isr = 0;
		virtio_update_irq(vb);
		return isr;
	}
	st32(regs + REG_HOST_FEATURES, host_features(vb));
	st32(regs + REG_GUEST_FEATURES, vb->guest_features);
	st32(regs + REG_QUEUE_PFN, vb->queue_pfn);
	st16(regs + REG_QUEUE_SIZE, vb->queue_select == 0 ? QSIZE : 0);
	st16(regs + REG_QUEUE_SELECT, vb->queue_select);
	regs[REG_STATUS] = vb->status;
	blk_config(vb, regs + REG_CONFIG);
	for (unsigned i = 0; i < size && off + i < sizeof regs; i++)
		if (off + i != REG_ISR)
			v |= (uint32_t)regs[off + i] << (8 * i);
	return v;
}

static void virtio_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_virtio_blk *vb = dev;

	switch (port - vb->fn.bar[0].mapped_at) {
	case REG_GUEST_FEATURES:
		vb->guest_features = value & host_features(vb);
		break;
	case REG_QUEUE_PFN:
		/* Only queue 0 exists; PFN 0 tears the queue down. */
		if (vb->queue_select == 0) {
			vb->queue_pfn = value;
			vb->last_avail = 0;
			vb->used_idx = 0;
		}
		break;
	case REG_QUEUE_SELECT:
		vb->queue_select = (uint16_t)value;
		break;
	case REG_QUEUE_NOTIFY:
		if ((uint16_t)value == 0 && vb->queue_pfn)
			virtio_notify(vb);
		break;
	case REG_STATUS:
		if ((uint8_t)value == 0)
			virtio_reset(vb);
		else
			vb->status = (uint8_t)((vb->status & STATUS_NEEDS_RESET) | value);
		break;
	default:
		break; /* read-only registers and configuration */
	}
}

const struct dev_pio_ops dev_virtio_blk_ops = {
	.name = "virtio-blk",
	.read = virtio_read,
	.write = virtio_write,
};
