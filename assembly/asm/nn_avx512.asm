; AVX-512 kernels around the GEMMs: softmax cross-entropy (loss, gradient, argmax),
; bias-gradient column sums, the SGD-momentum update and the uint8 -> [0, 1] pixel scale.
; The arithmetic (operation order included) matches nn_avx2.asm, so both ISA paths give
; bit-identical results.
%include "common.inc"

section .rodata
align 4
c_lo:     dd -87.33654          ; exp(x) clamp: 2^n stays a normal float
c_log2e:  dd 1.44269504088896341
c_ln2hi:  dd 0.693359375        ; ln 2 = ln2hi + ln2lo (Cephes)
c_ln2lo:  dd -2.12194440e-4
c_p0:     dd 1.9875691500e-4    ; exp(r) ~ 1 + r + r^2 * P(r), |r| <= ln2/2
c_p1:     dd 1.3981999507e-3
c_p2:     dd 8.3334519073e-3
c_p3:     dd 4.1665795894e-2
c_p4:     dd 1.6666665459e-1
c_p5:     dd 5.0000001201e-1
c_one:    dd 1.0
c_255:    dd 255.0
c_ninf:   dd 0xFF800000
c_127:    dd 127
align 64
iota:     dd 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15

section .text

; EXP dst, src, t1, t2, clamp: dst = exp(src) (src is clobbered), ~1 ulp.
; x = n ln2 + r with n = round(x log2e); exp(x) = 2^n (1 + r + r^2 P(r)).
%macro EXP 5
    vmaxps      %2, %5, %2                      ; clamp below; NaN stays NaN
    vmulps      %3, %2, [c_log2e]{1to16}
    vrndscaleps %3, %3, 0                       ; n, to nearest
    vfnmadd231ps %2, %3, [c_ln2hi]{1to16}        ; r = x - n ln2hi - n ln2lo
    vfnmadd231ps %2, %3, [c_ln2lo]{1to16}
    vbroadcastss %1, [c_p0]
    vfmadd213ps %1, %2, [c_p1]{1to16}
    vfmadd213ps %1, %2, [c_p2]{1to16}
    vfmadd213ps %1, %2, [c_p3]{1to16}
    vfmadd213ps %1, %2, [c_p4]{1to16}
    vfmadd213ps %1, %2, [c_p5]{1to16}
    vmulps      %4, %2, %2                      ; r^2
    vfmadd213ps %1, %4, %2                      ; P r^2 + r
    vaddps      %1, %1, [c_one]{1to16}
    vcvtps2dq   %3, %3                          ; 2^n via the exponent field
    vpaddd      %3, %3, [c_127]{1to16}
    vpslld      %3, %3, 23
    vmulps      %1, %1, %3
%endmacro

; k-register mask of the low %2 (register, may be >= 16 or <= 0) lanes of 16; clobbers eax, ecx
%macro LANEMASK 2
    xor     eax, eax
    mov     rcx, %2
    test    rcx, rcx
    jle     %%set
    mov     eax, 0xFFFF
    cmp     rcx, 16
    jge     %%set
    mov     eax, 1
    shl     eax, cl
    dec     eax
%%set:
    kmovw   %1, eax
%endmacro

; double mnist_softmax_xent_avx512(const float *logits, const int32_t *labels, int64_t rows,
;     int64_t classes, float *grad, int64_t *correct, float denom)
; Per row: shifted = z - max z; loss = ln(sum exp(shifted)) - shifted[label];
; grad = (exp(shifted) / sum - onehot) / denom (skipped when grad is NULL);
; the prediction is the first index of the max. Returns the summed loss (double) and
; writes the number of correct predictions. classes <= 16.
global mnist_softmax_xent_avx512
align 32
mnist_softmax_xent_avx512:
    push    rbx
    mov     r10, rcx                     ; classes
    mov     r11, rdx                     ; rows
    LANEMASK k1, r10
    vbroadcastss zmm16, [c_ninf]
    vbroadcastss zmm17, [c_one]
    vbroadcastss zmm18, xmm0             ; denom
    vmovdqa32 zmm19, [iota]
    vbroadcastss zmm20, [c_lo]
    vxorpd  xmm7, xmm7, xmm7             ; loss sum (double)
    xor     ebx, ebx                     ; correct
    test    r11, r11
    jle     .done
