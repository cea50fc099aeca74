/* devices: the boot CPU's local APIC (xAPIC registers, timer, IA32_APIC_BASE). */
#include <string.h>

#include "devices_internal.h"

/*
 * Register page (offset: register), every register 32 bits at a 16-byte
 * boundary; QEMU decodes bits 11:4 of the offset and answers accesses of
 * other sizes with 0 (writes dropped), and so does this model:
 *
 *   0x020 ID (31:24)         0x0b0 EOI (write)       0x280 ESR
 *   0x030 version            0x0d0 LDR (31:24)       0x300 ICR low
 *   0x080 TPR                0x0e0 DFR (31:28)       0x310 ICR high
 *   0x090 APR (reads 0)      0x0f0 SVR               0x320-0x370 LVTs
 *   0x0a0 PPR                0x100-0x170 ISR         0x380 initial count
 *                            0x180-0x1f0 TMR         0x390 current count
 *                            0x200-0x270 IRR         0x3e0 divide config
 *
 * Other offsets read 0 and set ESR "illegal register address" (QEMU).
 *
 * The timer counts down at 1 GHz / divisor (QEMU takes the bus clock to be
 * its ns clock). A count of N interrupts N ticks after it was written and,
 * in periodic mode, every N ticks from then on, as the SDM describes it
 * (QEMU's period is N + 1 ticks). Changing the divisor mid-count rescales
 * the ticks already counted, as in QEMU.
 */

#define REG_ID        0x02u
#define REG_VERSION   0x03u
#define REG_TPR       0x08u
#define REG_APR       0x09u
#define REG_PPR       0x0au
#define REG_EOI       0x0bu
#define REG_LDR       0x0du
#define REG_DFR       0x0eu
#define REG_SVR       0x0fu
#define REG_ISR       0x10u
#define REG_TMR       0x18u
#define REG_IRR       0x20u
#define REG_ESR       0x28u
#define REG_ICR_LOW   0x30u
#define REG_ICR_HIGH  0x31u
#define REG_LVT       0x32u
#define REG_INITIAL   0x38u
#define REG_CURRENT   0x39u
#define REG_DIVIDE    0x3eu

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR };

/* QEMU's version register: version 0x14, max LVT entry 5. */
#define VERSION       (0x14u | (DEV_LAPIC_LVTS - 1) << 16)

#define BASE_BSP      (1ull << 8)
#define BASE_X2APIC   (1ull << 10)
#define BASE_ENABLE   (1ull << 11)
#define BASE_ADDRESS  0xfffff000ull
/* Bits 7:0 and 9, x2APIC (10: not in our CPUID), and everything above a
 * 32-bit physical address (no PAE: MAXPHYADDR is 32). */
#define BASE_RESERVED (0xffffffff000002ffull | BASE_X2APIC)

#define SVR_ENABLE    0x100u
#define SVR_WRITABLE  0x1ffu   /* QEMU: vector and enable; no focus or
				* EOI-broadcast suppression */

#define LVT_MASKED    (1u << 16)
#define LVT_LEVEL     (1u << 15)
#define LVT_MODE(v)   (((v) >> 8) & 7u)
#define MODE_FIXED    0u
#define MODE_EXTINT   7u
#define TIMER_MODE(v) (((v) >> 17) & 3u)
#define TIMER_ONESHOT  0u
#define TIMER_PERIODIC 1u
#define TIMER_DEADLINE 2u

/* The bits software can write in each LVT (as KVM keeps them): the vector,
 * delivery mode, polarity, trigger, mask, timer mode; never the delivery
 * status or LINT's remote IRR. */
static const uint32_t lvt_writable[DEV_LAPIC_LVTS] = {
	[LVT_TIMER] = 0x700ffu,
	[LVT_THERMAL] = 0x107ffu,
	[LVT_PERF] = 0x107ffu,
	[LVT_LINT0] = 0x1a7ffu,
	[LVT_LINT1] = 0x1a7ffu,
	[LVT_ERROR] = 0x100ffu,
};

#define ESR_SEND_ILLEGAL    (1u << 5)
#define ESR_RECEIVE_ILLEGAL (1u << 6)
#define ESR_ILLEGAL_ADDRESS (1u << 7)

#define ICR_DELIVERY_IDLE   (~(1u << 12))
#define ICR_LOGICAL         (1u << 11)
#define ICR_SHORTHAND(v)    (((v) >> 18) & 3u)
enum { DEST_FIELD, DEST_SELF, DEST_ALL, DEST_OTHERS };
#define MODE_LOWEST         1u

