; AVX-512 GEMM: 12 x 32 register-tiled micro-kernel (24 zmm accumulators, two FMA
; per broadcast), NR = 32 packed B panels, masked edges. Entry: mnist_sgemm_avx512.
%include "common.inc"
%include "gemm_driver.inc"

%define MR 12
%define NR 32

section .text

; ---------------------------------------------------------------- micro-kernels
; In:  rdi = &A(i0, p0), rsi = packed B panel (kc x 32), rcx = kc,
;      r8 = A row stride (bytes), r9 = A column stride (bytes), rdx = tile (MR x 32).
; Out: tile rows 0..mr-1 = sum over p of A(i, p) * B(p, 0..31).
; Clobbers rax, rcx, rsi, rdi, r10, r11, zmm0-31. Rows 0-3 are read through rdi,
; 4-7 through rax, 8-11 through r10, at offsets 0, rs, 2rs, 3rs (r11 = 3rs).
%macro ROW_ADDR 1
  %assign q (%1) / 4
  %assign o (%1) % 4
  %if q == 0
    %define BASE rdi
  %elif q == 1
    %define BASE rax
  %else
    %define BASE r10
  %endif
  %if o == 0
    %define ADDR [BASE]
  %elif o == 1
    %define ADDR [BASE+r8]
  %elif o == 2
    %define ADDR [BASE+r8*2]
  %else
    %define ADDR [BASE+r11]
  %endif
%endmacro

%macro UKERNEL 1
align 32
uk512_%1:
  %assign r 0
  %rep 2*(%1)
    vpxord  zmm %+ r, zmm %+ r, zmm %+ r
    %assign r r+1
  %endrep
    push    r12
    push    r13
    push    r14
    push    r15
    mov     r12, [rdx + TILE_TO_EPI + E_PF1]
    mov     r13, [rdx + TILE_TO_EPI + E_PF2]
    mov     r14, [rdx + TILE_TO_EPI + E_LDC]
    mov     r15, [rdx + TILE_TO_EPI + E_PFROWS]
    test    rcx, rcx
    jz      %%store
    lea     r11, [r8 + r8*2]
  %if %1 > 4
    lea     rax, [rdi + r8*4]
  %endif
  %if %1 > 8
    lea     r10, [rax + r8*4]
  %endif
align 16
%%loop:
    vmovaps zmm30, [rsi]
    vmovaps zmm31, [rsi+64]
  %assign r 0
  %rep %1
    ROW_ADDR r
    %assign bc 28 + (r % 2)
    %assign a0 2*r
    %assign a1 2*r+1
    vbroadcastss zmm %+ bc, ADDR
    vfmadd231ps zmm %+ a0, zmm30, zmm %+ bc
    vfmadd231ps zmm %+ a1, zmm31, zmm %+ bc
    %assign r r+1
  %endrep
    add     rsi, 128
    add     rdi, r9
  %if %1 > 4
    add     rax, r9
  %endif
  %if %1 > 8
    add     r10, r9
  %endif
    test    r15, r15
    jz      %%no_pf
    prefetcht0 [r12]
    prefetcht0 [r13]
    prefetcht0 [r12+64]
    prefetcht0 [r13+64]
    add     r12, r14
    add     r13, r14
    dec     r15
%%no_pf:
    dec     rcx
    jnz     %%loop
%%store:
  %assign r 0
  %rep %1
    %assign a0 2*r
    %assign a1 2*r+1
    vmovaps [rdx + r*128], zmm %+ a0
    vmovaps [rdx + r*128 + 64], zmm %+ a1
    %assign r r+1
  %endrep
    pop     r15
    pop     r14
    pop     r13
    pop     r12
    ret
%endmacro

%assign m 1
%rep MR
UKERNEL m
%assign m m+1
%endrep

align 8
uk512_table:                            ; offsets, so that the table needs no relocation
%assign m 1
%rep MR
    dd uk512_ %+ m - uk512_table
%assign m m+1
%endrep

; k1 = lanes 0..15 valid, k2 = lanes 16..31 valid, for nr (in ecx, 0..32) columns.
%macro NR_MASKS 0
    cmp     ecx, 16
    jb      %%lt16
    mov     eax, 0xFFFF
    kmovw   k1, eax
    sub     ecx, 16
    mov     eax, 1
    shl     eax, cl
    dec     eax
    kmovw   k2, eax
    jmp     %%done
%%lt16:
    mov     eax, 1
    shl     eax, cl
    dec     eax
    kmovw   k1, eax
    kxorw   k2, k2, k2
%%done:
%endmacro

; ---------------------------------------------------------------- packing
; mnist_pack_avx512(dst, src, rsb_bytes, csb_bytes, kc, nr): panel[p][j] = B(p, j),
; 32 floats per p, columns nr..31 zero. Contiguous rows are copied with masked loads,
; k-contiguous sources (B = Wᵀ) are transposed 8 x 8.
global mnist_pack_avx512
align 32
mnist_pack_avx512:
    cmp     rcx, 4
    jne     .strided
    push    rcx
    mov     ecx, r9d
    NR_MASKS
    pop     rcx
    test    r8, r8
    jz      .copy_done
.copy:
    vmovups zmm0{k1}{z}, [rsi]
    vmovups zmm1{k2}{z}, [rsi+64]
    vmovaps [rdi], zmm0
    vmovaps [rdi+64], zmm1
    add     rsi, rdx
    add     rdi, 128
    dec     r8
    jnz     .copy
.copy_done:
    vzeroupper
    ret
.strided:
    cmp     r9, NR                      ; zero the panel when it has padding columns
    jge     .zeroed
    vpxord  zmm0, zmm0, zmm0
    mov     rax, rdi
    mov     r10, r8
    test    r10, r10
    jz      .zeroed
