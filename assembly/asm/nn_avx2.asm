; AVX2 + FMA versions of nn_avx512.asm: softmax cross-entropy, column sums, SGD-momentum
; update, uint8 -> [0, 1]. Same operations in the same order as the AVX-512 kernels, so
; both paths give bit-identical results; 16-lane vectors are handled as two ymm halves.
%include "common.inc"

section .rodata
align 32
c_lo:     times 8 dd -87.33654
c_log2e:  times 8 dd 1.44269504088896341
c_ln2hi:  times 8 dd 0.693359375
c_ln2lo:  times 8 dd -2.12194440e-4
c_p0:     times 8 dd 1.9875691500e-4
c_p1:     times 8 dd 1.3981999507e-3
c_p2:     times 8 dd 8.3334519073e-3
c_p3:     times 8 dd 4.1665795894e-2
c_p4:     times 8 dd 1.6666665459e-1
c_p5:     times 8 dd 5.0000001201e-1
c_one:    times 8 dd 1.0
c_255:    times 8 dd 255.0
c_ninf:   times 8 dd 0xFF800000
c_127:    times 8 dd 127
iota_lo:  dd 0, 1, 2, 3, 4, 5, 6, 7
iota_hi:  dd 8, 9, 10, 11, 12, 13, 14, 15
mask_table: times 16 dd -1               ; [16 - n] ..: n lanes of -1, then zeros
            times 16 dd 0

section .text

; EXP dst, src, t1, t2, clamp (see nn_avx512.asm)
%macro EXP 5
    vmaxps      %2, %5, %2
    vmulps      %3, %2, [c_log2e]
    vroundps    %3, %3, 0
    vfnmadd231ps %2, %3, [c_ln2hi]
    vfnmadd231ps %2, %3, [c_ln2lo]
    vmovaps     %1, [c_p0]
    vfmadd213ps %1, %2, [c_p1]
    vfmadd213ps %1, %2, [c_p2]
    vfmadd213ps %1, %2, [c_p3]
    vfmadd213ps %1, %2, [c_p4]
    vfmadd213ps %1, %2, [c_p5]
    vmulps      %4, %2, %2
    vfmadd213ps %1, %4, %2
    vaddps      %1, %1, [c_one]
    vcvtps2dq   %3, %3
    vpaddd      %3, %3, [c_127]
    vpslld      %3, %3, 23
    vmulps      %1, %1, %3
%endmacro

; ymm mask of the low n lanes of 8: %1 = ymm, %2 = n register (any value; clamped)
%macro LANEMASK 2
    mov     rax, %2
    test    rax, rax
    jge     %%nonneg
    xor     eax, eax
%%nonneg:
    cmp     rax, 8
    jle     %%small
    mov     eax, 8
%%small:
    neg     rax
    lea     rcx, [mask_table + 64]
    vmovdqu %1, [rcx + rax*4]
%endmacro

; double mnist_softmax_xent_avx2(logits, labels, rows, classes, grad, correct, denom)
global mnist_softmax_xent_avx2
align 32
mnist_softmax_xent_avx2:
    push    rbx
    mov     r10, rcx                     ; classes
    mov     r11, rdx                     ; rows
    LANEMASK ymm14, r10                  ; lanes 0..7
    lea     rdx, [r10 - 8]
    LANEMASK ymm15, rdx                  ; lanes 8..15
    mov     ecx, r10d                    ; class bitmask for the argmax
    mov     eax, 1
    shl     eax, cl
    dec     eax
    mov     ecx, eax
    push    rcx
    vbroadcastss ymm11, xmm0             ; denom
    vmovaps ymm12, [c_ninf]
    vmovaps ymm13, [c_lo]
    vxorpd  xmm7, xmm7, xmm7
    xor     ebx, ebx
    test    r11, r11
    jle     .done
