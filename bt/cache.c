/* bt: the translation cache: block lookup, chaining, invalidation and flushes. */
#include "bt_private.h"

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
 *    detaches them: each block's entry jumps to its own exit for its EIP
 *    (BT_EXIT_AWAY), and everything else stays: the hash (where bt_lookup
 *    passes it by), the indirect-branch table, the chains into it, its
 *    pages' lists (still write-protected). Whatever reaches it exits; a
 *    lookup whose EIP fetches from the block's page(s) again takes it back
 *    with the others of its linear page (bt_reattach: the entry restored),
 *    and one that finds or makes another block for that EIP gives it the
 *    detached blocks' chains (bt_take_chains). A write to the page drops
 *    them as above.
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
		if (b->eip == eip && b->user == bt->user && !b->detached)
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
	unlisted(bt, b);
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

static void detach(struct bt *bt, struct bt_block *b)
{
	patch_rel32(b->host + 1, b->away);
	b->host[0] = 0xe9; /* jmp rel32, over the poll load */
	b->detached = true;
	bt->stats.detached++;
}

static void attach(struct bt *bt, struct bt_block *b)
{
	memcpy(b->host, bt_poll_load, 5);
	b->detached = false;
	bt->stats.reattached++;
}

/*
 * While ring 0 runs (S blocks), the page's U blocks can wait: nothing
 * reaches a U block before bt_set_user_view gives ring 3 the CPU, and by
 * then the tables often show the page again (exec and exit clear a
 * process's entries, and the next process maps the same frames of the
 * same program at the same addresses). bt_settle decides then.
 */
void bt_detach_page(struct bt *bt, uint32_t page)
{
	if (page >= bt->ram_pages)
		return;
	bt->code_epoch++;
	bool later = !bt->user && (bt->pending_on[page] || bt->n_pending < BT_PENDING_MAX);
	bool waiting = false;
	for (struct bt_block *b = bt->page_head[page]; b; b = page_next(b, page)) {
		if (!b->valid || b->detached)
			continue;
		if (later && b->user)
			waiting = true;
		else
			detach(bt, b);
	}
	if (waiting && !bt->pending_on[page]) {
		bt->pending_on[page] = true;
		bt->pending[bt->n_pending++] = page;
	}
}

/* The frame a linear page shows, looked up once for a run of blocks that
 * mostly share their pages. */
struct shown {
	uint32_t lin, frame;
};

static uint32_t frame_at(struct bt *bt, struct shown *s, uint32_t lin)
{
	if (s->lin != lin) {
		uint8_t byte;
		s->lin = lin;
		if (!bt->env.fetch(bt->env.ctx, lin << 12, &byte, 1, &s->frame))
			s->frame = ~0u;
	}
	return s->frame;
}

/* Do the linear pages of b's first and last bytes show its frames? */
static bool block_shown(struct bt *bt, const struct bt_block *b, struct shown *first,
			struct shown *last)
{
	return frame_at(bt, first, b->eip >> 12) == b->page[0] &&
	       frame_at(bt, last, (b->eip + b->guest_len - 1) >> 12) == b->page[1];
}

void bt_settle(struct bt *bt)
{
	for (uint32_t i = 0; i < bt->n_pending; i++) {
		uint32_t page = bt->pending[i];
		bt->pending_on[page] = false;
		struct shown first = { ~0u, 0 }, last = { ~0u, 0 };
		for (struct bt_block *b = bt->page_head[page]; b; b = page_next(b, page))
			if (b->valid && !b->detached && b->user &&
			    !block_shown(bt, b, &first, &last))
				detach(bt, b);
	}
	bt->n_pending = 0;
}

struct bt_block *bt_reattach(struct bt *bt, uint32_t eip)
{
	struct shown first = { ~0u, 0 }, last = { ~0u, 0 };
	for (struct bt_block *b = bt->hash[hash_eip(eip)]; b; b = b->hash_next) {
		if (b->eip != eip || b->user != bt->user || !b->detached || !b->valid ||
		    !block_shown(bt, b, &first, &last))
			continue;
		/* The linear page shows this frame again: its other detached
		 * blocks starting there come back too (each would be looked up
		 * soon, and taking one back is a store to its entry). */
		uint32_t page = b->page[0];
		for (struct bt_block *o = bt->page_head[page]; o; o = page_next(o, page))
			if (o != b && o->valid && o->detached && o->user == b->user &&
			    o->page[0] == page && !((o->eip ^ eip) >> 12) &&
			    block_shown(bt, o, &first, &last))
				attach(bt, o);
		attach(bt, b);
		return b;
	}
	return NULL;
}

void bt_take_chains(struct bt *bt, struct bt_block *b)
{
	for (struct bt_block *d = bt->hash[hash_eip(b->eip)]; d; d = d->hash_next) {
		if (d == b || d->eip != b->eip || d->user != b->user || !d->detached ||
		    !d->incoming)
			continue;
		struct bt_chain *c = d->incoming;
		for (;;) {
			patch_rel32(c->rel32, b->host);
			if (!c->next)
				break;
			c = c->next;
		}
		c->next = b->incoming;
		b->incoming = d->incoming;
		d->incoming = NULL;
	}
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
	memset(bt->pending_on, 0, bt->ram_pages * sizeof *bt->pending_on);
	bt->n_pending = 0;
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
