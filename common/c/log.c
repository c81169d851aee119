/* Errors and exit statuses (SPEC.md §7), the logfmt log lines on stdout (§6), the progress lines on
 * stderr (§6, "Progress") and the clocks they use. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract.h"

/* ================================================================ errors */
jmp_buf *fail_jump;
int fail_status;
char fail_message[1024];

noreturn void fail(int status, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(fail_message, sizeof fail_message, format, ap);
    va_end(ap);
    for (char *c = fail_message; *c; c++)  /* one line, even for a file name with a newline in it */
        if (*c == '\n' || *c == '\r') *c = ' ';
    fail_status = status;
    fflush(stdout);
    if (fail_jump) longjmp(*fail_jump, 1);
    fprintf(stderr, "error: %s\n", fail_message);
    exit(status);
}

void check_finite(int64_t epoch, double train_loss) {
    if (!isfinite(train_loss))
        fail(EXIT_DIVERGED, "training diverged in epoch %lld: the training loss is %s; try a smaller --lr",
             (long long)epoch, isnan(train_loss) ? "nan" : train_loss > 0 ? "inf" : "-inf");
}

/* ================================================================ clocks */
static double clock_seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double now_seconds(void) { return clock_seconds(CLOCK_MONOTONIC); }
double process_cpu_seconds(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

/* ================================================================ log lines */
const char *format_number(double value) {
    static char text[64];
    char digits[40];
    int precision = 1;
    for (; precision < 17; precision++) {  /* the fewest significant digits that read back the same */
        snprintf(digits, sizeof digits, "%.*e", precision - 1, value);
        if (strtod(digits, NULL) == value) break;
    }
    snprintf(digits, sizeof digits, "%.*e", precision - 1, value);
    int exponent = atoi(strchr(digits, 'e') + 1);
    if (exponent < -4 || exponent >= 16) return strcpy(text, digits);  /* 1e-05, 1e+16 */
    int decimals = precision - 1 - exponent;
    snprintf(text, sizeof text, "%.*f", decimals > 1 ? decimals : 1, value);  /* 0.05, 1000000.0 */
    return text;
}

const char *c_language(void) {
    static char text[64];
#if defined(__clang__)
    snprintf(text, sizeof text, "c11/clang-%d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    snprintf(text, sizeof text, "c11/gcc-%d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    snprintf(text, sizeof text, "c11/cc");
#endif
    return text;
}

void log_start(const char *row, const char *language, const char *framework, const char *device) {
    printf("event=start row=%s language=%s framework=%s device=%s\n", row, language, framework, device);
    fflush(stdout);
}

void log_config(const Args *args) {
    printf("event=config dataset=%s epochs=%lld batch_size=%lld lr=%s", args->dataset, (long long)args->epochs,
           (long long)args->batch_size, format_number(args->lr));
    printf(" momentum=%s seed=%u limit_train=%lld shuffle=%d init=%d\n", format_number(args->momentum),
           (unsigned)args->seed, (long long)args->limit_train, args->shuffle ? 1 : 0, args->init ? 1 : 0);
    fflush(stdout);
}

void log_data(const Dataset *data, double seconds) {
    printf("event=data train=%lld val=%lld test=%lld seconds=%.3f\n", (long long)data->train.n,
           (long long)data->val.n, (long long)data->test.n, seconds);
    fflush(stdout);
}

void log_warmup(double seconds) {
    printf("event=warmup seconds=%.3f\n", seconds);
    fflush(stdout);
}

void log_epoch(int64_t epoch, double train_loss, double train_acc, double val_loss, double val_acc,
               double seconds) {
    printf("event=epoch epoch=%lld train_loss=%.6f train_acc=%.6f val_loss=%.6f val_acc=%.6f seconds=%.3f\n",
           (long long)epoch, train_loss, train_acc, val_loss, val_acc, seconds);
    fflush(stdout);
}

void log_test(double test_loss, double test_acc, double seconds) {
    printf("event=test test_loss=%.6f test_acc=%.6f seconds=%.3f\n", test_loss, test_acc, seconds);
    fflush(stdout);
}

int argmax(const float *z, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (z[i] > z[best]) best = i;
    return best;
}

void log_predict(int64_t index, const float probabilities[CLASSES]) {
    printf("event=predict index=%lld class=%d", (long long)index, argmax(probabilities, CLASSES));
    for (int c = 0; c < CLASSES; c++) printf(" p%d=%.6f", c, probabilities[c]);
    printf("\n");
    fflush(stdout);
}

/* ================================================================ progress (stderr) */
#define PROGRESS_INTERVAL 0.25  /* seconds between progress lines, at least */

static double last_progress = -INFINITY;

static void progress_line(double now, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void progress_line(double now, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    fputs("event=progress ", stderr);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
    last_progress = now;
}

void progress_start(const char *row) { progress_line(now_seconds(), "stage=start row=%s", row); }
void progress_data(const char *dataset) { progress_line(now_seconds(), "stage=data dataset=%s", dataset); }
void progress_warmup(void) { progress_line(now_seconds(), "stage=warmup"); }

void progress_train_at(double now, int64_t epoch, int64_t epochs, int64_t batch, int64_t batches,
                       double loss_sum, int64_t examples) {
    if (now - last_progress < PROGRESS_INTERVAL) return;
    progress_line(now, "stage=train epoch=%lld epochs=%lld batch=%lld batches=%lld loss=%.6f", (long long)epoch,
                  (long long)epochs, (long long)batch, (long long)batches,
                  examples > 0 ? loss_sum / (double)examples : 0.0);
}

void progress_train(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss_sum,
                    int64_t examples) {
    progress_train_at(now_seconds(), epoch, epochs, batch, batches, loss_sum, examples);
}