.row:
    vmaskmovps ymm0, ymm14, [rdi]
    vblendvps ymm0, ymm12, ymm0, ymm14   ; padding lanes = -inf
    vmaskmovps ymm1, ymm15, [rdi+32]
    vblendvps ymm1, ymm12, ymm1, ymm15
    vmaxps  ymm2, ymm0, ymm1             ; max tree: i, i+8 -> i+4 -> i+2 -> i+1
    vextractf128 xmm3, ymm2, 1
    vmaxps  xmm2, xmm2, xmm3
    vmovhlps xmm3, xmm2, xmm2
    vmaxps  xmm2, xmm2, xmm3
    vshufps xmm3, xmm2, xmm2, 0x55
    vmaxss  xmm2, xmm2, xmm3
    vbroadcastss ymm2, xmm2
    vcmpeqps ymm3, ymm0, ymm2            ; argmax
    vmovmskps eax, ymm3
    vcmpeqps ymm3, ymm1, ymm2
    vmovmskps ecx, ymm3
    shl     ecx, 8
    or      eax, ecx
    and     eax, [rsp]
    mov     ecx, -1
    bsf     eax, eax
    cmovz   eax, ecx
    movsxd  rdx, dword [rsi]             ; label
    cmp     eax, edx
    sete    al
    movzx   eax, al
    add     rbx, rax
    vsubps  ymm0, ymm0, ymm2             ; shifted
    vsubps  ymm1, ymm1, ymm2
    EXP     ymm3, ymm0, ymm5, ymm6, ymm13
    EXP     ymm4, ymm1, ymm5, ymm6, ymm13
    vandps  ymm3, ymm3, ymm14
    vandps  ymm4, ymm4, ymm15
    vaddps  ymm5, ymm3, ymm4             ; sum tree
    vextractf128 xmm6, ymm5, 1
    vaddps  xmm5, xmm5, xmm6
    vmovhlps xmm6, xmm5, xmm5
    vaddps  xmm5, xmm5, xmm6
    vshufps xmm6, xmm5, xmm5, 0x55
    vaddss  xmm5, xmm5, xmm6
    vmovss  [rsp-8], xmm5                ; ln(sum) on the x87
    fldln2
    fld     dword [rsp-8]
    fyl2x
    fstp    dword [rsp-8]
    vmovss  xmm6, [rsp-8]
    vmovss  xmm8, [rdi + rdx*4]          ; shifted[label]
    vsubss  xmm8, xmm8, xmm2
    vsubss  xmm6, xmm6, xmm8
    vcvtss2sd xmm6, xmm6, xmm6
    vaddsd  xmm7, xmm7, xmm6
    test    r8, r8
    jz      .next
    vbroadcastss ymm5, xmm5
    vdivps  ymm3, ymm3, ymm5             ; softmax
    vdivps  ymm4, ymm4, ymm5
    vmovd   xmm6, edx
    vpbroadcastd ymm6, xmm6
    vpcmpeqd ymm8, ymm6, [iota_lo]       ; onehot
    vpcmpeqd ymm9, ymm6, [iota_hi]
    vandps  ymm8, ymm8, [c_one]
    vandps  ymm9, ymm9, [c_one]
    vsubps  ymm3, ymm3, ymm8
    vsubps  ymm4, ymm4, ymm9
    vdivps  ymm3, ymm3, ymm11            ; / batch
    vdivps  ymm4, ymm4, ymm11
    vmaskmovps [r8], ymm14, ymm3
    vmaskmovps [r8+32], ymm15, ymm4
    lea     r8, [r8 + r10*4]
.next:
    lea     rdi, [rdi + r10*4]
    add     rsi, 4
    dec     r11
    jnz     .row
.done:
    pop     rcx
    mov     [r9], rbx
    vmovsd  xmm0, xmm7, xmm7
    pop     rbx
    vzeroupper
    ret

; void mnist_colsum_avx2(const float *x, int64_t rows, int64_t cols, int64_t ld, float *out)
global mnist_colsum_avx2
align 32
mnist_colsum_avx2:
    push    rbx
    push    r12
    mov     r9, rdx                      ; cols
    shl     rcx, 2
    mov     r10, rcx                     ; ld bytes
    xor     r11d, r11d                   ; j0
