/* PVH entry (Xen PVH boot ABI): 32-bit protected mode, paging off,
   %ebx = physical address of hvm_start_info. We build boot page tables that
   map the first 4 GiB both at 0 and at KERNEL_BASE (PML4 slot 255), enter
   long mode and jump to the kernel's linked (lower-half, slot 255) address. */

.section .note.Xen, "a", @note
.balign 4
.long 4                 /* name size: "Xen\0" */
.long 4                 /* descriptor size */
.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
.asciz "Xen"
.balign 4
.long pvh_start
.balign 4

.section .boot.text, "ax"
.code32
.global pvh_start
pvh_start:
    cli
    cld
    mov %ebx, %esi                      /* keep start-info address */

    mov $boot_pml4, %edi                /* zero PML4 + PDPT + 4 PDs */
    xor %eax, %eax
    mov $(6 * 1024), %ecx
    rep stosl

    mov $boot_pdpt, %eax
    or $3, %eax
    mov %eax, boot_pml4
    mov %eax, boot_pml4 + 255 * 8

    mov $boot_pd, %eax                  /* PDPT[0..4] -> the 4 PDs */
    or $3, %eax
    mov $boot_pdpt, %edi
    mov $4, %ecx
1:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 1b

    mov $boot_pd, %edi                  /* 2048 x 2 MiB pages = 4 GiB */
    mov $0x83, %eax                     /* present | writable | huge */
    xor %edx, %edx
    mov $2048, %ecx
2:  mov %eax, (%edi)
    mov %edx, 4(%edi)
    add $0x200000, %eax
    adc $0, %edx
    add $8, %edi
    loop 2b

    mov %cr4, %eax
    or $0x20, %eax                      /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx               /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax                /* PG | WP | PE */
    mov %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x10, $boot_long

.code64
boot_long:
    mov $0x18, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    movabs $high_entry, %rax
    jmp *%rax

.section .boot.data, "a"
.balign 16
boot_gdt:
    .quad 0
    .quad 0
    .quad 0x00af9a000000ffff            /* 0x10: 64-bit code */
    .quad 0x00cf92000000ffff            /* 0x18: data */
boot_gdt_ptr:
    .word boot_gdt_ptr - boot_gdt - 1
    .long boot_gdt

.section .boot.bss, "aw", @nobits
.balign 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd:   .skip 4 * 4096

/* From here on we run at the linked addresses. */
.section .text.high_entry, "ax"
high_entry:
    lea boot_stack_top(%rip), %rsp
    lea __bss_start(%rip), %rdi         /* zero .bss (the stack is in it) */
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    mov %esi, %edi                      /* arg: start-info physical address */
    xor %ebp, %ebp
    call kernel_main
3:  hlt
    jmp 3b

.section .bss.boot_stack, "aw", @nobits
.balign 4096
/* Unmapped once paging is set up: an overflow faults. */
.global boot_stack_guard
boot_stack_guard:
    .skip 4096
boot_stack:
    .skip 64 * 1024
.global boot_stack_top
boot_stack_top:
