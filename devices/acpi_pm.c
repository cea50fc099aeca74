/* devices: ACPI fixed hardware of a PIIX4 PM: PM1a event and control blocks, PM timer. */
#include <string.h>

#include "devices_internal.h"

/*
 * Ports (from PC_ACPI_PM_BASE, QEMU's addresses):
 *
 *   +0  PM1 status  (16) write 1 to clear; TMR_STS when the PM timer's bit
 *                        23 toggles
 *   +2  PM1 enable  (16) TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN
 *   +4  PM1 control (16) SCI_EN reads 1 (there is no legacy mode to leave:
 *                        the FADT's SMI_CMD is 0); SLP_TYP, and SLP_EN,
 *                        which with SLP_TYP = PC_ACPI_S5_TYP powers off
 *   +8  PM timer    (32) 24-bit count at 3.579545 MHz, read-only
 *
 * The registers take accesses of any width, byte by byte (a 16-bit write
 * to PM1 control acts on both bytes at once, as SLP_EN needs SLP_TYP).
 * The SCI (ISA IRQ 9) is high while an enabled status bit is set.
 */

#define PM1_EVT_OFF    (PC_ACPI_PM1A_EVT - PC_ACPI_PM_BASE)
#define PM1_CNT_OFF    (PC_ACPI_PM1A_CNT - PC_ACPI_PM_BASE)
#define PM_TMR_OFF     (PC_ACPI_PM_TMR - PC_ACPI_PM_BASE)

#define STS_TMR        0x0001u
#define STS_PWRBTN     0x0100u
#define STS_WRITABLE   0x8731u /* TMR, BM, GBL, PWRBTN, SLPBTN, RTC, WAK */
#define EN_WRITABLE    0x0721u /* TMR, GBL, PWRBTN, SLPBTN, RTC */
#define CNT_SCI_EN     0x0001u
#define CNT_SLP_TYP(v) (((v) >> 10) & 7u)
#define CNT_SLP_EN     0x2000u
#define CNT_WRITABLE   0x1c06u /* BM_RLD, GBL_RLS, SLP_TYP */

#define TMR_BITS       24u
#define TMR_EPOCH_BIT  23u
#define NS_PER_S       1000000000ull

/* ns * HZ / 1e9 exactly, without overflow (as the PIT's conversion). */
static uint64_t pm_ticks_at(uint64_t ns)
{
	return ns / NS_PER_S * PC_ACPI_PM_TMR_HZ +
	       ns % NS_PER_S * PC_ACPI_PM_TMR_HZ / NS_PER_S;
}

/* The first ns at which the tick count reaches `tick`. */
static uint64_t pm_tick_start_ns(uint64_t tick)
{
	uint64_t rest = tick % PC_ACPI_PM_TMR_HZ * NS_PER_S;

	return tick / PC_ACPI_PM_TMR_HZ * NS_PER_S +
	       (rest + PC_ACPI_PM_TMR_HZ - 1) / PC_ACPI_PM_TMR_HZ;
}

uint32_t dev_acpi_pm_timer_at(uint64_t ns)
{
	return (uint32_t)(pm_ticks_at(ns) & ((1u << TMR_BITS) - 1));
}

static void pm_update_sci(struct dev_acpi_pm *pm)
{
	dev_isa_set_irq(pm->irqs, PC_IRQ_SCI, pm->status & pm->enable);
}

void dev_acpi_pm_init(struct dev_acpi_pm *pm, const struct dev_clock *clock,
		      struct dev_isa_irqs *irqs, struct dev_stop *stop)
{
	memset(pm, 0, sizeof(*pm));
	pm->clock = clock;
	pm->irqs = irqs;
	pm->stop = stop;
	pm->timer_epoch = pm_ticks_at(dev_clock_monotonic(clock)) >> TMR_EPOCH_BIT;
}

