/* Guest-physical addresses btvmm itself chooses, each with its reason. */
#ifndef BTVMM_LAYOUT_H
#define BTVMM_LAYOUT_H

/*
 * Host pages below vm.mmap_min_addr (64 KiB on stock Debian) cannot be
 * mapped in the S-view, so a guest access there is emulated, slowly. Every
 * structure the loader writes therefore sits at or above 64 KiB.
 */
#define LAYOUT_LOW_LIMIT      0x00010000u /* nothing of the loader below */
#define LAYOUT_MB_INFO        0x00010000u /* multiboot info structure */
#define LAYOUT_MB_MODS        0x00010400u /* multiboot module list */
#define LAYOUT_MB_MMAP        0x00010800u /* multiboot memory map */
#define LAYOUT_MB_CMDLINE     0x00011000u /* kernel command line (4 KiB) */
#define LAYOUT_MB_MODCMD      0x00012000u /* module 0 string (its file name) */
#define LAYOUT_BOOT_GDT       0x00010f00u /* flat boot GDT: CS 0x10, DS 0x18 */
#define LAYOUT_MB_END         0x00013000u /* end of the loader's area */
#define LAYOUT_ZERO_PAGE      0x00014000u /* Linux boot_params (4 KiB) */
#define LAYOUT_LINUX_CMDLINE  0x00015000u /* Linux command line */
#define LAYOUT_LINUX_CMDLINE_SIZE 0x1000u
#define LAYOUT_EBDA           0x0009fc00u /* top of conventional memory */
#define LAYOUT_HOLE_END       0x00100000u /* VGA/BIOS hole ends: 1 MiB */
/* --accel kvm on Intel without unrestricted guest: the three pages KVM
 * runs real mode through (KVM_SET_TSS_ADDR), QEMU's address: above the
 * largest RAM (3.5 GiB) and clear of every device page (pc_map.h). */
#define LAYOUT_KVM_TSS        0xfeffd000u

#endif