.chunk:
    cmp     r11, r9
    jge     .done
    mov     rdx, r9
    sub     rdx, r11
    LANEMASK ymm12, rdx
    sub     rdx, 8
    LANEMASK ymm13, rdx
    sub     rdx, 8
    LANEMASK ymm14, rdx
    sub     rdx, 8
    LANEMASK ymm15, rdx
    vxorps  ymm0, ymm0, ymm0
    vxorps  ymm1, ymm1, ymm1
    vxorps  ymm2, ymm2, ymm2
    vxorps  ymm3, ymm3, ymm3
    lea     rax, [rdi + r11*4]
    mov     rbx, rsi
    test    rbx, rbx
    jle     .store
    mov     r12, r9
    sub     r12, r11
    cmp     r12, 32
    jl      .masked_rows
.rowloop:                                ; full 32-column chunk
    vaddps  ymm0, ymm0, [rax]
    vaddps  ymm1, ymm1, [rax+32]
    vaddps  ymm2, ymm2, [rax+64]
    vaddps  ymm3, ymm3, [rax+96]
    add     rax, r10
    dec     rbx
    jnz     .rowloop
    jmp     .store
.masked_rows:
    vmaskmovps ymm4, ymm12, [rax]
    vmaskmovps ymm5, ymm13, [rax+32]
    vmaskmovps ymm6, ymm14, [rax+64]
    vmaskmovps ymm7, ymm15, [rax+96]
    vaddps  ymm0, ymm0, ymm4
    vaddps  ymm1, ymm1, ymm5
    vaddps  ymm2, ymm2, ymm6
    vaddps  ymm3, ymm3, ymm7
    add     rax, r10
    dec     rbx
    jnz     .masked_rows
.store:
    vmaskmovps [r8 + r11*4], ymm12, ymm0
    vmaskmovps [r8 + r11*4 + 32], ymm13, ymm1
    vmaskmovps [r8 + r11*4 + 64], ymm14, ymm2
    vmaskmovps [r8 + r11*4 + 96], ymm15, ymm3
    add     r11, 32
    jmp     .chunk
.done:
    pop     r12
    pop     rbx
    vzeroupper
    ret

; void mnist_sgd_avx2(float *p, float *vel, const float *g, int64_t n, float lr, float mom)
global mnist_sgd_avx2
align 32
mnist_sgd_avx2:
    vbroadcastss ymm14, xmm0             ; lr
    vbroadcastss ymm15, xmm1             ; mom
    mov     r8, rcx
.loop:
    cmp     r8, 8
    jl      .tail
    vmovups ymm0, [rsi]
    vfmadd213ps ymm0, ymm15, [rdx]       ; vel = mom*vel + g
    vmovups ymm2, [rdi]
    vfnmadd231ps ymm2, ymm14, ymm0       ; p = p - lr*vel
    vmovups [rsi], ymm0
    vmovups [rdi], ymm2
    add     rsi, 32
    add     rdx, 32
    add     rdi, 32
    sub     r8, 8
    jmp     .loop
.tail:
    test    r8, r8
    jle     .done
    LANEMASK ymm13, r8
    vmaskmovps ymm0, ymm13, [rsi]
    vmaskmovps ymm1, ymm13, [rdx]
    vfmadd213ps ymm0, ymm15, ymm1
    vmaskmovps ymm2, ymm13, [rdi]
    vfnmadd231ps ymm2, ymm14, ymm0
    vmaskmovps [rsi], ymm13, ymm0
    vmaskmovps [rdi], ymm13, ymm2
.done:
    vzeroupper
    ret

; void mnist_u8_to_f32_avx2(float *dst, const uint8_t *src, int64_t n): dst = src / 255
global mnist_u8_to_f32_avx2
align 32
mnist_u8_to_f32_avx2:
    vmovaps ymm15, [c_255]
    mov     r8, rdx
.loop:
    cmp     r8, 8
    jl      .tail
    vpmovzxbd ymm0, [rsi]
    vcvtdq2ps ymm0, ymm0
    vdivps  ymm0, ymm0, ymm15
    vmovups [rdi], ymm0
    add     rsi, 8
    add     rdi, 32
    sub     r8, 8
    jmp     .loop
.tail:
    test    r8, r8
    jle     .done
    movzx   eax, byte [rsi]
    vcvtsi2ss xmm0, xmm0, eax
    vdivss  xmm0, xmm0, xmm15
    vmovss  [rdi], xmm0
    inc     rsi
    add     rdi, 4
    dec     r8
    jmp     .tail
.done:
    vzeroupper
    ret

NOTE_GNU_STACK