void dev_acpi_pm_update(struct dev_acpi_pm *pm)
{
	uint64_t epoch = pm_ticks_at(dev_clock_monotonic(pm->clock)) >> TMR_EPOCH_BIT;

	if (epoch != pm->timer_epoch)
		pm->status |= STS_TMR;
	pm->timer_epoch = epoch;
	pm_update_sci(pm);
}

uint64_t dev_acpi_pm_next_event(const struct dev_acpi_pm *pm)
{
	if (!(pm->enable & STS_TMR) || (pm->status & STS_TMR))
		return UINT64_MAX;
	return pm_tick_start_ns((pm->timer_epoch + 1) << TMR_EPOCH_BIT);
}

void dev_acpi_pm_power_button(struct dev_acpi_pm *pm)
{
	pm->status |= STS_PWRBTN;
	pm_update_sci(pm);
}

static void pm_control_write(struct dev_acpi_pm *pm, uint16_t value)
{
	pm->control = value & CNT_WRITABLE;
	/* S5 is the only sleep state this machine has; other SLP_TYP values
	 * (QEMU's S3) do nothing. */
	if ((value & CNT_SLP_EN) && CNT_SLP_TYP(value) == PC_ACPI_S5_TYP)
		dev_stop_request(pm->stop, DEV_STOP_POWEROFF, 0);
}

/* The registers as one little-endian byte array, 32 bits per read. */
static uint32_t pm_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_acpi_pm *pm = dev;
	unsigned off = port - PC_ACPI_PM_BASE;
	uint32_t timer, value = 0;

	dev_acpi_pm_update(pm);
	timer = dev_acpi_pm_timer_at(dev_clock_monotonic(pm->clock));
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint32_t reg;

		if (o >= PM_TMR_OFF && o < PM_TMR_OFF + 4)
			reg = timer >> (o - PM_TMR_OFF) * 8;
		else if (o >= PM1_CNT_OFF && o < PM1_CNT_OFF + 2)
			reg = (uint32_t)(pm->control | CNT_SCI_EN) >> (o - PM1_CNT_OFF) * 8;
		else if (o - PM1_EVT_OFF < 4)
			reg = (uint32_t)(pm->status | pm->enable << 16) >> (o - PM1_EVT_OFF) * 8;
		else
			reg = 0xff;
		value |= (reg & 0xffu) << 8 * i;
	}
	return value;
}

/* Merge bytes [first, first + size) of an access at `off` into a 16-bit
 * register at `reg_off`; return false if the access misses it. */
static bool pm_merge16(unsigned off, unsigned size, uint32_t value,
		       unsigned reg_off, uint16_t *reg, uint16_t *mask)
{
	*reg = 0;
	*mask = 0;
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;

		if (o < reg_off || o >= reg_off + 2)
			continue;
		*reg |= (uint16_t)(((value >> 8 * i) & 0xffu) << (o - reg_off) * 8);
		*mask |= (uint16_t)(0xffu << (o - reg_off) * 8);
	}
	return *mask != 0;
}

static void pm_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_acpi_pm *pm = dev;
	unsigned off = port - PC_ACPI_PM_BASE;
	uint16_t v, mask;

	dev_acpi_pm_update(pm);
	if (pm_merge16(off, size, value, PM1_EVT_OFF, &v, &mask))
		pm->status &= (uint16_t)~(v & mask & STS_WRITABLE);
	if (pm_merge16(off, size, value, PM1_EVT_OFF + 2, &v, &mask))
		pm->enable = (uint16_t)((pm->enable & ~mask) | (v & mask & EN_WRITABLE));
	if (pm_merge16(off, size, value, PM1_CNT_OFF, &v, &mask))
		pm_control_write(pm, (uint16_t)((pm->control & ~mask) | (v & mask)));
	pm_update_sci(pm);
}

const struct dev_pio_ops dev_acpi_pm_ops = {
	.name = "acpi-pm",
	.read = pm_read,
	.write = pm_write,
};
