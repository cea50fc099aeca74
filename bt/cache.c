/* bt: the translation cache: block lookup, chaining, invalidation and flushes. */
#include "bt_private.h"

#include <assert.h>
#include <string.h>

/*
 * Invalidation rules (written where they are implemented):
 *  - A block belongs to the guest-physical pages of its first and last
 *    byte; both are write-protected in the S-view while it is valid.
 *  - A guest write to such a page (a host fault the monitor recognises, or
 *    an emulated write) drops every block of the page: out of the lookup
 *    hash, out of the indirect-branch table, and every chained jump into it
 *    is pointed back at its exit stub. Its TC bytes stay until the next
 *    flush (nothing can reach them any more).
 *  - A linear page that no longer maps the page its blocks came from
 *    detaches them: out of the hash, the table and every chain, as a
 *    drop, but kept on their pages' lists (still write-protected) with
 *    their chains listed at their stubs. A lookup miss whose EIP fetches
 *    from such a page takes its blocks back (bt_reattach), chains joined
 *    again; a write to the page drops them as above. A chain from
 *    a block on every (linear page, frame) pair the target is on stays:
 *    that block is detached too, and taken back only when those pairs
 *    hold again, so the jump still lands where the guest's tables say.
 *  - A full TC or metadata arena flushes everything; the generation
 *    counter tells bt_run that a pending chain site died with it.
 */

void *bt_meta_alloc(struct bt *bt, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (bt->meta_used + n > bt->meta_size)
		return NULL;
	void *p = bt->meta + bt->meta_used;
	bt->meta_used += n;
	return p;
}

static unsigned hash_eip(uint32_t eip)
{
	return (eip ^ (eip >> 14)) & (BT_HASH_BUCKETS - 1);
}

struct bt_block *bt_lookup(struct bt *bt, uint32_t eip)
{
	for (struct bt_block *b = bt->hash[hash_eip(eip)]; b; b = b->hash_next)
		if (b->eip == eip && b->user == bt->user)
			return b;
	return NULL;
}

static void page_link(struct bt *bt, struct bt_block *b, int k)
{
	uint32_t pg = b->page[k];
	if (pg >= bt->ram_pages)
		return;
	b->page_next[k] = bt->page_head[pg];
	bt->page_head[pg] = b;
	bt->env.protect_code(bt->env.ctx, pg, true);
}

static void link_hash(struct bt *bt, struct bt_block *b)
{
	struct bt_block **head = &bt->hash[hash_eip(b->eip)];
	b->hash_next = *head;
	b->hash_pprev = head;
	if (*head)
		(*head)->hash_pprev = &b->hash_next;
	*head = b;
}

void bt_insert(struct bt *bt, struct bt_block *b)
{
	link_hash(bt, b);
	page_link(bt, b, 0);
	if (b->page[1] != b->page[0])
		page_link(bt, b, 1);
}

struct bt_ibl_entry *bt_ibl_table(const struct bt *bt, bool user)
{
	return bt->ibl + (user ? BT_IBL_ENTRIES : 0);
}

void bt_ibl_insert(struct bt *bt, struct bt_block *b)
{
	struct bt_ibl_entry *e = &bt_ibl_table(bt, b->user)[b->eip & (BT_IBL_ENTRIES - 1)];
	e->eip = b->eip;
	e->host = (uint64_t)b->host;
}

static void patch_rel32(uint8_t *rel32, const uint8_t *to)
{
	int32_t rel = (int32_t)(to - (rel32 + 4));
	memcpy(rel32, &rel, 4);
}

/* Is (linear page, frame) pair k of b one of a's? */
static bool pair_of(const struct bt_block *a, const struct bt_block *b, int k)
{
	uint32_t lin = (k ? b->eip + b->guest_len - 1 : b->eip) >> 12;
	return (lin == a->eip >> 12 && b->page[k] == a->page[0]) ||
	       (lin == (a->eip + a->guest_len - 1) >> 12 && b->page[k] == a->page[1]);
}

void bt_chain(struct bt *bt, uint8_t *rel32, struct bt_block *to)
{
	struct bt_chain *c = bt_meta_alloc(bt, sizeof *c);
	if (!c)
		return; /* no room to remember it: leave the stub in place */
	int32_t rel;
	memcpy(&rel, rel32, 4);
	if (rel32 + 4 + rel == to->host)
		return; /* joined again by bt_reattach: already listed */
	c->rel32 = rel32;
	c->stub = rel32 + 4 + rel;
	const struct bt_block *from = bt_block_at_pc(bt, (uint64_t)rel32);
	c->within = from && pair_of(from, to, 0) && pair_of(from, to, 1);
	c->next = to->incoming;
	to->incoming = c;
	patch_rel32(rel32, to->host);
	bt->stats.chained++;
}

static void unlink_hash(struct bt_block *b)
{
	*b->hash_pprev = b->hash_next;
	if (b->hash_next)
		b->hash_next->hash_pprev = b->hash_pprev;
}

/* Out of the hash and the indirect-branch table. */
static void unlisted(struct bt *bt, struct bt_block *b)
{
	unlink_hash(b);
	struct bt_ibl_entry *e = &bt_ibl_table(bt, b->user)[b->eip & (BT_IBL_ENTRIES - 1)];
	if (e->host == (uint64_t)b->host)
		e->eip = 0xffffffffu, e->host = (uint64_t)bt_ibl_miss;
}

