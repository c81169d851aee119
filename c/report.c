/* Error messages (SPEC.md §7) and the logfmt log lines on stdout (SPEC.md §6). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mnist.h"

static char message[1024];

int fail(int status, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(message, sizeof message, format, ap);
    va_end(ap);
    /* One line: a file name with a newline in it must not split the message. */
    for (char *c = message; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return status;
}

const char *error_message(void) { return message; }

double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The shortest decimal that reads back as the same double, like Python's repr (0.05, not 0.050000). */
static void format_number(char *out, size_t size, double value) {
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, size, "%.*g", digits, value);
        if (strtod(out, NULL) == value) return;
    }
}

void log_start(const char *row, const char *framework) {
#if defined(__clang__)
    const char *compiler = "clang";
#elif defined(__GNUC__)
    const char *compiler = "gcc";
#else
    const char *compiler = "cc";
#endif
#if defined(__GNUC__)
    printf("event=start row=%s language=c11/%s-%d.%d.%d framework=%s device=cpu\n", row, compiler, __GNUC__,
           __GNUC_MINOR__, __GNUC_PATCHLEVEL__, framework);
#else
    printf("event=start row=%s language=c11/%s framework=%s device=cpu\n", row, compiler, framework);
#endif
    fflush(stdout);
}

void log_config(const Args *args) {
    char lr[32], momentum[32];
    format_number(lr, sizeof lr, args->lr);
    format_number(momentum, sizeof momentum, args->momentum);
    printf("event=config dataset=%s epochs=%lld batch_size=%lld lr=%s momentum=%s seed=%u limit_train=%lld "
           "shuffle=%d init=%d\n",
           args->dataset, args->epochs, args->batch_size, lr, momentum, (unsigned)args->seed, args->limit_train,
           args->shuffle ? 1 : 0, args->init ? 1 : 0);
    fflush(stdout);
}

void log_data(const Dataset *data, double seconds) {
    printf("event=data train=%zu val=%zu test=%zu seconds=%.3f\n", data->train.n, data->val.n, data->test.n,
           seconds);
    fflush(stdout);
}

void log_epoch(long long epoch, double train_loss, double train_acc, double val_loss, double val_acc,
               double seconds) {
    printf("event=epoch epoch=%lld train_loss=%.6f train_acc=%.6f val_loss=%.6f val_acc=%.6f seconds=%.3f\n", epoch,
           train_loss, train_acc, val_loss, val_acc, seconds);
    fflush(stdout);
}

void log_test(double test_loss, double test_acc, double seconds) {
    printf("event=test test_loss=%.6f test_acc=%.6f seconds=%.3f\n", test_loss, test_acc, seconds);
    fflush(stdout);
}

/* One image's class (the most probable digit, the lowest on a tie) and its ten probabilities. */
void log_predict(size_t index, const float probabilities[10]) {
    int best = 0;
    for (int c = 1; c < 10; c++)
        if (probabilities[c] > probabilities[best]) best = c;
    printf("event=predict index=%zu class=%d", index, best);
    for (int c = 0; c < 10; c++) printf(" p%d=%.6f", c, probabilities[c]);
    printf("\n");
    fflush(stdout);
}
