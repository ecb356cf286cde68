# bootsector.S - a tiny x86 guest for the QEMU machine tests (BootSectorGuest, QemuMachineTest).
#
# A 512-byte boot sector in GNU as syntax, 16-bit real mode; SeaBIOS loads it at 0x7c00 and jumps
# to it. It never calls the BIOS again and runs with interrupts off. Forever, each pass:
#   - fills the eight 64 KiB segments 0x10000..0x8ffff (512 KiB, all below 640 KiB) with one
#     16-bit word, pass counter XOR segment, so guest RAM keeps changing and being dirtied while
#     a migration runs;
#   - then writes one byte to COM1 (out to port 0x3f8; QEMU's 16550 sends it without any UART
#     set-up): '@', 'A', ..., '_' in turn, so the serial output grows by one byte a pass.
# The pass counter lives in %bp (CPU state, migrated with the CPU).
#
# Assembled at test time, never committed as a binary:
#   as --32 -o bootsector.o bootsector.S
#   ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o bootsector.bin bootsector.o
# The .org below pads it to 510 bytes (and fails the assembly if the code outgrows that), then
# comes the boot signature 0x55 0xaa that SeaBIOS checks.

        .code16
        .text
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movw    $0x7c00, %sp
        cld
        xorw    %bp, %bp                # pass counter
pass:
        movw    $0x1000, %bx            # first segment: 0x10000
segment:
        movw    %bx, %es
        xorw    %di, %di
        movw    %bp, %ax
        xorw    %bx, %ax                # the word: pass ^ segment
        movw    $0x8000, %cx            # 32768 words: the whole 64 KiB segment
        rep stosw
        addw    $0x1000, %bx
        cmpw    $0x9000, %bx            # up to segment 0x8000 (0x80000..0x8ffff)
        jb      segment
        incw    %bp
        movw    %bp, %ax
        andb    $0x1f, %al
        addb    $0x40, %al              # '@' + pass % 32
        movw    $0x3f8, %dx             # COM1 transmit register
        outb    %al, %dx
        jmp     pass

        .org    510
        .byte   0x55, 0xaa
