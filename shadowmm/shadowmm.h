/* shadowmm: the S-view of the guest's address space (public header). */
#ifndef BTVMM_SHADOWMM_H
#define BTVMM_SHADOWMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The S-view is host [0, 4 GiB) in the monitor process, holding the guest's
 * linear address space as its kernel sees it. With paging off (all this
 * version supports) it is the identity map of guest RAM; guest paging
 * (shadow page tables kept coherent by write tracing) comes next and slots
 * in behind smm_translate.
 *
 * Pages holding translated code are write-protected here, so a guest write
 * to them faults and the monitor can drop the stale translations.
 */
struct smm;

/* Map guest RAM (memfd `fd`, `ram_size` bytes) into the reserved S-view.
 * NULL with a reason in err. */
struct smm *smm_create(int fd, uint64_t ram_size, char *err, size_t errlen);
void smm_destroy(struct smm *smm);

/* Translate a guest linear address to guest-physical. With paging off this
 * is the identity; returns false if the address is not backed by RAM. */
bool smm_translate(const struct smm *smm, uint32_t linear, bool write,
		   uint64_t *phys);

/* Write-protect (on) or unprotect a guest-physical page holding code. */
void smm_protect_code(struct smm *smm, uint32_t page, bool on);
bool smm_is_code_page(const struct smm *smm, uint32_t page);

/* Statistics. */
struct smm_stats {
	uint64_t protects, unprotects;
};
void smm_get_stats(const struct smm *smm, struct smm_stats *out);

#endif
