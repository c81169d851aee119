; AVX2 + FMA GEMM: 6 x 16 register-tiled micro-kernel (12 ymm accumulators), NR = 16
; packed B panels, masked edges. The fallback for CPUs without AVX-512 (and the path
; MNIST_ASM_ISA=avx2 forces). Entry: mnist_sgemm_avx2.
%include "common.inc"
%include "gemm_driver.inc"

%define MR 6
%define NR 16

section .rodata
align 32
mask_table: times 16 dd -1              ; [16 - n] .. : n lanes of -1, then 0
            times 16 dd 0

section .text

; ---------------------------------------------------------------- micro-kernels
; In:  rdi = &A(i0, p0), rsi = packed B panel (kc x 16), rcx = kc,
;      r8 = A row stride (bytes), r9 = A column stride (bytes), rdx = tile (MR x 16).
; Rows 0-3 through rdi, 4-5 through rax (offsets 0, rs, 2rs, 3rs = r11).
%macro ROW_ADDR 1
  %assign q (%1) / 4
  %assign o (%1) % 4
  %if q == 0
    %define BASE rdi
  %else
    %define BASE rax
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
uk256_%1:
  %assign r 0
  %rep 2*(%1)
    vxorps  ymm %+ r, ymm %+ r, ymm %+ r
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
align 16
%%loop:
    vmovaps ymm12, [rsi]
    vmovaps ymm13, [rsi+32]
  %assign r 0
  %rep %1
    ROW_ADDR r
    %assign bc 14 + (r % 2)
    %assign a0 2*r
    %assign a1 2*r+1
    vbroadcastss ymm %+ bc, ADDR
    vfmadd231ps ymm %+ a0, ymm12, ymm %+ bc
    vfmadd231ps ymm %+ a1, ymm13, ymm %+ bc
    %assign r r+1
  %endrep
    add     rsi, 64
    add     rdi, r9
  %if %1 > 4
    add     rax, r9
  %endif
    test    r15, r15
    jz      %%no_pf
    prefetcht0 [r12]
    prefetcht0 [r13]
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
    vmovaps [rdx + r*64], ymm %+ a0
    vmovaps [rdx + r*64 + 32], ymm %+ a1
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
uk256_table:
%assign m 1
%rep MR
    dd uk256_ %+ m - uk256_table
%assign m m+1
%endrep

; ymm14 = lanes 0..7 valid, ymm15 = lanes 8..15 valid, for nr (in rcx, 0..16) columns.
%macro NR_MASKS 0
    lea     rax, [mask_table + 64]
    neg     rcx
    vmovdqu ymm14, [rax + rcx*4]
    vmovdqu ymm15, [rax + rcx*4 + 32]
    neg     rcx
%endmacro

; ---------------------------------------------------------------- packing
; mnist_pack_avx2(dst, src, rsb_bytes, csb_bytes, kc, nr): 16 floats per p, zero padded.
global mnist_pack_avx2
align 32
mnist_pack_avx2:
    cmp     rcx, 4
    jne     .strided
    test    r8, r8
    jz      .copy_done
    cmp     r9, NR
    jne     .copy_masked
.copy:
    vmovups ymm0, [rsi]
    vmovups ymm1, [rsi+32]
    vmovaps [rdi], ymm0
    vmovaps [rdi+32], ymm1
    add     rsi, rdx
    add     rdi, 64
    dec     r8
    jnz     .copy
.copy_done:
    vzeroupper
    ret
.copy_masked:
    push    rcx
    mov     rcx, r9
    NR_MASKS
    pop     rcx
.copy_m:
    vmaskmovps ymm0, ymm14, [rsi]
    vmaskmovps ymm1, ymm15, [rsi+32]
    vmovaps [rdi], ymm0
    vmovaps [rdi+32], ymm1
    add     rsi, rdx
    add     rdi, 64
    dec     r8
    jnz     .copy_m
    vzeroupper
    ret
.strided:
    cmp     r9, NR
    jge     .zeroed
    vxorps  ymm0, ymm0, ymm0
    mov     rax, rdi
    mov     r10, r8
    test    r10, r10
    jz      .zeroed
.zero:
    vmovaps [rax], ymm0
    vmovaps [rax+32], ymm0
    add     rax, 64
    dec     r10
    jnz     .zero
.zeroed:
    call    .strided_body
    vzeroupper
    ret
.strided_body:
    PACK_STRIDED NR

; ---------------------------------------------------------------- epilogue
; EPI_MODES full|masked: dispatch on the mode, one loop per mode over the tile's rows
%macro LOADM 3                            ; LOADM dst, [mem], maskreg  (variant-aware)
  %ifidn VARIANT, full
    vmovups %1, %2
  %else
    vmaskmovps %1, %3, %2
  %endif
%endmacro
%macro STOREM 3                           ; STOREM [mem], src, maskreg
  %ifidn VARIANT, full
    vmovups %1, %2
  %else
    vmaskmovps %1, %3, %2
  %endif
%endmacro
%macro LOAD_ROW 0
    vmovaps ymm0, [rsi]
    vmovaps ymm1, [rsi+32]
    test    r11, r11
    jz      %%fresh
    LOADM   ymm2, [rdx], ymm14
    LOADM   ymm3, [rdx+32], ymm15
    vaddps  ymm0, ymm0, ymm2
    vaddps  ymm1, ymm1, ymm3
