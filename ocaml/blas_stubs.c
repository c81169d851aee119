/* The OCaml row's way to OpenBLAS: a float32 matrix product (below), the optimiser's saxpby
 * and the library's version string; then the three element-wise loops of a step that OCaml
 * runs slowly (end of file). The matrix product:
 *
 *   c <- alpha * op(a) . op(b) + beta * c      (op = transpose when the flag is true)
 *
 * a, b and c are row-major (C layout) float32 Bigarray.Array2 values; main.ml checks
 * their shapes before calling, so this stub only reads them off and calls cblas_sgemm. */
#include <cblas.h>
#include <caml/bigarray.h>
#include <caml/memory.h>
#include <caml/mlvalues.h>
#include <caml/alloc.h>
#include <caml/fail.h>

value ocaml_sgemm(value trans_a, value trans_b, value alpha, value a, value b, value beta, value c)
{
    struct caml_ba_array *A = Caml_ba_array_val(a), *B = Caml_ba_array_val(b), *C = Caml_ba_array_val(c);
    int m = (int)C->dim[0], n = (int)C->dim[1];
    int k = Bool_val(trans_a) ? (int)A->dim[0] : (int)A->dim[1];
    cblas_sgemm(CblasRowMajor,
                Bool_val(trans_a) ? CblasTrans : CblasNoTrans,
                Bool_val(trans_b) ? CblasTrans : CblasNoTrans,
                m, n, k, (float)Double_val(alpha),
                (const float *)A->data, (int)A->dim[1],
                (const float *)B->data, (int)B->dim[1],
                (float)Double_val(beta), (float *)C->data, n);
    return Val_unit;
}

value ocaml_sgemm_bytecode(value *argv, int argn)
{
    (void)argn;
    return ocaml_sgemm(argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6]);
}

/* "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." -> the start event's framework field. */
extern char *openblas_get_config(void);

value ocaml_openblas_config(value unit)
{
    (void)unit;
    return caml_copy_string(openblas_get_config());
}

/* y <- alpha * x + beta * y for float32 Bigarray.Array1 values of the same length (checked
 * here: Invalid_argument otherwise): the optimiser's two lines, buf = mu*buf + g and
 * p = p - lr*buf. */
value ocaml_saxpby(value alpha, value x, value beta, value y)
{
    struct caml_ba_array *X = Caml_ba_array_val(x), *Y = Caml_ba_array_val(y);
    if (X->dim[0] != Y->dim[0])
        caml_invalid_argument("saxpby: the vectors' lengths differ");
    cblas_saxpby((int)Y->dim[0], (float)Double_val(alpha), (const float *)X->data, 1,
                 (float)Double_val(beta), (float *)Y->data, 1);
    return Val_unit;
}

/* The element-wise loops over a [rows, cols] float32 Bigarray.Array2 (main.ml checks the shapes).
 * In OCaml 4.13 each element is a float32->double conversion and a branch that mispredicts on
 * about half the elements of a ReLU; these loops compile to branch-free SIMD (compare, mask). */
#define ELEMENTS(m) ((long)Caml_ba_array_val(m)->dim[0] * (long)Caml_ba_array_val(m)->dim[1])

/* m <- max(m, 0), in place: the ReLU. */
value ocaml_relu(value m)
{
    float *x = (float *)Caml_ba_data_val(m);
    for (long i = 0, n = ELEMENTS(m); i < n; i++)
        x[i] = x[i] < 0.f ? 0.f : x[i];
    return Val_unit;
}

/* grad <- grad * (h > 0), in place: the ReLU's backward pass. */
value ocaml_relu_backward(value grad, value h)
{
    float *g = (float *)Caml_ba_data_val(grad);
    const float *a = (const float *)Caml_ba_data_val(h);
    for (long i = 0, n = ELEMENTS(h); i < n; i++)
        g[i] = a[i] <= 0.f ? 0.f : g[i];
    return Val_unit;
}

/* sums[j] <- sum over i of m[i, j], row by row (the order the OCaml loop used): a bias gradient. */
value ocaml_column_sums(value m, value sums)
{
    const float *x = (const float *)Caml_ba_data_val(m);
    float *s = (float *)Caml_ba_data_val(sums);
    long rows = Caml_ba_array_val(m)->dim[0], cols = Caml_ba_array_val(m)->dim[1];
    for (long j = 0; j < cols; j++) s[j] = 0.f;
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols; j++) s[j] += x[i * cols + j];
    return Val_unit;
}
