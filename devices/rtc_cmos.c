/* devices: the MC146818 real-time clock and the PC's CMOS RAM at 0x70/0x71. */
#include <string.h>

#include "devices_internal.h"

/*
 * Port 0x70 selects a register (bits 6:0) and holds the NMI mask (bit 7);
 * it is write-only and reads all ones, as on QEMU. Port 0x71 reads and
 * writes the selected register:
 *
 *   0x00 seconds   0x01 alarm s   0x02 minutes   0x03 alarm min
 *   0x04 hours     0x05 alarm h   0x06 weekday (1 = Sunday)
 *   0x07 day       0x08 month     0x09 year (00-99)
 *   0x0a A: UIP(7, read-only) divider(6:4) rate(3:0)
 *   0x0b B: SET(7) PIE(6) AIE(5) UIE(4) SQWE(3) DM(2, 1 = binary)
 *           24/12(1, 1 = 24 h) DSE(0, stored, never applied)
 *   0x0c C: IRQF(7) PF(6) AF(5) UF(4), read-only, cleared by reading
 *   0x0d D: VRT(7): the battery is good
 *   0x0e-0x7f battery-backed RAM; 0x32 is the century, kept with the time
 *
 * The time registers are computed from the clock on each read (no timer
 * runs), in the format register B selects at that moment. The update
 * cycle is instantaneous at each second boundary; UIP is reported for the
 * 244 us before it, the window in which a real chip warns that the time
 * registers are about to change, which is what readers (Linux's
 * mc146818_get_time) wait out. The flags of register C are latched lazily
 * too: whenever the RTC is touched, or dev_rtc_update runs, the periodic
 * ticks (monotonic clock) and second boundaries (wall clock) that passed
 * since the last look set PF, UF and AF; IRQ 8 follows IRQF, so one rising
 * edge per read of register C at most, as on the chip.
 *
 * Only the divider's running state matters: divider values 0-2 run (QEMU
 * lets all three through), 6 and 7 hold updates and periodic ticks. Holding
 * the divider does not stop the time itself, which is kept by the host.
 */

enum {
	REG_SECONDS = 0x00, REG_ALARM_SECONDS = 0x01,
	REG_MINUTES = 0x02, REG_ALARM_MINUTES = 0x03,
	REG_HOURS = 0x04, REG_ALARM_HOURS = 0x05,
	REG_WEEKDAY = 0x06, REG_DAY = 0x07, REG_MONTH = 0x08, REG_YEAR = 0x09,
	REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
	REG_CENTURY = 0x32,
};

#define A_UIP      0x80u
#define A_DIVIDER  0x70u
#define A_RATE     0x0fu
#define B_SET      0x80u
#define B_PIE      0x40u
#define B_AIE      0x20u
#define B_UIE      0x10u
#define B_DM       0x04u
#define B_24H      0x02u
#define C_IRQF     0x80u
#define C_PF       0x40u /* C's flags sit where B's enables do */
#define C_AF       0x20u
#define C_UF       0x10u
#define D_VRT      0x80u
#define HOUR_PM    0x80u /* 12-hour mode */
#define ALARM_ANY  0xc0u /* alarm bytes 0xc0-0xff match any value */

#define NS_PER_S   1000000000ll
#define SECS_PER_DAY 86400ll
/* UIP: 8 cycles of the 32.768 kHz time base before each update. */
#define UIP_NS     244140ll
/* One 32.768 kHz cycle is 1e9 / 32768 = 1953125 / 64 ns. */
#define CYCLE_NS_NUM 1953125ull
#define CYCLE_NS_DEN 64ull

/* ---- Civil dates (proleptic Gregorian, H. Hinnant's algorithms) ---- */