static void drop_block(struct bt *bt, struct bt_block *b)
{
	if (!b->valid)
		return;
	b->valid = false;
	if (!b->detached)
		unlisted(bt, b);
	else if (b->page[0] < bt->ram_pages)
		bt->detached_on[b->page[0]]--;
	/* Every chain back to its stub, `within` ones too (their sources may
	 * be taken back without b). */
	for (struct bt_chain *c = b->incoming; c; c = c->next)
		patch_rel32(c->rel32, c->stub);
	b->incoming = NULL;
	bt->stats.invalidated++;
}
/* The next block on page pg's list after b (b belongs to it as its first
 * or its last page). */
static struct bt_block *page_next(const struct bt_block *b, uint32_t pg)
{
	return b->page_next[b->page[0] == pg ? 0 : 1];
}

void bt_detach_page(struct bt *bt, uint32_t page)
{
	if (page >= bt->ram_pages)
		return;
	bt->code_epoch++;
	for (struct bt_block *b = bt->page_head[page]; b; b = page_next(b, page)) {
		if (!b->valid || b->detached)
			continue;
		unlisted(bt, b);
		/* Chains stay listed, at their stubs (`within` ones still
		 * joined: their sources are set aside with b): bt_reattach
		 * joins them again. */
		for (struct bt_chain *c = b->incoming; c; c = c->next)
			if (!c->within)
				patch_rel32(c->rel32, c->stub);
		b->detached = true;
		if (b->page[0] < bt->ram_pages)
			bt->detached_on[b->page[0]]++;
		bt->stats.detached++;
	}
}

struct bt_block *bt_reattach(struct bt *bt, uint32_t eip)
{
	uint8_t byte;
	uint32_t page = 0, last = 0;
	if (!bt->env.fetch(bt->env.ctx, eip, &byte, 1, &page) || page >= bt->ram_pages ||
	    !bt->detached_on[page])
		return NULL;
	/* The linear page of eip shows this page again: every block of it
	 * starting on that linear page comes back at once (each would be
	 * looked up soon), those running onto the next page if that one
	 * shows their second page too. */
	struct bt_block *found = NULL;
	for (struct bt_block *b = bt->page_head[page]; b; b = page_next(b, page)) {
		if (!b->valid || !b->detached || b->page[0] != page ||
		    (b->eip ^ eip) >> 12)
			continue;
		if (b->page[1] != page &&
		    (!bt->env.fetch(bt->env.ctx, b->eip + b->guest_len - 1, &byte, 1, &last) ||
		     last != b->page[1]))
			continue;
		b->detached = false;
		bt->detached_on[page]--;
		link_hash(bt, b);
		/* Back in the indirect-branch table where its slot is still
		 * free (the detach emptied it): a return into it then needs no
		 * lookup. */
		struct bt_ibl_entry *e =
			&bt_ibl_table(bt, b->user)[b->eip & (BT_IBL_ENTRIES - 1)];
		if (e->host == (uint64_t)bt_ibl_miss)
			bt_ibl_insert(bt, b);
		/* Its chains hold again: their target eip shows b's page
		 * again, and every site is at its stub or at b (a site
		 * chained since to another block for eip left it when the
		 * page stopped showing that block's frame). */
		for (struct bt_chain *c = b->incoming; c; c = c->next)
			patch_rel32(c->rel32, b->host);
		bt->stats.reattached++;
		if (b->eip == eip && b->user == bt->user)
			found = b;
	}
	return found;
}

uint64_t bt_code_epoch(const struct bt *bt)
{
	return bt->code_epoch;
}

void bt_invalidate_page(struct bt *bt, uint32_t page)
{
	bt->code_epoch++;
	if (page >= bt->ram_pages)
		return;
	struct bt_block *b = bt->page_head[page];
	bt->page_head[page] = NULL;
	while (b) {
		struct bt_block *next = page_next(b, page);
		drop_block(bt, b);
		/* Leave it on its other page's list: a dropped block there is
		 * skipped, and that list is cleared when that page goes. */
		b = next;
	}
	bt->env.protect_code(bt->env.ctx, page, false);
}

void bt_invalidate_insn(struct bt *bt, uint32_t page, uint32_t eip)
{
	bt->code_epoch++;
	if (page >= bt->ram_pages)
		return;
	for (struct bt_block *b = bt->page_head[page]; b; b = page_next(b, page))
		if (b->valid && eip - b->eip < b->guest_len)
			drop_block(bt, b); /* stays listed: the page keeps its protection */
}

void bt_flush(struct bt *bt)
{
	for (uint32_t pg = 0; pg < bt->ram_pages; pg++) {
		if (bt->page_head[pg]) {
			bt->page_head[pg] = NULL;
			bt->env.protect_code(bt->env.ctx, pg, false);
		}
	}
	memset(bt->hash, 0, sizeof bt->hash);
	memset(bt->detached_on, 0, bt->ram_pages * sizeof *bt->detached_on);
	for (size_t i = 0; i < 2 * BT_IBL_ENTRIES; i++) {
		bt->ibl[i].eip = 0xffffffffu;
		bt->ibl[i].host = (uint64_t)bt_ibl_miss;
	}
	bt->tc_used = 0;
	bt->meta_used = 0;
	bt->n_blocks = 0;
	bt->generation++;
	bt->code_epoch++;
	bt->stats.flushes++;
}

struct bt_block *bt_block_at_pc(const struct bt *bt, uint64_t pc)
{
	size_t lo = 0, hi = bt->n_blocks;
	while (lo < hi) { /* first block starting above pc */
		size_t mid = (lo + hi) / 2;
		if ((uint64_t)bt->blocks[mid]->host <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	struct bt_block *b = bt->blocks[lo - 1];
	return pc < (uint64_t)b->host + b->host_len ? b : NULL;
}

bool bt_owns_pc(const struct bt *bt, uint64_t pc)
{
	return pc >= (uint64_t)bt->tc && pc < (uint64_t)bt->tc + bt->tc_size;
}
