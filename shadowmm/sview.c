/* shadowmm: the S-view with paging off: identity-mapped RAM and code-page protection. */
#include "shadowmm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostdriver.h"

struct smm {
	int fd;
	uint64_t ram_size;
	uint32_t pages;
	uint8_t *code;         /* one bit per guest-physical page */
	struct smm_stats stats;
};

struct smm *smm_create(int fd, uint64_t ram_size, char *err, size_t errlen)
{
	struct smm *smm = calloc(1, sizeof *smm);
	if (!smm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	smm->fd = fd;
	smm->ram_size = ram_size;
	smm->pages = (uint32_t)(ram_size / HD_PAGE_SIZE);
	smm->code = calloc((smm->pages + 7) / 8, 1);
	int r = smm->code ? hd_view_map(fd, 0, 0, ram_size, HD_PROT_RW) : -12;
	if (r) {
		snprintf(err, errlen, "cannot map guest RAM into the S-view: %s",
			 strerror(-r));
		smm_destroy(smm);
		return NULL;
	}
	return smm;
}

void smm_destroy(struct smm *smm)
{
	if (!smm)
		return;
	free(smm->code);
	free(smm);
}

bool smm_translate(const struct smm *smm, uint32_t linear, bool write,
		   uint64_t *phys)
{
	(void)write;
	if (linear >= smm->ram_size)
		return false;
	*phys = linear;
	return true;
}

void smm_protect_code(struct smm *smm, uint32_t page, bool on)
{
	if (page >= smm->pages)
		return;
	uint8_t bit = (uint8_t)(1u << (page & 7));
	bool was = smm->code[page / 8] & bit;
	if (was == on)
		return;
	if (on) {
		smm->code[page / 8] |= bit;
		smm->stats.protects++;
	} else {
		smm->code[page / 8] &= (uint8_t)~bit;
		smm->stats.unprotects++;
	}
	/* Paging off: the page's only S-view mapping is at its own address. */
	hd_view_protect((uint64_t)page * HD_PAGE_SIZE, HD_PAGE_SIZE,
			on ? HD_PROT_READ : HD_PROT_RW);
}

bool smm_is_code_page(const struct smm *smm, uint32_t page)
{
	return page < smm->pages && (smm->code[page / 8] >> (page & 7) & 1);
}

void smm_get_stats(const struct smm *smm, struct smm_stats *out)
{
	*out = smm->stats;
}
