; uint32_t mnist_cpu_features(void): which kernel sets this CPU *and* OS can run.
;   bit 0: AVX2 + FMA  (CPUID.1:ECX.FMA/AVX/OSXSAVE, CPUID.7:EBX.AVX2, XCR0 SSE+AVX state)
;   bit 1: AVX-512 F/DQ/BW/VL (CPUID.7:EBX, XCR0 opmask + ZMM_Hi256 + Hi16_ZMM state)
%include "common.inc"

section .text
global mnist_cpu_features
mnist_cpu_features:
    push    rbx
    xor     r8d, r8d                    ; result
    xor     eax, eax
    cpuid
    cmp     eax, 7
    jb      .done                       ; no leaf 7: no AVX2
    mov     eax, 1
    xor     ecx, ecx
    cpuid
    mov     r9d, ecx
    and     r9d, (1 << 12) | (1 << 27) | (1 << 28)   ; FMA, OSXSAVE, AVX
    cmp     r9d, (1 << 12) | (1 << 27) | (1 << 28)
    jne     .done
    xor     ecx, ecx
    xgetbv                              ; XCR0 in edx:eax
    mov     r10d, eax
    mov     eax, 7
    xor     ecx, ecx
    cpuid
    mov     r11d, ebx
    mov     eax, r10d
    and     eax, 0x06                   ; SSE and AVX state enabled by the OS
    cmp     eax, 0x06
    jne     .done
    test    r11d, 1 << 5                ; AVX2
    jz      .done
    or      r8d, 1
    mov     eax, r10d
    and     eax, 0xE6                   ; + opmask, ZMM_Hi256, Hi16_ZMM
    cmp     eax, 0xE6
    jne     .done
    mov     eax, r11d
    and     eax, (1 << 16) | (1 << 17) | (1 << 30) | (1 << 31)   ; F, DQ, BW, VL
    cmp     eax, (1 << 16) | (1 << 17) | (1 << 30) | (1 << 31)
    jne     .done
    or      r8d, 2
.done:
    mov     eax, r8d
    pop     rbx
    ret

NOTE_GNU_STACK