.zero:
    vmovaps [rax], zmm0
    vmovaps [rax+64], zmm0
    add     rax, 128
    dec     r10
    jnz     .zero
.zeroed:
    call    .strided_body
    vzeroupper
    ret
.strided_body:
    PACK_STRIDED NR

; ---------------------------------------------------------------- epilogue
; In: rdi = epilogue block (common.inc E_*). Applies the block's mode to mr rows of the
; tile and writes them to C (and vel for SGD), masked to nr columns.
align 32
epi512:
    mov     rcx, [rdi+E_NR]
    NR_MASKS
    mov     rsi, [rdi+E_TILE]
    mov     r8, [rdi+E_MR]
    mov     rdx, [rdi+E_C]
    mov     r9, [rdi+E_LDC]
    mov     r11, [rdi+E_ACC]
    mov     r10, [rdi+E_MODE]
    vpxord  zmm31, zmm31, zmm31
    cmp     r10, EPI_BIAS
    je      .bias
    cmp     r10, EPI_BIAS_RELU
    je      .bias_relu
    cmp     r10, EPI_RELU_MASK
    je      .relu_mask
    cmp     r10, EPI_SGD
    je      .sgd

%macro LOAD_ROW 0                         ; zmm0:zmm1 = tile row (+ C row)
    vmovaps zmm0, [rsi]
    vmovaps zmm1, [rsi+64]
    test    r11, r11
    jz      %%fresh
    vaddps  zmm0{k1}, zmm0, [rdx]
    vaddps  zmm1{k2}, zmm1, [rdx+64]
%%fresh:
%endmacro
%macro STORE_ROW 0
    vmovups [rdx]{k1}, zmm0
    vmovups [rdx+64]{k2}, zmm1
    add     rsi, 128
    add     rdx, r9
%endmacro

.store:
    LOAD_ROW
    STORE_ROW
    dec     r8
    jnz     .store
    ret

.bias:
    mov     rax, [rdi+E_BIAS]
    vmovups zmm29{k1}{z}, [rax]
    vmovups zmm30{k2}{z}, [rax+64]
.bias_row:
    LOAD_ROW
    vaddps  zmm0, zmm0, zmm29
    vaddps  zmm1, zmm1, zmm30
    STORE_ROW
    dec     r8
    jnz     .bias_row
    ret

.bias_relu:
    mov     rax, [rdi+E_BIAS]
    vmovups zmm29{k1}{z}, [rax]
    vmovups zmm30{k2}{z}, [rax+64]
.bias_relu_row:
    LOAD_ROW
    vaddps  zmm0, zmm0, zmm29
    vaddps  zmm1, zmm1, zmm30
    vmaxps  zmm0, zmm0, zmm31
    vmaxps  zmm1, zmm1, zmm31
    STORE_ROW
    dec     r8
    jnz     .bias_relu_row
    ret

.relu_mask:                              ; C = sum where mask > 0 (mask = the ReLU output)
    mov     rax, [rdi+E_MASK]
.relu_mask_row:
    LOAD_ROW
    vcmpps  k3{k1}, zmm31, [rax], 1      ; 0 < mask
    vcmpps  k4{k2}, zmm31, [rax+64], 1
    vmovaps zmm0{k3}{z}, zmm0
    vmovaps zmm1{k4}{z}, zmm1
    add     rax, r9
    STORE_ROW
    dec     r8
    jnz     .relu_mask_row
    ret

.sgd:                                    ; vel = mom*vel + g ; w = w - lr*vel
    mov     rax, [rdi+E_VEL]
    vbroadcastss zmm29, [rdi+E_LR]
    vbroadcastss zmm30, [rdi+E_MOM]
.sgd_row:
    LOAD_ROW
    vmovups zmm2{k1}{z}, [rax]
    vmovups zmm3{k2}{z}, [rax+64]
    vfmadd213ps zmm2, zmm30, zmm0
    vfmadd213ps zmm3, zmm30, zmm1
    vmovups zmm4{k1}{z}, [rdx]
    vmovups zmm5{k2}{z}, [rdx+64]
    vfnmadd231ps zmm4, zmm29, zmm2
    vfnmadd231ps zmm5, zmm29, zmm3
    vmovups [rax]{k1}, zmm2
    vmovups [rax+64]{k2}, zmm3
    vmovups [rdx]{k1}, zmm4
    vmovups [rdx+64]{k2}, zmm5
    add     rax, r9
    add     rsi, 128
    add     rdx, r9
    dec     r8
    jnz     .sgd_row
    ret

; ---------------------------------------------------------------- entry points
; void mnist_sgemm_avx512(const GemmArgs *g)
GEMM_DRIVER mnist_sgemm_avx512, MR, NR, uk512_table, mnist_pack_avx512, epi512

; void mnist_fma_peak_avx512(int64_t iterations): 24 independent FMA chains,
; 768 FLOP per iteration -- measures the core's fp32 FMA throughput (bench only).
global mnist_fma_peak_avx512
align 32
mnist_fma_peak_avx512:
  %assign r 0
  %rep 24
    vpxord  zmm %+ r, zmm %+ r, zmm %+ r
    %assign r r+1
  %endrep
    vpxord  zmm30, zmm30, zmm30
    vpxord  zmm31, zmm31, zmm31
    test    rdi, rdi
    jle     .done
.loop:
  %assign r 0
  %rep 24
    vfmadd231ps zmm %+ r, zmm30, zmm31
    %assign r r+1
  %endrep
    dec     rdi
    jnz     .loop
.done:
    vzeroupper
    ret

NOTE_GNU_STACK