struct rtc_time {
	int64_t year;
	unsigned month, day, hour, minute, second, weekday; /* weekday 1 = Sun */
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void time_from_seconds(int64_t t, struct rtc_time *out)
{
	int64_t days = floor_div(t, SECS_PER_DAY), secs = t - days * SECS_PER_DAY;
	int64_t z = days + 719468, era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	out->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	out->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	out->year = yoe + era * 400 + (out->month <= 2);
	out->hour = (unsigned)(secs / 3600);
	out->minute = (unsigned)(secs / 60 % 60);
	out->second = (unsigned)(secs % 60);
	/* 1970-01-01 was a Thursday, weekday 5. */
	out->weekday = (unsigned)((days % 7 + 7 + 4) % 7) + 1;
}

/* ---- Register formats ---- */

static uint8_t rtc_encode(const struct dev_rtc *r, unsigned value)
{
	if (r->cmos[REG_B] & B_DM)
		return (uint8_t)value;
	return (uint8_t)((value / 10 % 10) << 4 | value % 10);
}

static unsigned rtc_decode(const struct dev_rtc *r, uint8_t value)
{
	if (r->cmos[REG_B] & B_DM)
		return value;
	return (value >> 4) * 10u + (value & 0xfu);
}

static uint8_t rtc_encode_hour(const struct dev_rtc *r, unsigned hour)
{
	unsigned h12;

	if (r->cmos[REG_B] & B_24H)
		return rtc_encode(r, hour);
	h12 = hour % 12 ? hour % 12 : 12;
	return (uint8_t)(rtc_encode(r, h12) | (hour >= 12 ? HOUR_PM : 0));
}

static unsigned rtc_decode_hour(const struct dev_rtc *r, uint8_t value)
{
	unsigned h;

	if (r->cmos[REG_B] & B_24H)
		return rtc_decode(r, value);
	h = rtc_decode(r, value & (uint8_t)~HOUR_PM) % 12;
	return (value & HOUR_PM) ? h + 12 : h;
}

static bool is_time_register(unsigned reg)
{
	return reg <= REG_YEAR || reg == REG_CENTURY;
}

/* Time registers hold the time, except the three alarm bytes. */
static bool is_clock_register(unsigned reg)
{
	return is_time_register(reg) && reg != REG_ALARM_SECONDS &&
	       reg != REG_ALARM_MINUTES && reg != REG_ALARM_HOURS;
}

/* ---- The time ---- */

static int64_t rtc_second_now(const struct dev_rtc *r, uint64_t real_ns)
{
	return (int64_t)(real_ns / NS_PER_S) + r->offset_s;
}

static bool rtc_frozen(const struct dev_rtc *r)
{
	return r->cmos[REG_B] & B_SET;
}

static bool rtc_divider_runs(const struct dev_rtc *r)
{
	return (r->cmos[REG_A] & A_DIVIDER) <= 0x20u;
}

/* Updates happen: the divider runs and SET does not hold them. */
static bool rtc_updating(const struct dev_rtc *r)
{
	return rtc_divider_runs(r) && !rtc_frozen(r);
}

/* Register `reg` of the clock at guest second `t`, in the current format. */
static uint8_t rtc_clock_byte(const struct dev_rtc *r, unsigned reg, int64_t t)
{
	struct rtc_time tm;

	time_from_seconds(t, &tm);
	switch (reg) {
	case REG_SECONDS:
		return rtc_encode(r, tm.second);
	case REG_MINUTES:
		return rtc_encode(r, tm.minute);
	case REG_HOURS:
		return rtc_encode_hour(r, tm.hour);
	case REG_WEEKDAY:
		return rtc_encode(r, tm.weekday);
	case REG_DAY:
		return rtc_encode(r, tm.day);
	case REG_MONTH:
		return rtc_encode(r, tm.month);
	case REG_YEAR:
		return rtc_encode(r, (unsigned)(tm.year % 100));
	default: /* REG_CENTURY */
		return rtc_encode(r, (unsigned)(tm.year / 100));
	}
}

/* Copy the running clock into the time registers (SET going on). */
static void rtc_freeze(struct dev_rtc *r, uint64_t real_ns)
{
	int64_t t = rtc_second_now(r, real_ns);

	for (unsigned reg = 0; reg < DEV_RTC_CMOS_SIZE; reg++)
		if (is_clock_register(reg))
			r->cmos[reg] = rtc_clock_byte(r, reg, t);
}

/* Make the time registers the running clock again (SET going off, or a
 * time register written while the clock runs). The weekday is derived
 * from the date, not kept. */
static void rtc_thaw(struct dev_rtc *r, uint64_t real_ns)
{
	const uint8_t *c = r->cmos;
	unsigned month = rtc_decode(r, c[REG_MONTH]);
	unsigned day = rtc_decode(r, c[REG_DAY]);
	int64_t year = rtc_decode(r, c[REG_CENTURY]) * 100ll +
		       rtc_decode(r, c[REG_YEAR]);
	int64_t t;

	month = month < 1 ? 1 : month > 12 ? 12 : month;
	day = day < 1 ? 1 : day > 31 ? 31 : day;
	t = days_from_civil(year, month, day) * SECS_PER_DAY +
	    rtc_decode_hour(r, c[REG_HOURS]) * 3600ll +
	    rtc_decode(r, c[REG_MINUTES]) * 60ll + rtc_decode(r, c[REG_SECONDS]);
	r->offset_s = t - (int64_t)(real_ns / NS_PER_S);
}

/* ---- Interrupts ---- */

/* The periodic rate in 32.768 kHz cycles, 0 for none (rates 1 and 2 are
 * 256 and 128 Hz with this time base, not 16 and 8 kHz). */
static unsigned rtc_period_cycles(const struct dev_rtc *r)
{
	unsigned rate = r->cmos[REG_A] & A_RATE;

	if (rate == 0 || !rtc_divider_runs(r))
		return 0;
	if (rate <= 2)
		rate += 7;
	return 1u << (rate - 1);
}

static uint64_t cycles_at(uint64_t ns)
{
	return ns / CYCLE_NS_NUM * CYCLE_NS_DEN +
	       ns % CYCLE_NS_NUM * CYCLE_NS_DEN / CYCLE_NS_NUM;
}

/* The first ns at which cycles_at() reaches `cycle`. */
static uint64_t cycle_start_ns(uint64_t cycle)
{
	return cycle / CYCLE_NS_DEN * CYCLE_NS_NUM +
	       (cycle % CYCLE_NS_DEN * CYCLE_NS_NUM + CYCLE_NS_DEN - 1) /
		       CYCLE_NS_DEN;
}

/* Index of the periodic tick at `mono_ns` (0 without a periodic rate). */
static uint64_t rtc_periodic_tick(const struct dev_rtc *r, uint64_t mono_ns)
{
	unsigned period = rtc_period_cycles(r);

	return period ? cycles_at(mono_ns) / period : 0;
}

static bool alarm_field_matches(uint8_t alarm, uint8_t now)
{
	return alarm >= ALARM_ANY || alarm == now;
}

/* Did the alarm match at any second in (from, to]? A day holds every
 * time of day, so at most a day's seconds are looked at. */
static bool rtc_alarm_between(const struct dev_rtc *r, int64_t from, int64_t to)
{
	if (to - from > SECS_PER_DAY)
		from = to - SECS_PER_DAY;
	for (int64_t t = from + 1; t <= to; t++) {
		int64_t s = t - floor_div(t, SECS_PER_DAY) * SECS_PER_DAY;

		if (alarm_field_matches(r->cmos[REG_ALARM_SECONDS],
					rtc_encode(r, (unsigned)(s % 60))) &&
		    alarm_field_matches(r->cmos[REG_ALARM_MINUTES],
					rtc_encode(r, (unsigned)(s / 60 % 60))) &&
		    alarm_field_matches(r->cmos[REG_ALARM_HOURS],
					rtc_encode_hour(r, (unsigned)(s / 3600))))
			return true;
	}
	return false;
}

/* IRQ 8 is IRQF: an enabled flag is set. */
static bool rtc_irqf(const struct dev_rtc *r)
{
	return r->flags & r->cmos[REG_B] & (B_PIE | B_AIE | B_UIE);
}

static void rtc_drive_irq(struct dev_rtc *r)
{
	bool level = rtc_irqf(r);

	if (level != r->irq_level && r->irqs)
		dev_isa_set_irq(r->irqs, 8, level);
	r->irq_level = level;
}

/* Latch the flags that fell due since the last look, then drive IRQ 8. */
static void rtc_advance(struct dev_rtc *r, uint64_t mono_ns, uint64_t real_ns)
{
	uint64_t tick = rtc_periodic_tick(r, mono_ns);
	int64_t second = rtc_second_now(r, real_ns);

	if (rtc_period_cycles(r) && tick > r->last_periodic)
		r->flags |= C_PF;
	r->last_periodic = tick;
	if (rtc_updating(r) && second > r->last_second) {
		r->flags |= C_UF;
		if (rtc_alarm_between(r, r->last_second, second))
			r->flags |= C_AF;
	}
	r->last_second = second;
	rtc_drive_irq(r);
}

/* Forget what passed under the old settings (a new rate, a new time):
 * the next flags come from the next tick and boundary. */
static void rtc_resync(struct dev_rtc *r, uint64_t mono_ns, uint64_t real_ns)
{
	r->last_periodic = rtc_periodic_tick(r, mono_ns);
	r->last_second = rtc_second_now(r, real_ns);
	rtc_drive_irq(r);
}

void dev_rtc_init(struct dev_rtc *rtc, const struct dev_clock *clock,
		  struct dev_isa_irqs *irqs)
{
	memset(rtc, 0, sizeof(*rtc));
	rtc->clock = clock;
	rtc->irqs = irqs;
	rtc->cmos[REG_A] = 0x26;
	rtc->cmos[REG_B] = B_24H;
	/* What QEMU's guests read after SeaBIOS that does not depend on the
	 * RAM size: FPU and PS/2 mouse present, 640 KiB base memory, and the
	 * PS/2 century byte. The extended-memory bytes stay 0: guests size
	 * memory from multiboot or e820, not from here. */
	rtc->cmos[0x14] = 0x06;
	rtc->cmos[0x15] = 0x80;
	rtc->cmos[0x16] = 0x02;
	rtc->cmos[0x37] = 0x20;
	rtc_resync(rtc, dev_clock_monotonic(clock), dev_clock_realtime(clock));
}

void dev_rtc_update(struct dev_rtc *rtc)
{
	rtc_advance(rtc, dev_clock_monotonic(rtc->clock),
		    dev_clock_realtime(rtc->clock));
}

uint64_t dev_rtc_next_event(const struct dev_rtc *rtc)
{
	uint8_t enabled = rtc->cmos[REG_B];
	unsigned period = rtc_period_cycles(rtc);
	uint64_t next = UINT64_MAX;

	/* IRQ 8 stays high until register C is read: no edge before. */
	if (rtc_irqf(rtc))
		return UINT64_MAX;
	if ((enabled & B_PIE) && period)
		next = cycle_start_ns((rtc->last_periodic + 1) * period);
	if ((enabled & (B_UIE | B_AIE)) && rtc_updating(rtc)) {
		/* The guest's seconds turn with the host's. AIE is checked at
		 * every boundary rather than by finding the alarm's second. */
		uint64_t mono = dev_clock_monotonic(rtc->clock);
		uint64_t real = dev_clock_realtime(rtc->clock);
		uint64_t boundary = mono + (uint64_t)NS_PER_S - real % NS_PER_S;

		if (boundary < next)
			next = boundary;
	}
	return next;
}

static uint8_t rtc_read_register(struct dev_rtc *r, unsigned reg,
				 uint64_t mono_ns, uint64_t real_ns)
{
	uint8_t value;

	switch (reg) {
	case REG_A:
		value = r->cmos[REG_A] & (uint8_t)~A_UIP;
		if (rtc_updating(r) &&
		    real_ns % NS_PER_S >= (uint64_t)(NS_PER_S - UIP_NS))
			value |= A_UIP;
		return value;
	case REG_C:
		value = r->flags | (rtc_irqf(r) ? C_IRQF : 0);
		r->flags = 0;
		rtc_drive_irq(r);
		return value;
	case REG_D:
		return D_VRT;
	default:
		if (is_clock_register(reg) && !rtc_frozen(r))
			return rtc_clock_byte(r, reg, rtc_second_now(r, real_ns));
		return r->cmos[reg];
	}
}

static void rtc_write_register(struct dev_rtc *r, unsigned reg, uint8_t value,
			       uint64_t mono_ns, uint64_t real_ns)
{
	switch (reg) {
	case REG_A:
		r->cmos[REG_A] = value & (uint8_t)~A_UIP;
		rtc_resync(r, mono_ns, real_ns);
		return;
	case REG_B:
		if ((value & B_SET) && !rtc_frozen(r))
			rtc_freeze(r, real_ns);
		else if (!(value & B_SET) && rtc_frozen(r))
			rtc_thaw(r, real_ns);
		/* Setting SET clears UIE (MC146818 datasheet). */
		if (value & B_SET)
			value &= (uint8_t)~B_UIE;
		r->cmos[REG_B] = value;
		rtc_resync(r, mono_ns, real_ns);
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	default:
		if (is_clock_register(reg) && !rtc_frozen(r)) {
			/* The running clock takes the new field at once. */
			rtc_freeze(r, real_ns);
			r->cmos[reg] = value;
			rtc_thaw(r, real_ns);
			rtc_resync(r, mono_ns, real_ns);
			return;
		}
		r->cmos[reg] = value;
		return;
	}
}

static uint32_t rtc_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_rtc *r = dev;
	uint64_t mono, real;

	if (!(port & 1u))
		return 0xff;
	mono = dev_clock_monotonic(r->clock);
	real = dev_clock_realtime(r->clock);
	rtc_advance(r, mono, real);
	return rtc_read_register(r, r->index, mono, real);
}

static void rtc_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_rtc *r = dev;
	uint64_t mono, real;

	if (!(port & 1u)) {
		r->index = value & 0x7fu;
		r->nmi_masked = value & 0x80u;
		return;
	}
	mono = dev_clock_monotonic(r->clock);
	real = dev_clock_realtime(r->clock);
	rtc_advance(r, mono, real);
	rtc_write_register(r, r->index, (uint8_t)value, mono, real);
}

const struct dev_pio_ops dev_rtc_ops = {
	.name = "mc146818",
	.max_access = 1,
	.read = rtc_read,
	.write = rtc_write,
};