%%fresh:
%endmacro
%macro STORE_ROW 0
    STOREM  [rdx], ymm0, ymm14
    STOREM  [rdx+32], ymm1, ymm15
    add     rsi, 64
    add     rdx, r9
%endmacro
%macro EPI_MODES 1
  %define VARIANT %1
    cmp     r10, EPI_BIAS
    je      %%bias
    cmp     r10, EPI_BIAS_RELU
    je      %%bias_relu
    cmp     r10, EPI_RELU_MASK
    je      %%relu_mask
    cmp     r10, EPI_SGD
    je      %%sgd
%%store:
    LOAD_ROW
    STORE_ROW
    dec     r8
    jnz     %%store
    vzeroupper
    ret
%%bias:
    mov     rax, [rdi+E_BIAS]
    LOADM   ymm10, [rax], ymm14
    LOADM   ymm11, [rax+32], ymm15
%%bias_row:
    LOAD_ROW
    vaddps  ymm0, ymm0, ymm10
    vaddps  ymm1, ymm1, ymm11
    STORE_ROW
    dec     r8
    jnz     %%bias_row
    vzeroupper
    ret
%%bias_relu:
    mov     rax, [rdi+E_BIAS]
    LOADM   ymm10, [rax], ymm14
    LOADM   ymm11, [rax+32], ymm15
%%bias_relu_row:
    LOAD_ROW
    vaddps  ymm0, ymm0, ymm10
    vaddps  ymm1, ymm1, ymm11
    vmaxps  ymm0, ymm0, ymm13
    vmaxps  ymm1, ymm1, ymm13
    STORE_ROW
    dec     r8
    jnz     %%bias_relu_row
    vzeroupper
    ret
%%relu_mask:
    mov     rax, [rdi+E_MASK]
%%relu_mask_row:
    LOAD_ROW
    LOADM   ymm4, [rax], ymm14
    LOADM   ymm5, [rax+32], ymm15
    vcmpltps ymm4, ymm13, ymm4            ; 0 < mask
    vcmpltps ymm5, ymm13, ymm5
    vandps  ymm0, ymm0, ymm4
    vandps  ymm1, ymm1, ymm5
    add     rax, r9
    STORE_ROW
    dec     r8
    jnz     %%relu_mask_row
    vzeroupper
    ret
%%sgd:
    mov     rax, [rdi+E_VEL]
    vbroadcastss ymm8, [rdi+E_LR]
    vbroadcastss ymm9, [rdi+E_MOM]
%%sgd_row:
    LOAD_ROW
    LOADM   ymm2, [rax], ymm14
    LOADM   ymm3, [rax+32], ymm15
    vfmadd213ps ymm2, ymm9, ymm0          ; vel = mom*vel + g
    vfmadd213ps ymm3, ymm9, ymm1
    LOADM   ymm4, [rdx], ymm14
    LOADM   ymm5, [rdx+32], ymm15
    vfnmadd231ps ymm4, ymm8, ymm2         ; w = w - lr*vel
    vfnmadd231ps ymm5, ymm8, ymm3
    STOREM  [rax], ymm2, ymm14
    STOREM  [rax+32], ymm3, ymm15
    STOREM  [rdx], ymm4, ymm14
    STOREM  [rdx+32], ymm5, ymm15
    add     rax, r9
    add     rsi, 64
    add     rdx, r9
    dec     r8
    jnz     %%sgd_row
    vzeroupper
    ret
%endmacro

; rdi = epilogue block. Full-width tiles (nr = 16) use plain loads and stores, narrower
; ones vmaskmovps with the masks in ymm14/ymm15. Same arithmetic as the AVX-512 path.
align 32
epi256:
    mov     rsi, [rdi+E_TILE]
    mov     r8, [rdi+E_MR]
    mov     rdx, [rdi+E_C]
    mov     r9, [rdi+E_LDC]
    mov     r11, [rdi+E_ACC]
    mov     r10, [rdi+E_MODE]
    mov     rcx, [rdi+E_NR]
    NR_MASKS
    vxorps  ymm13, ymm13, ymm13
    cmp     rcx, NR
    jne     .masked
    EPI_MODES full
.masked:
    EPI_MODES masked

; ---------------------------------------------------------------- entry points
; void mnist_sgemm_avx2(const GemmArgs *g)
GEMM_DRIVER mnist_sgemm_avx2, MR, NR, uk256_table, mnist_pack_avx2, epi256

; void mnist_fma_peak_avx2(int64_t iterations): 12 independent FMA chains, 192 FLOP each.
global mnist_fma_peak_avx2
align 32
mnist_fma_peak_avx2:
  %assign r 0
  %rep 12
    vxorps  ymm %+ r, ymm %+ r, ymm %+ r
    %assign r r+1
  %endrep
    vxorps  ymm14, ymm14, ymm14
    vxorps  ymm15, ymm15, ymm15
    test    rdi, rdi
    jle     .done
.loop:
  %assign r 0
  %rep 12
    vfmadd231ps ymm %+ r, ymm14, ymm15
    %assign r r+1
  %endrep
    dec     rdi
    jnz     .loop
.done:
    vzeroupper
    ret

NOTE_GNU_STACK
