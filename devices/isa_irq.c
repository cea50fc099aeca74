/* devices: the ISA IRQ lines, each fanned out to the 8259 pair and an I/O APIC pin. */
#include "invariant.h"

#include "devices_internal.h"

/*
 * On a PIIX every ISA IRQ line reaches both interrupt controllers; which
 * one the CPU hears is the guest's choice (it masks the other). IRQ 0 is
 * the exception on the I/O APIC side: it arrives on pin 2, which the MP and
 * ACPI tables say with an interrupt source override. IRQ 2 never carries a
 * device (the slave 8259's cascade).
 *
 * The HPET in legacy replacement mode takes IRQ 0 and 8 over: what the PIT
 * and the RTC drive is remembered but goes nowhere until the HPET gives the
 * lines back, as QEMU's HPET does by sitting between the RTC and IRQ 8 and
 * by disabling the PIT's output.
 */

#define HPET_LEGACY_IRQS ((uint16_t)(1u << 0 | 1u << 8))

static void isa_drive(struct dev_isa_irqs *irqs, unsigned irq, bool level)
{
	dev_pic_set_irq(irqs->pic, irq, level);
	if (irqs->ioapic)
		dev_ioapic_set_irq(irqs->ioapic, PC_GSI_OF_IRQ(irq), level);
}

static void set_bit16(uint16_t *bits, unsigned irq, bool on)
{
	if (on)
		*bits = (uint16_t)(*bits | 1u << irq);
	else
		*bits = (uint16_t)(*bits & ~(1u << irq));
}

void dev_isa_set_irq(struct dev_isa_irqs *irqs, unsigned irq, bool level)
{
	BTVMM_CHECK(irq < 16 && irq != 2);
	set_bit16(&irqs->device_levels, irq, level);
	if (!(irqs->hpet_owned & (1u << irq)))
		isa_drive(irqs, irq, level);
}

void dev_isa_set_hpet_irq(struct dev_isa_irqs *irqs, unsigned irq,
			  bool level)
{
	BTVMM_CHECK(HPET_LEGACY_IRQS & (1u << irq));
	set_bit16(&irqs->hpet_levels, irq, level);
	if (irqs->hpet_owned & (1u << irq))
		isa_drive(irqs, irq, level);
}

/* Hand the lines over: each takes the level of its new driver. */
void dev_isa_set_legacy_replacement(struct dev_isa_irqs *irqs, bool on)
{
	uint16_t owned = on ? HPET_LEGACY_IRQS : 0;

	if (owned == irqs->hpet_owned)
		return;
	irqs->hpet_owned = owned;
	for (unsigned irq = 0; irq < 16; irq++) {
		uint16_t levels = (owned & (1u << irq)) ? irqs->hpet_levels
							: irqs->device_levels;

		if (HPET_LEGACY_IRQS & (1u << irq))
			isa_drive(irqs, irq, levels & (1u << irq));
	}
}

bool dev_isa_irq_busy(const struct dev_isa_irqs *irqs, unsigned irq)
{
	const struct dev_pic_chip *c = &irqs->pic->chip[irq >> 3];
	uint8_t bit = (uint8_t)(1u << (irq & 7u));

	if (!(c->imr & bit) && ((c->irr | c->isr) & bit))
		return true;
	return irqs->ioapic &&
	       dev_ioapic_pin_busy(irqs->ioapic, PC_GSI_OF_IRQ(irq));
}
