/* monitor: guest memory accesses made by the monitor on the guest's behalf. */
#include <string.h>

#include "monitor.h"

/*
 * The monitor never touches the S-view itself (its pages may be protected
 * or absent); it translates the guest linear address and uses its own view
 * of RAM, or hands the access to the device models (mon_mmio_access). A write
 * that lands on a page holding translated code drops those translations
 * first.
 */

void mon_mmio_access(struct mon_vm *vm, uint64_t phys, uint8_t *buf, unsigned n, bool write)
{
	while (n) {
		unsigned size = (phys & 3) == 0 && n >= 4 ? 4 : (phys & 1) == 0 && n >= 2 ? 2 : 1;
		uint32_t v = 0;
		if (write) {
			memcpy(&v, buf, size);
			dev_mmio_write(vm->plat, phys, size, v);
		} else {
			if (!dev_mmio_read(vm->plat, phys, size, &v))
				v = 0xffffffffu;
			memcpy(buf, &v, size);
		}
		phys += size;
		buf += size;
		n -= size;
	}
}

static bool access(struct mon_vm *vm, uint32_t linear, uint8_t *buf,
		   unsigned len, bool write, bool user, struct mon_fault *f)
{
	while (len) {
		unsigned n = 4096 - (linear & 4095);
		if (n > len)
			n = len;
		uint64_t phys;
		uint32_t err;
		switch (smm_translate(vm->smm, linear, write ? SMM_WRITE : SMM_READ,
				      user, &phys, &err)) {
		case SMM_OK:
			if (write) {
				uint32_t page = (uint32_t)(phys >> 12);
				if (smm_is_code_page(vm->smm, page))
					bt_invalidate_page(vm->bt, page);
				memcpy(vm->ram + phys, buf, n);
				if (smm_phys_written(vm->smm, phys, n))
					vm->pt_written = true;
			} else {
				memcpy(buf, vm->ram + phys, n);
			}
			break;
		case SMM_PAGE_FAULT:
			mon_page_fault(f, linear, err);
			return false;
		default: /* not RAM: a device, or nothing */
			mon_mmio_access(vm, phys, buf, n, write);
			break;
		}
		linear += n;
		buf += n;
		len -= n;
	}
	return true;
}

static bool read_as(struct mon_vm *vm, uint32_t linear, void *buf, unsigned len,
		    bool user, struct mon_fault *f)
{
	return access(vm, linear, buf, len, false, user, f);
}

static bool write_as(struct mon_vm *vm, uint32_t linear, const void *buf,
		     unsigned len, bool user, struct mon_fault *f)
{
	uint8_t tmp[64];
	while (len) { /* the copy keeps `buf` const */
		unsigned n = len < sizeof tmp ? len : (unsigned)sizeof tmp;
		memcpy(tmp, buf, n);
		if (!access(vm, linear, tmp, n, true, user, f))
			return false;
		linear += n;
		buf = (const uint8_t *)buf + n;
		len -= n;
	}
	return true;
}

/* The guest-physical address of linear for a debugger, if it is RAM. */
static bool debug_ram(struct mon_vm *vm, uint32_t linear, uint64_t *phys)
{
	unsigned rights;
	return smm_debug_translate(vm->smm, linear, phys, &rights) && *phys < vm->ram_size;
}

unsigned mon_debug_read(struct mon_vm *vm, uint32_t linear, uint8_t *buf, unsigned len)
{
	unsigned done = 0;
	while (done < len) {
		uint32_t at = linear + done;
		uint64_t phys;
		if (!debug_ram(vm, at, &phys))
			break;
		unsigned n = 4096 - (at & 4095);
		if (n > len - done)
			n = len - done;
		memcpy(buf + done, vm->ram + phys, n);
		done += n;
	}
	return done;
}

bool mon_debug_write(struct mon_vm *vm, uint32_t linear, const uint8_t *buf, unsigned len)
{
	uint64_t phys;
	for (unsigned done = 0; done < len; done += 4096 - ((linear + done) & 4095))
		if (!debug_ram(vm, linear + done, &phys))
			return false;
	for (unsigned done = 0; done < len;) {
		uint32_t at = linear + done;
		debug_ram(vm, at, &phys);
		unsigned n = 4096 - (at & 4095);
		if (n > len - done)
			n = len - done;
		memcpy(vm->ram + phys, buf + done, n);
		mon_ram_written(vm, phys, n);
		done += n;
	}
	return true;
}

void mon_ram_written(struct mon_vm *vm, uint64_t phys, uint64_t len)
{
	for (uint64_t at = phys & ~4095ull; at < phys + len; at += 4096) {
		uint32_t page = (uint32_t)(at >> 12);
		if (smm_is_code_page(vm->smm, page))
			bt_invalidate_page(vm->bt, page);
	}
	if (smm_phys_written(vm->smm, phys, (size_t)len))
		vm->pt_written = true;
}

bool mon_read(struct mon_vm *vm, uint32_t linear, void *buf, unsigned len,
	      struct mon_fault *f)
{
	return read_as(vm, linear, buf, len, mon_cpl(&vm->vcpu) == 3, f);
}

bool mon_write(struct mon_vm *vm, uint32_t linear, const void *buf,
	       unsigned len, struct mon_fault *f)
{
	return write_as(vm, linear, buf, len, mon_cpl(&vm->vcpu) == 3, f);
}

/* The CPU's own accesses to the GDT, LDT, IDT and TSS are supervisor
 * accesses whatever the CPL (SDM vol. 3, "implicit supervisor-mode
 * accesses"). */
bool mon_read_sys(struct mon_vm *vm, uint32_t linear, void *buf, unsigned len,
		  struct mon_fault *f)
{
	return read_as(vm, linear, buf, len, false, f);
}

bool mon_write_sys(struct mon_vm *vm, uint32_t linear, const void *buf,
		   unsigned len, struct mon_fault *f)
{
	return write_as(vm, linear, buf, len, false, f);
}

static uint32_t stack_mask(const struct vcpu *v)
{
	return seg_attr_db(v->seg[SEG_SS].attr) ? 0xffffffffu : 0xffffu;
}

bool mon_push(struct mon_vm *vm, uint32_t value, unsigned size, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	uint32_t mask = stack_mask(v);
	uint32_t esp = v->cpu->gpr[BT_ESP];
	uint32_t nesp = (esp & ~mask) | ((esp - size) & mask);
	if (!mon_write(vm, v->seg[SEG_SS].base + (nesp & mask), &value, size, f))
		return false;
	v->cpu->gpr[BT_ESP] = nesp;
	return true;
}

bool mon_pop(struct mon_vm *vm, uint32_t *value, unsigned size, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	uint32_t mask = stack_mask(v);
	uint32_t esp = v->cpu->gpr[BT_ESP];
	uint32_t x = 0;
	if (!mon_read(vm, v->seg[SEG_SS].base + (esp & mask), &x, size, f))
		return false;
	v->cpu->gpr[BT_ESP] = (esp & ~mask) | ((esp + size) & mask);
	*value = x;
	return true;
}