#define NO_FIRE       UINT64_MAX
#define NS_PER_S      1000000000ull

static bool vec_test(const uint32_t *bits, unsigned v)
{
	return bits[v >> 5] & (1u << (v & 31u));
}

static void vec_set(uint32_t *bits, unsigned v, bool on)
{
	if (on)
		bits[v >> 5] |= 1u << (v & 31u);
	else
		bits[v >> 5] &= ~(1u << (v & 31u));
}

/* The highest vector set in a 256-bit register, or -1. */
static int vec_highest(const uint32_t *bits)
{
	for (int i = 7; i >= 0; i--)
		if (bits[i])
			return i * 32 + 31 - __builtin_clz(bits[i]);
	return -1;
}

static bool sw_enabled(const struct dev_lapic *l)
{
	return l->svr & SVR_ENABLE;
}

bool dev_lapic_enabled(const struct dev_lapic *l)
{
	return l->base_msr & BASE_ENABLE;
}

static uint64_t now_ns(const struct dev_lapic *l)
{
	return dev_clock_monotonic(l->clock);
}

static uint64_t now_tsc(const struct dev_lapic *l)
{
	return l->clock->tsc ? l->clock->tsc(l->clock->ctx) : now_ns(l);
}

/* PPR: the TPR, or the class of the highest vector in service if that is
 * higher (then with a zero sub-class). */
static uint8_t lapic_ppr(const struct dev_lapic *l)
{
	int isrv = vec_highest(l->isr);
	unsigned isr_class = isrv < 0 ? 0 : (unsigned)isrv & 0xf0u;

	return (l->tpr & 0xf0u) >= isr_class ? l->tpr : (uint8_t)isr_class;
}

/* ---- Errors and local interrupt sources ---- */

static void lapic_local_deliver(struct dev_lapic *l, unsigned lvt);

/*
 * Record an error for the next ESR write to latch and raise the LVT error
 * interrupt. An error vector that is itself illegal is not delivered (that
 * would be an error again).
 */
static void lapic_error(struct dev_lapic *l, uint32_t bits)
{
	l->esr_pending |= bits;
	if ((l->lvt[LVT_ERROR] & 0xffu) >= 16)
		lapic_local_deliver(l, LVT_ERROR);
}

/* An interrupt from one of the APIC's own sources. Only fixed delivery
 * reaches the CPU: there is no NMI or SMI path in btvmm. ExtINT on LINT0
 * is the 8259's path (dev_lapic_accepts_pic). */
static void lapic_local_deliver(struct dev_lapic *l, unsigned lvt)
{
	uint32_t v = l->lvt[lvt];

	if ((v & LVT_MASKED) || LVT_MODE(v) != MODE_FIXED)
		return;
	dev_lapic_accept(l, (uint8_t)v,
			 (lvt == LVT_LINT0 || lvt == LVT_LINT1) && (v & LVT_LEVEL));
}

bool dev_lapic_accept(struct dev_lapic *l, uint8_t vector, bool level)
{
	/* KVM's rule: a disabled APIC (globally or in software) takes no
	 * fixed interrupts. */
	if (!dev_lapic_enabled(l) || !sw_enabled(l))
		return false;
	if (vector < 16) {
		lapic_error(l, ESR_RECEIVE_ILLEGAL);
		return false;
	}
	vec_set(l->irr, vector, true);
	vec_set(l->tmr, vector, level);
	return true;
}

bool dev_lapic_is_destination(const struct dev_lapic *l, uint8_t dest,
			      bool logical)
{
	if (!logical)
		return dest == 0xffu || dest == l->id;
	if (l->dfr_model == 0xfu) /* flat */
		return dest & l->ldr;
	/* cluster: the high nibble names the cluster, the low one CPUs in it */
	return (dest & 0xf0u) == (l->ldr & 0xf0u) && (dest & l->ldr & 0x0fu);
}

/* ---- The timer ---- */

/* The divisor is 2^shift: divide configuration bits 3, 1:0 as
 * 000 -> 2, 001 -> 4, ..., 110 -> 128, 111 -> 1. */
static unsigned timer_shift(const struct dev_lapic *l)
{
	unsigned v = (l->divide_conf & 3u) | ((l->divide_conf >> 1) & 4u);

	return (v + 1) & 7u;
}

static unsigned timer_mode(const struct dev_lapic *l)
{
	return TIMER_MODE(l->lvt[LVT_TIMER]);
}

/* Ticks counted since the initial count was written. */
static uint64_t timer_ticks(const struct dev_lapic *l, uint64_t now)
{
	return now < l->load_ns ? 0 : (now - l->load_ns) >> timer_shift(l);
}

