/*
 * devices: where the PC platform's devices live, in one place — the device
 * models claim these addresses and the firmware tables (ACPI, MP, BIOS data
 * area) describe them, so the two can never disagree.
 *
 * The values are QEMU's "pc" machine's (PIIX3/PIIX4 era), so a guest that
 * runs on QEMU finds the same platform here.
 */
#ifndef BTVMM_PC_MAP_H
#define BTVMM_PC_MAP_H

/* ---- Memory-mapped devices (guest-physical) ---- */
#define PC_LAPIC_BASE        0xfee00000u /* local APIC, 4 KiB (MSR 0x1b resets here) */
#define PC_IOAPIC_BASE       0xfec00000u /* I/O APIC, 4 KiB window (IOREGSEL/IOWIN) */
#define PC_HPET_BASE         0xfed00000u /* HPET, 1 KiB of registers */
#define PC_MMIO_PAGE         0x1000u

#define PC_LAPIC_ID          0u  /* the one CPU's APIC ID (CPUID.1:EBX[31:24]) */
#define PC_IOAPIC_ID         1u  /* distinct from every local APIC ID (MP 1.4) */
#define PC_IOAPIC_PINS       24u /* GSI 0-23 */
#define PC_LAPIC_VERSION     0x14u /* local APIC version register [7:0], QEMU's */
#define PC_IOAPIC_VERSION    0x11u /* I/O APIC version register [7:0], QEMU's */
#define PC_HPET_BLOCK_ID     0x8086a201u /* HPET GCAP_ID[31:0], QEMU's: vendor
                                            8086, legacy route, 64-bit counter,
                                            3 timers, revision 1 */

/* ---- ISA interrupts as routed to the I/O APIC ---- */
/* The PIT's IRQ 0 arrives on pin 2 (an interrupt source override in the
 * MADT and an MP I/O interrupt entry); every other ISA IRQ n on pin n. */
#define PC_GSI_OF_IRQ(irq)   ((irq) == 0u ? 2u : (irq))
#define PC_IRQ_SCI           9u  /* ACPI SCI: level, active high, as QEMU */

/* ---- PCI interrupts (bus 0) ---- */
/* Pin `pin` (0-3: INTA-D) of the device in `slot` (1-31) interrupts on GSI
 * 10 or 11, level, active low: QEMU's PIIX swizzle (PIRQ (slot - 1 + pin)
 * mod 4) with SeaBIOS's PIRQA-D -> IRQ 10, 10, 11, 11, so a device gets the
 * IRQ it gets under QEMU. The DSDT's _PRT, the MP table's PCI entries and
 * the MADT's overrides for IRQ 10 and 11 all say so. */
#define PC_PCI_GSI_FIRST     10u /* PCI interrupts are GSI 10 and 11 */
#define PC_PCI_GSI(slot, pin) (PC_PCI_GSI_FIRST + ((((slot) - 1u + (pin)) >> 1) & 1u))
#define PC_PCI_SLOTS         32u
#define PC_PCI_GSI_MASK      ((1u << 10) | (1u << 11)) /* ELCR bits to set */

/* ---- Legacy IDE (ISA ports of the PIIX3 IDE function) ---- */
#define PC_IDE0_BASE         0x01f0u /* primary command block, 8 ports */
#define PC_IDE0_CTRL         0x03f6u /* primary control block, 1 port */
#define PC_IDE0_IRQ          14u
#define PC_IDE1_BASE         0x0170u /* secondary */
#define PC_IDE1_CTRL         0x0376u
#define PC_IDE1_IRQ          15u
#define PC_VIRTIO_FIRST_SLOT 3u      /* virtio-blk functions: slot 3 up */

/* ---- ACPI fixed hardware (PIIX4 power management, QEMU's addresses) ---- */
#define PC_ACPI_PM_BASE      0x0600u
#define PC_ACPI_PM1A_EVT     (PC_ACPI_PM_BASE + 0x00) /* PM1 status, enable: 2+2 */
#define PC_ACPI_PM1A_CNT     (PC_ACPI_PM_BASE + 0x04) /* PM1 control: 2 */
#define PC_ACPI_PM_TMR       (PC_ACPI_PM_BASE + 0x08) /* PM timer: 4, 24-bit */
#define PC_ACPI_PM_TMR_HZ    3579545u
#define PC_ACPI_SMI_CMD      0x00b2u /* APM control; 0: ACPI is always on */
#define PC_ACPI_S5_TYP       0u      /* SLP_TYP for S5 in DSDT's \_S5 and PM1_CNT */
#define PC_RESET_PORT        0x0cf9u /* reset control; FADT RESET_REG */
#define PC_RESET_VALUE       0x06u   /* FADT RESET_VALUE: full reset */
#define PC_PORT92            0x0092u /* system control port A: bit 0 resets */

/* ---- Firmware areas (guest RAM the "BIOS" leaves behind) ---- */
#define PC_BDA               0x00000400u /* BIOS data area */
#define PC_EBDA              0x0009fc00u /* extended BIOS data area, 1 KiB */
#define PC_EBDA_KIB          639u        /* BDA 0x413: base memory in KiB */
#define PC_BIOS_TABLES       0x000f0000u /* MP/ACPI tables: the BIOS area */
#define PC_BIOS_TABLES_END   0x00100000u

#endif