.row:
    vmovaps zmm0, zmm16
    vmovups zmm0{k1}, [rdi]              ; logits, padding lanes = -inf
    vextractf32x8 ymm1, zmm0, 1          ; max: lanes i, i+8 -> i, i+4 -> i, i+2 -> i, i+1
    vmaxps  ymm1, ymm0, ymm1
    vextractf128 xmm2, ymm1, 1
    vmaxps  xmm1, xmm1, xmm2
    vmovhlps xmm2, xmm1, xmm1
    vmaxps  xmm1, xmm1, xmm2
    vshufps xmm2, xmm1, xmm1, 0x55
    vmaxss  xmm1, xmm1, xmm2
    vbroadcastss zmm1, xmm1
    vcmpps  k2{k1}, zmm0, zmm1, 0        ; argmax = first lane equal to the max
    kmovw   eax, k2
    mov     ecx, -1
    bsf     eax, eax
    cmovz   eax, ecx
    movsxd  rdx, dword [rsi]             ; label
    cmp     eax, edx
    sete    al
    movzx   eax, al
    add     rbx, rax
    vsubps  zmm2, zmm0, zmm1             ; shifted
    EXP     zmm3, zmm2, zmm4, zmm5, zmm20
    vmovaps zmm3{k1}{z}, zmm3
    vextractf32x8 ymm4, zmm3, 1          ; sum, same tree as the max
    vaddps  ymm4, ymm3, ymm4
    vextractf128 xmm5, ymm4, 1
    vaddps  xmm4, xmm4, xmm5
    vmovhlps xmm5, xmm4, xmm4
    vaddps  xmm4, xmm4, xmm5
    vshufps xmm5, xmm4, xmm4, 0x55
    vaddss  xmm4, xmm4, xmm5
    vmovss  [rsp-8], xmm4                ; ln(sum) on the x87: ln2 * log2(sum)
    fldln2
    fld     dword [rsp-8]
    fyl2x
    fstp    dword [rsp-8]
    vmovss  xmm5, [rsp-8]
    vmovss  xmm6, [rdi + rdx*4]          ; shifted[label]
    vsubss  xmm6, xmm6, xmm1
    vsubss  xmm5, xmm5, xmm6             ; loss
    vcvtss2sd xmm5, xmm5, xmm5
    vaddsd  xmm7, xmm7, xmm5
    test    r8, r8
    jz      .next
    vbroadcastss zmm4, xmm4
    vdivps  zmm3, zmm3, zmm4             ; softmax
    vpbroadcastd zmm5, edx
    vpcmpeqd k3, zmm19, zmm5
    vsubps  zmm3{k3}, zmm3, zmm17        ; - onehot
    vdivps  zmm3, zmm3, zmm18            ; / batch
    vmovups [r8]{k1}, zmm3
    lea     r8, [r8 + r10*4]
.next:
    lea     rdi, [rdi + r10*4]
    add     rsi, 4
    dec     r11
    jnz     .row
.done:
    mov     [r9], rbx
    vmovsd  xmm0, xmm7, xmm7
    pop     rbx
    vzeroupper
    ret

; void mnist_colsum_avx512(const float *x, int64_t rows, int64_t cols, int64_t ld, float *out)
; out[j] = x[0][j] + x[1][j] + ... in row order (the bias gradient).
global mnist_colsum_avx512
align 32
mnist_colsum_avx512:
    push    rbx
    mov     r9, rdx                      ; cols
    shl     rcx, 2                       ; ld in bytes
    mov     r10, rcx
    xor     r11d, r11d                   ; j0
.chunk:
    cmp     r11, r9
    jge     .done
    mov     rdx, r9
    sub     rdx, r11                     ; remaining columns
    LANEMASK k1, rdx
    sub     rdx, 16
    LANEMASK k2, rdx
    sub     rdx, 16
    LANEMASK k3, rdx
    sub     rdx, 16
    LANEMASK k4, rdx
    vpxord  zmm0, zmm0, zmm0
    vpxord  zmm1, zmm1, zmm1
    vpxord  zmm2, zmm2, zmm2
    vpxord  zmm3, zmm3, zmm3
    lea     rax, [rdi + r11*4]
    mov     rbx, rsi
    test    rbx, rbx
    jle     .store
.rowloop:
    vaddps  zmm0{k1}, zmm0, [rax]
    vaddps  zmm1{k2}, zmm1, [rax+64]
    vaddps  zmm2{k3}, zmm2, [rax+128]
    vaddps  zmm3{k4}, zmm3, [rax+192]
    add     rax, r10
    dec     rbx
    jnz     .rowloop
.store:
    vmovups [r8 + r11*4]{k1}, zmm0
    vmovups [r8 + r11*4 + 64]{k2}, zmm1
    vmovups [r8 + r11*4 + 128]{k3}, zmm2
    vmovups [r8 + r11*4 + 192]{k4}, zmm3
    add     r11, 64
    jmp     .chunk
.done:
    pop     rbx
    vzeroupper
    ret

; void mnist_sgd_avx512(float *p, float *vel, const float *g, int64_t n, float lr, float mom)
; vel = mom*vel + g ; p = p - lr*vel   (PyTorch's SGD with momentum, no dampening)
global mnist_sgd_avx512
align 32
mnist_sgd_avx512:
    vbroadcastss zmm30, xmm0
    vbroadcastss zmm31, xmm1
    mov     r8, rcx
.loop:
    test    r8, r8
    jle     .done
    LANEMASK k1, r8
    vmovups zmm0{k1}{z}, [rsi]
    vmovups zmm1{k1}{z}, [rdx]
    vfmadd213ps zmm0, zmm31, zmm1
    vmovups zmm2{k1}{z}, [rdi]
    vfnmadd231ps zmm2, zmm30, zmm0
    vmovups [rsi]{k1}, zmm0
    vmovups [rdi]{k1}, zmm2
    add     rsi, 64
    add     rdx, 64
    add     rdi, 64
    sub     r8, 16
    jmp     .loop
.done:
    vzeroupper
    ret

; void mnist_u8_to_f32_avx512(float *dst, const uint8_t *src, int64_t n): dst = src / 255
global mnist_u8_to_f32_avx512
align 32
mnist_u8_to_f32_avx512:
    vbroadcastss zmm31, [c_255]
    mov     r8, rdx
.loop:
    test    r8, r8
    jle     .done
    LANEMASK k1, r8
    vpmovzxbd zmm0{k1}{z}, [rsi]
    vcvtdq2ps zmm0, zmm0
    vdivps  zmm0, zmm0, zmm31
    vmovups [rdi]{k1}, zmm0
    add     rsi, 16
    add     rdi, 64
    sub     r8, 16
    jmp     .loop
.done:
    vzeroupper
    ret

NOTE_GNU_STACK