static uint32_t timer_current(const struct dev_lapic *l, uint64_t now)
{
	uint64_t d = timer_ticks(l, now), n = l->initial_count;

	if (timer_mode(l) == TIMER_DEADLINE || n == 0)
		return 0;
	if (timer_mode(l) == TIMER_PERIODIC)
		return (uint32_t)(n - d % n);
	return d >= n ? 0 : (uint32_t)(n - d);
}

/* The first time after `now` (or at it) at which the count reaches 0. */
static void timer_schedule(struct dev_lapic *l, uint64_t now)
{
	uint64_t n = l->initial_count, d = timer_ticks(l, now), k;

	l->next_fire_ns = NO_FIRE;
	if (n == 0 || timer_mode(l) == TIMER_DEADLINE)
		return;
	if (timer_mode(l) == TIMER_ONESHOT) {
		if (d < n)
			l->next_fire_ns = l->load_ns + (n << timer_shift(l));
		return;
	}
	k = d / n + 1;
	l->next_fire_ns = l->load_ns + ((k * n) << timer_shift(l));
}

/* Raise what fell due by `now` under the current programming. Every
 * register write that changes the timer calls this first. */
static void timer_sync(struct dev_lapic *l, uint64_t now)
{
	if (timer_mode(l) == TIMER_DEADLINE) {
		if (l->tsc_deadline && now_tsc(l) >= l->tsc_deadline) {
			l->tsc_deadline = 0;
			lapic_local_deliver(l, LVT_TIMER);
		}
		return;
	}
	if (l->next_fire_ns == NO_FIRE || now < l->next_fire_ns)
		return;
	lapic_local_deliver(l, LVT_TIMER);
	/* A periodic count lands after `now`; a one-shot is done. */
	timer_schedule(l, now);
}

void dev_lapic_update(struct dev_lapic *l)
{
	if (dev_lapic_enabled(l))
		timer_sync(l, now_ns(l));
}

uint64_t dev_lapic_next_event(const struct dev_lapic *l)
{
	uint64_t now, tsc, hz, ns;

	if (!dev_lapic_enabled(l) || (l->lvt[LVT_TIMER] & LVT_MASKED))
		return UINT64_MAX;
	if (timer_mode(l) != TIMER_DEADLINE)
		return l->next_fire_ns;
	if (!l->tsc_deadline)
		return UINT64_MAX;
	now = now_ns(l);
	tsc = now_tsc(l);
	if (tsc >= l->tsc_deadline)
		return now;
	/* The rate is only for the wake-up: unknown means 1 GHz. */
	hz = l->clock->tsc_hz ? l->clock->tsc_hz : NS_PER_S;
	ns = (uint64_t)(((unsigned __int128)(l->tsc_deadline - tsc) * NS_PER_S +
			 hz - 1) / hz);
	return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

uint64_t dev_lapic_tsc_deadline(const struct dev_lapic *l)
{
	return timer_mode(l) == TIMER_DEADLINE ? l->tsc_deadline : 0;
}

void dev_lapic_set_tsc_deadline(struct dev_lapic *l, uint64_t tsc)
{
	if (timer_mode(l) != TIMER_DEADLINE)
		return;
	timer_sync(l, now_ns(l));
	l->tsc_deadline = tsc;
	timer_sync(l, now_ns(l)); /* a deadline already past fires now */
}

static void lvt_write(struct dev_lapic *l, unsigned n, uint32_t value)
{
	uint64_t now = now_ns(l);
	uint32_t v = value & lvt_writable[n];

	/* A software-disabled APIC keeps every LVT masked (SDM 10.4.7.2). */
	if (!sw_enabled(l))
		v |= LVT_MASKED;
	if (n != LVT_TIMER) {
		l->lvt[n] = v | (l->lvt[n] & ~lvt_writable[n]);
		return;
	}
	timer_sync(l, now);
	/* A mode change disarms the timer (SDM 10.5.4.1). */
	if (TIMER_MODE(v) != timer_mode(l)) {
		l->initial_count = 0;
		l->tsc_deadline = 0;
	}
	l->lvt[n] = v;
	timer_schedule(l, now);
}

/* ---- Interrupt delivery to the CPU ---- */

int dev_lapic_pending(const struct dev_lapic *l)
{
	int irrv;

	if (!dev_lapic_enabled(l) || !sw_enabled(l))
		return -1;
	irrv = vec_highest(l->irr);
	if (irrv < 0 || ((unsigned)irrv & 0xf0u) <= (lapic_ppr(l) & 0xf0u))
		return -1;
	return irrv;
}

uint8_t dev_lapic_acknowledge(struct dev_lapic *l)
{
	int v = dev_lapic_pending(l);

	if (v < 0)
		return (uint8_t)l->svr;
	vec_set(l->irr, (unsigned)v, false);
	vec_set(l->isr, (unsigned)v, true);
	return (uint8_t)v;
}

bool dev_lapic_accepts_pic(const struct dev_lapic *l)
{
	uint32_t lint0 = l->lvt[LVT_LINT0];

	return !dev_lapic_enabled(l) ||
	       (!(lint0 & LVT_MASKED) && LVT_MODE(lint0) == MODE_EXTINT);
}

bool dev_lapic_vector_busy(const struct dev_lapic *l, uint8_t vector)
{
	return vec_test(l->irr, vector) || vec_test(l->isr, vector);
}

/* EOI: the highest vector in service is done; a level-triggered one is
 * also done at the I/O APIC (the EOI broadcast). */
static void lapic_eoi(struct dev_lapic *l)
{
	int v = vec_highest(l->isr);

	if (v < 0)
		return;
	vec_set(l->isr, (unsigned)v, false);
	if (vec_test(l->tmr, (unsigned)v) && l->ioapic)
		dev_ioapic_eoi(l->ioapic, (uint8_t)v);
}

/*
 * An IPI. This machine has one CPU: a fixed or lowest-priority message
 * that names it (by shorthand, or by a destination that matches) is taken;
 * INIT, SIPI, NMI, SMI and messages for other CPUs go nowhere.
 */
static void lapic_send_ipi(struct dev_lapic *l)
{
	uint32_t icr = l->icr_low;
	unsigned mode = LVT_MODE(icr);
	bool to_self;

	switch (ICR_SHORTHAND(icr)) {
	case DEST_SELF:
	case DEST_ALL:
		to_self = true;
		break;
	case DEST_OTHERS:
		to_self = false;
		break;
	default:
		to_self = dev_lapic_is_destination(l, (uint8_t)(l->icr_high >> 24),
						   icr & ICR_LOGICAL);
		break;
	}
	if (mode != MODE_FIXED && mode != MODE_LOWEST)
		return;
	if ((icr & 0xffu) < 16) {
		lapic_error(l, ESR_SEND_ILLEGAL);
		return;
	}
	if (to_self)
		dev_lapic_accept(l, (uint8_t)icr, false);
}

/* ---- Reset and IA32_APIC_BASE ---- */

/* QEMU's apic_reset_common for the boot CPU. */
static void lapic_reset(struct dev_lapic *l)
{
	const struct dev_clock *clock = l->clock;
	struct dev_ioapic *ioapic = l->ioapic;

	memset(l, 0, sizeof(*l));
	l->clock = clock;
	l->ioapic = ioapic;
	l->base_msr = PC_LAPIC_BASE | BASE_ENABLE | BASE_BSP;
	l->id = PC_LAPIC_ID;
	l->dfr_model = 0xfu;
	l->svr = 0xffu;
	for (unsigned i = 0; i < DEV_LAPIC_LVTS; i++)
		l->lvt[i] = LVT_MASKED;
	/* The BIOS's virtual-wire set-up, so the 8259 reaches the CPU. */
	l->lvt[LVT_LINT0] = MODE_EXTINT << 8;
	l->next_fire_ns = NO_FIRE;
}

void dev_lapic_init(struct dev_lapic *l, const struct dev_clock *clock,
		    struct dev_ioapic *ioapic)
{
	l->clock = clock;
	l->ioapic = ioapic;
	lapic_reset(l);
}

/*
 * Relocation takes any 4 KiB-aligned base. Clearing bit 11 disables the
 * APIC: it takes no interrupts and its page is no longer decoded, and the
 * 8259's INTR goes straight to the CPU. Setting it again brings the APIC
 * back in its reset state (SDM 10.4.3: a re-enabled APIC is as after
 * power-up), at the base written. The BSP flag is read-only.
 */
bool dev_lapic_set_base(struct dev_lapic *l, uint64_t value)
{
	bool was_enabled = dev_lapic_enabled(l);

	if (value & BASE_RESERVED)
		return false;
	if ((value & BASE_ENABLE) && !was_enabled)
		lapic_reset(l);
	else if (was_enabled)
		timer_sync(l, now_ns(l));
	l->base_msr = (value & (BASE_ADDRESS | BASE_ENABLE)) |
		      (l->base_msr & BASE_BSP);
	return true;
}

/* ---- Register access ---- */

static uint32_t lapic_reg_read(struct dev_lapic *l, unsigned index)
{
	switch (index) {
	case REG_ID: return (uint32_t)l->id << 24;
	case REG_VERSION: return VERSION;
	case REG_TPR: return l->tpr;
	case REG_APR: return 0; /* no arbitration among one CPU (QEMU) */
	case REG_PPR: return lapic_ppr(l);
	case REG_EOI: return 0;
	case REG_LDR: return (uint32_t)l->ldr << 24;
	case REG_DFR: return (uint32_t)l->dfr_model << 28 | 0x0fffffffu;
	case REG_SVR: return l->svr;
	case REG_ESR: return l->esr;
	case REG_ICR_LOW: return l->icr_low;
	case REG_ICR_HIGH: return l->icr_high;
	case REG_INITIAL: return l->initial_count;
	case REG_CURRENT: return timer_current(l, now_ns(l));
	case REG_DIVIDE: return l->divide_conf;
	default:
		break;
	}
	if (index >= REG_ISR && index < REG_ISR + 8)
		return l->isr[index - REG_ISR];
	if (index >= REG_TMR && index < REG_TMR + 8)
		return l->tmr[index - REG_TMR];
	if (index >= REG_IRR && index < REG_IRR + 8)
		return l->irr[index - REG_IRR];
	if (index >= REG_LVT && index < REG_LVT + DEV_LAPIC_LVTS)
		return l->lvt[index - REG_LVT];
	lapic_error(l, ESR_ILLEGAL_ADDRESS);
	return 0;
}

static void svr_write(struct dev_lapic *l, uint32_t value)
{
	l->svr = value & SVR_WRITABLE;
	/* Software disable masks every LVT (SDM 10.4.7.2, KVM). */
	if (!sw_enabled(l))
		for (unsigned i = 0; i < DEV_LAPIC_LVTS; i++)
			l->lvt[i] |= LVT_MASKED;
}

static void lapic_reg_write(struct dev_lapic *l, unsigned index,
			    uint32_t value)
{
	uint64_t now = now_ns(l);

	switch (index) {
	case REG_ID: l->id = (uint8_t)(value >> 24); return;
	case REG_TPR: l->tpr = (uint8_t)value; return;
	case REG_EOI: lapic_eoi(l); return;
	case REG_LDR: l->ldr = (uint8_t)(value >> 24); return;
	case REG_DFR: l->dfr_model = (uint8_t)(value >> 28); return;
	case REG_SVR: svr_write(l, value); return;
	case REG_ESR:
		/* A write latches the errors seen since the last one. */
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		return;
	case REG_ICR_LOW:
		l->icr_low = value & ICR_DELIVERY_IDLE;
		lapic_send_ipi(l);
		return;
	case REG_ICR_HIGH: l->icr_high = value & 0xff000000u; return;
	case REG_INITIAL:
		/* Ignored in TSC-deadline mode (SDM 10.5.4.1). */
		if (timer_mode(l) == TIMER_DEADLINE)
			return;
		timer_sync(l, now);
		l->initial_count = value;
		l->load_ns = now;
		timer_schedule(l, now);
		return;
	case REG_DIVIDE:
		timer_sync(l, now);
		l->divide_conf = value & 0xbu;
		timer_schedule(l, now);
		return;
	case REG_VERSION: case REG_APR: case REG_PPR: case REG_CURRENT:
		return; /* read-only */
	default:
		break;
	}
	if (index >= REG_ISR && index < REG_IRR + 8)
		return; /* ISR, TMR, IRR: read-only */
	if (index >= REG_LVT && index < REG_LVT + DEV_LAPIC_LVTS) {
		lvt_write(l, index - REG_LVT, value);
		return;
	}
	lapic_error(l, ESR_ILLEGAL_ADDRESS);
}

static uint32_t lapic_mmio_read(void *dev, uint32_t offset, unsigned size)
{
	struct dev_lapic *l = dev;

	if (size != 4)
		return 0;
	timer_sync(l, now_ns(l));
	return lapic_reg_read(l, (offset >> 4) & 0xffu);
}

static void lapic_mmio_write(void *dev, uint32_t offset, unsigned size,
			     uint32_t value)
{
	struct dev_lapic *l = dev;

	if (size != 4)
		return;
	lapic_reg_write(l, (offset >> 4) & 0xffu, value);
}

const struct dev_mmio_ops dev_lapic_ops = {
	.name = "lapic",
	.read = lapic_mmio_read,
	.write = lapic_mmio_write,
};
