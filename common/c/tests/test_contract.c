/* Unit tests of the C contract library (make -C common/c test): flags, IDX files, safetensors, log and progress
 * lines, errors, the RNG and the platform helpers, each bad input with its exit status and message.
 *
 * Plain C asserts that keep going: every failed check prints `FAIL file:line: what`, the summary line counts
 * them, and the exit status is 1 when any failed. A library failure (fail()) is caught through fail_jump. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "contract.h"

/* ================================================================ the harness */
static int checks, failures;
static const char *current_test;

static void check_at(int ok, const char *file, int line, const char *format, ...) {
    checks++;
    if (ok) return;
    failures++;
    va_list ap;
    va_start(ap, format);
    fprintf(stderr, "FAIL %s:%d [%s]: ", file, line, current_test);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
}
#define CHECK(ok, ...) check_at((ok) != 0, __FILE__, __LINE__, __VA_ARGS__)
static void check_str_at(const char *got, const char *want, const char *file, int line) {
    check_at(got && strcmp(got, want) == 0, file, line, "got \"%s\", want \"%s\"", got ? got : "(null)", want);
}
#define CHECK_STR(got, want) check_str_at((got), (want), __FILE__, __LINE__)

/* Run STATEMENTS in a child process: they must end the process through fail() with exit status STATUS and a
 * last stderr line `error: ...` that contains TEXT. */
static int in_failure_child;

static pid_t fork_for_failure(int *read_end) {
    int err[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(err) != 0) return -1;
    pid_t child = fork();
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);
        in_failure_child = 1;
        dup2(null, 1);
        dup2(err[1], 2);
        close(err[0]);
        return 0;
    }
    close(err[1]);
    *read_end = err[0];
    return child;
}

static void check_failure(pid_t child, int read_end, int want_status, const char *want_text, const char *file,
                          int line) {
    char text[4096];
    ssize_t n = 0, got;
    while ((got = read(read_end, text + n, sizeof text - 1 - (size_t)n)) > 0) n += got;
    text[n > 0 ? n : 0] = '\0';
    close(read_end);
    int status = 0;
    waitpid(child, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char *last = text[0] ? text + strlen(text) - 1 : text;  /* the last line, without its newline */
    if (*last == '\n') *last = '\0';
    while (last > text && last[-1] != '\n') last--;
    check_at(code == want_status && strncmp(last, "error: ", 7) == 0 && strstr(last, want_text) != NULL, file, line,
             "exit status %d, last stderr line \"%s\"; expected status %d and \"error: ...%s...\"", code, last,
             want_status, want_text);
}

#define EXPECT_FAIL(status, text, ...)                                 \
    do {                                                               \
        int read_end_;                                                 \
        pid_t child_ = fork_for_failure(&read_end_);                   \
        if (child_ == 0) {                                             \
            __VA_ARGS__;                                               \
            _exit(99); /* it did not fail */                           \
        }                                                              \
        check_failure(child_, read_end_, (status), (text), __FILE__, __LINE__); \
    } while (0)

/* Everything written to stdout or stderr between capture_begin and capture_end. */
typedef struct {
    int fd, saved;
    FILE *file;
    char text[16384];
} Capture;

static void capture_begin(Capture *c, int fd) {
    fflush(stdout);
    fflush(stderr);
    c->fd = fd;
    c->file = tmpfile();
    c->saved = dup(fd);
    dup2(fileno(c->file), fd);
}

static const char *capture_end(Capture *c) {
    fflush(stdout);
    fflush(stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    rewind(c->file);
    size_t n = fread(c->text, 1, sizeof c->text - 1, c->file);
    c->text[n] = '\0';
    fclose(c->file);
    return c->text;
}

static char tmp[256];

static const char *path_in_tmp(const char *name) {
    static char paths[8][512];
    static int which;
    char *out = paths[which++ % 8];
    snprintf(out, 512, "%s/%s", tmp, name);
    return out;
}

static void write_file(const char *path, const void *bytes, size_t length) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(bytes, 1, length, f) == length, "cannot write %s", path);
    if (f) fclose(f);
}

static void write_gz(const char *path, const void *bytes, size_t length, const char *mode) {
    gzFile f = gzopen(path, mode);
    CHECK(f && gzwrite(f, bytes, (unsigned)length) == (int)length, "cannot write %s", path);
    if (f) gzclose(f);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX image file's bytes: header (magic, count, rows, cols) and count*rows*cols pixels (i % 256). */
static uint8_t *idx_images(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols, size_t *length) {
    *length = 16 + (size_t)count * rows * cols;
    uint8_t *b = malloc(*length);
    put_be32(b, magic), put_be32(b + 4, count), put_be32(b + 8, rows), put_be32(b + 12, cols);
    for (size_t i = 16; i < *length; i++) b[i] = (uint8_t)(i - 16);
    return b;
}

static uint8_t *idx_labels(uint32_t magic, uint32_t count, size_t *length) {
    *length = 8 + (size_t)count;
    uint8_t *b = malloc(*length);
    put_be32(b, magic), put_be32(b + 4, count);
    for (size_t i = 8; i < *length; i++) b[i] = (uint8_t)((i - 8) % 10);
    return b;
}

/* ================================================================ errors */
/* fail() under fail_jump: the status and message are kept, and control comes back here. */
static int caught_failure(int status, const char *message) {
    jmp_buf here;
    fail_jump = &here;
    if (setjmp(here) == 0) fail(status, "%s", message);
    fail_jump = NULL;
    return fail_status;
}

static void test_errors(void) {
    CHECK(caught_failure(2, "a file\nname with a\rnewline") == 2, "fail_jump status");
    CHECK_STR(fail_message, "a file name with a newline");
    EXPECT_FAIL(2, "bad thing 42", fail(EXIT_BAD_INPUT, "bad thing %d", 42));
    EXPECT_FAIL(2, "a file name with a newline", fail(2, "a file\nname with a\rnewline"));
    EXPECT_FAIL(3, "training diverged in epoch 4: the training loss is nan; try a smaller --lr",
                check_finite(4, NAN));
    EXPECT_FAIL(3, "the training loss is inf", check_finite(1, INFINITY));
    EXPECT_FAIL(3, "the training loss is -inf", check_finite(1, -INFINITY));
    check_finite(1, 2.5);  /* no failure */

    /* Without fail_jump: `error: ...` as the last line on stderr, exit status as given, stdout flushed. */
    int out[2], err[2];
    CHECK(pipe(out) == 0 && pipe(err) == 0, "pipe");
    fflush(stdout), fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        dup2(out[1], 1), dup2(err[1], 2);
        printf("event=start row=x");  /* still buffered when fail() runs */
        fprintf(stderr, "event=progress stage=start row=x\n");
        fail(EXIT_BAD_INPUT, "--lr must be a number > 0, got '%s'", "abc");
    }
    close(out[1]), close(err[1]);
    char got_out[256] = {0}, got_err[256] = {0};
    for (ssize_t n = 0, got; (got = read(out[0], got_out + n, sizeof got_out - 1 - (size_t)n)) > 0;) n += got;
    for (ssize_t n = 0, got; (got = read(err[0], got_err + n, sizeof got_err - 1 - (size_t)n)) > 0;) n += got;
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2, "exit status %d", WEXITSTATUS(status));
    CHECK_STR(got_out, "event=start row=x");
    CHECK_STR(got_err, "event=progress stage=start row=x\nerror: --lr must be a number > 0, got 'abc'\n");
    close(out[0]), close(err[0]);
}

/* ================================================================ flags */
static const Row ROW = {.name = "test", .summary = "A test row."};
static const Row THREADS_ROW = {.name = "test", .summary = "A test row.", .threads_flag = 1,
                                .help_extra = "environment:\n  X   more help\n"};

/* parse_args on the NULL-terminated arguments after the program name; its progress line is dropped. */
static Args parse_row(const Row *row, const char *first, ...) {
    char *argv[32] = {"mnist"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    if (in_failure_child) return parse_args(argc, argv, row);  /* its stderr goes to the parent */
    Capture c;
    capture_begin(&c, 2);
    Args args = parse_args(argc, argv, row);
    capture_end(&c);
    return args;
}
#define PARSE(...) parse_row(&ROW, __VA_ARGS__, (const char *)NULL)

static void test_flags(void) {
    unsetenv("MNIST_DATA_DIR");
    Args a = parse_row(&ROW, NULL);
    CHECK_STR(a.dataset, "mnist");
    CHECK_STR(a.data_dir, "data");
    CHECK(a.epochs == 5 && a.batch_size == 128 && a.lr == 0.05 && a.momentum == 0.9 && a.seed == 0, "defaults");
    CHECK(a.limit_train == 50000 && a.shuffle == 1 && !a.init && !a.save && !a.predict && a.threads == 0,
          "defaults");

    a = PARSE("--dataset", "fashion-mnist", "--data-dir", "/d", "--epochs", "0", "--batch-size", "7", "--lr", "5e-2",
              "--momentum", "0", "--seed", "4294967295", "--limit-train", "1", "--no-shuffle", "--init", "w.st",
              "--save", "out.st");
    CHECK_STR(a.dataset, "fashion-mnist");
    CHECK_STR(a.data_dir, "/d");
    CHECK(a.epochs == 0 && a.batch_size == 7 && a.lr == 0.05 && a.momentum == 0, "values");
    CHECK(a.seed == 4294967295u && a.limit_train == 1 && a.shuffle == 0, "values");
    CHECK_STR(a.init, "w.st");
    CHECK_STR(a.save, "out.st");

    a = PARSE("--epochs=3", "--lr=.5", "--momentum=0.25", "--seed=+12", "--load=w.st", "--predict", "x.idx");
    CHECK(a.epochs == 3 && a.lr == 0.5 && a.momentum == 0.25 && a.seed == 12, "--flag=value");
    CHECK_STR(a.init, "w.st");  /* --load is --init */
    CHECK_STR(a.predict, "x.idx");
    a = PARSE("--lr", "1E3", "--", NULL);
    CHECK(a.lr == 1000, "1E3");

    setenv("MNIST_DATA_DIR", "/from/env", 1);
    CHECK_STR(PARSE("--epochs", "1").data_dir, "/from/env");
    CHECK_STR(PARSE("--data-dir", "/flag").data_dir, "/flag");
    setenv("MNIST_DATA_DIR", "", 1);
    CHECK_STR(PARSE("--epochs", "1").data_dir, "data");
    unsetenv("MNIST_DATA_DIR");
    CHECK_STR(PARSE("--data-dir=").data_dir, ".");

    /* --threads: only for rows that ask for it */
    a = parse_row(&THREADS_ROW, "--threads", "3", NULL);
    CHECK(a.threads == 3, "--threads 3");
    a = parse_row(&THREADS_ROW, NULL);
    CHECK(a.threads >= 1 && a.threads <= 8, "default threads %lld", (long long)a.threads);
    EXPECT_FAIL(2, "unrecognized arguments: --threads", PARSE("--threads", "2"));
    EXPECT_FAIL(2, "--threads must be an integer in 1..1024, got '0'", parse_row(&THREADS_ROW, "--threads", "0", NULL));

    /* every usage error: exit status 2, one line naming the flag */
    EXPECT_FAIL(2, "unrecognized arguments: --bogus (see --help)", PARSE("--bogus"));
    EXPECT_FAIL(2, "unrecognized arguments: --bogus", PARSE("--bogus=1"));
    EXPECT_FAIL(2, "unrecognized arguments: --epoch (see --help)", PARSE("--epoch", "3"));  /* no abbreviations */
    EXPECT_FAIL(2, "unrecognized arguments: --data", PARSE("--data", "x"));
    EXPECT_FAIL(2, "unrecognized arguments: --hel", PARSE("--hel"));
    EXPECT_FAIL(2, "unrecognized arguments: -x", PARSE("-x"));
    EXPECT_FAIL(2, "unrecognized arguments: stray", PARSE("stray"));
    EXPECT_FAIL(2, "unrecognized arguments: stray", PARSE("--epochs", "1", "stray"));
    EXPECT_FAIL(2, "unrecognized arguments: after", PARSE("--", "after"));
    EXPECT_FAIL(2, "argument --epochs: expected one argument (see --help)", PARSE("--epochs"));
    EXPECT_FAIL(2, "argument --data-dir: expected one argument", PARSE("--data-dir", "--epochs", "1"));
    EXPECT_FAIL(2, "argument --save: expected one argument", PARSE("--save", "--no-shuffle"));
    EXPECT_FAIL(2, "argument --no-shuffle: ignored explicit argument '1'", PARSE("--no-shuffle=1"));
    EXPECT_FAIL(2, "argument --help: ignored explicit argument 'x'", PARSE("--help=x"));
    EXPECT_FAIL(2, "--batch-size must be an integer >= 1, got '-5'", PARSE("--batch-size", "-5"));
    EXPECT_FAIL(2, "--batch-size must be an integer >= 1, got '0'", PARSE("--batch-size", "0"));
    EXPECT_FAIL(2, "--batch-size must be an integer >= 1, got '1.5'", PARSE("--batch-size", "1.5"));
    EXPECT_FAIL(2, "--batch-size must be an integer >= 1, got ''", PARSE("--batch-size="));
    EXPECT_FAIL(2, "--epochs must be an integer >= 0, got '-1'", PARSE("--epochs", "-1"));
    EXPECT_FAIL(2, "--epochs must be an integer >= 0, got ' 3'", PARSE("--epochs", " 3"));
    EXPECT_FAIL(2, "--epochs must be an integer >= 0, got '99999999999999999999'",
                PARSE("--epochs", "99999999999999999999"));
    EXPECT_FAIL(2, "--seed must be an integer in 0..4294967295, got '4294967296'", PARSE("--seed", "4294967296"));
    EXPECT_FAIL(2, "--seed must be an integer in 0..4294967295, got '-1'", PARSE("--seed", "-1"));
    EXPECT_FAIL(2, "--seed must be an integer in 0..4294967295, got '99999999999999999999'",
                PARSE("--seed", "99999999999999999999"));
    EXPECT_FAIL(2, "--limit-train must be an integer in 1..50000, got '50001'", PARSE("--limit-train", "50001"));
    EXPECT_FAIL(2, "--limit-train must be an integer in 1..50000, got '0'", PARSE("--limit-train", "0"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got 'abc'", PARSE("--lr", "abc"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got '0'", PARSE("--lr", "0"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got '-0.1'", PARSE("--lr", "-0.1"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got 'inf'", PARSE("--lr", "inf"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got 'nan'", PARSE("--lr", "nan"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got '0x10'", PARSE("--lr", "0x10"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got '1e999'", PARSE("--lr", "1e999"));
    EXPECT_FAIL(2, "--lr must be a number > 0, got '1e'", PARSE("--lr", "1e"));
    EXPECT_FAIL(2, "--momentum must be a number in [0, 1), got '1'", PARSE("--momentum", "1"));
    EXPECT_FAIL(2, "--momentum must be a number in [0, 1), got '-0.5'", PARSE("--momentum", "-0.5"));
    EXPECT_FAIL(2, "argument --dataset: invalid choice: 'cifar10' (choose from 'mnist', 'fashion-mnist')",
                PARSE("--dataset", "cifar10"));
    EXPECT_FAIL(2, "--init and --load are the same option; give only one", PARSE("--init", "a", "--load", "b"));
    EXPECT_FAIL(2, "--predict needs the weights to classify with: add --load FILE", PARSE("--predict", "x.idx"));
    EXPECT_FAIL(2, "--predict needs the weights", PARSE("--init", "w", "--predict", "x.idx"));
    EXPECT_FAIL(2, "--save: directory /nonexistent/dir does not exist", PARSE("--save", "/nonexistent/dir/w.st"));
    CHECK_STR(PARSE("--save", "/w.st").save, "/w.st");  /* in "/" */
    CHECK_STR(PARSE("--save", "plain.st").save, "plain.st");  /* in "." */

    /* the progress line after a successful parse, and --help (stdout, exit 0) */
    Capture c;
    capture_begin(&c, 2);
    char *argv[] = {"mnist", "--epochs", "1", NULL};
    parse_args(3, argv, &ROW);
    CHECK_STR(capture_end(&c), "event=progress stage=start row=test\n");
    fflush(stdout), fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1), dup2(null, 2);
        char *help[] = {"mnist", "--epochs", "2", "--help", "--bogus", NULL};
        parse_args(5, help, &THREADS_ROW);
        _exit(99);
    }
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--help exits 0, got %d", WEXITSTATUS(status));
    int out[2];
    CHECK(pipe(out) == 0, "pipe");
    child = fork();
    if (child == 0) {
        dup2(out[1], 1);
        char *help[] = {"mnist", "-h", NULL};
        parse_args(2, help, &THREADS_ROW);
        _exit(99);
    }
    close(out[1]);
    static char text[8192];
    ssize_t n = 0, got;
    while ((got = read(out[0], text + n, sizeof text - 1 - (size_t)n)) > 0) n += got;
    text[n > 0 ? n : 0] = '\0';
    close(out[0]);
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "-h exits 0");
    CHECK(strncmp(text, "usage: mnist [--help]", 21) == 0, "usage line: %.40s", text);
    CHECK(strstr(text, "A test row.") && strstr(text, "--threads N") && strstr(text, "X   more help") &&
              strstr(text, "--predict IDX_FILE"),
          "help text: %s", text);
}

/* ================================================================ IDX files */
static void test_idx(void) {
    size_t length;
    uint8_t *bytes = idx_images(0x803, 3, 28, 28, &length);
    write_gz(path_in_tmp("three.gz"), bytes, length, "wb");
    write_file(path_in_tmp("three.idx"), bytes, length);
    int64_t count = -1;

    uint8_t *pixels = read_idx_images(path_in_tmp("three.gz"), 3, 0, &count);
    CHECK(count == 3 && pixels[0] == 0 && pixels[1] == 1 && pixels[3 * 784 - 1] == (uint8_t)(3 * 784 - 1), "pixels");
    free(pixels);
    pixels = read_idx_images(path_in_tmp("three.gz"), -1, 0, &count);  /* any count */
    CHECK(count == 3, "count %lld", (long long)count);
    free(pixels);

    /* --predict: gzip or plain, any count, floats / 255, or scaled by the row's function */
    Split images = read_images(path_in_tmp("three.idx"), NULL);
    CHECK(images.n == 3 && images.y == NULL && images.x[1] == 1.0f / 255.0f && images.x[255] == 1.0f, "plain");
    CHECK(((uintptr_t)images.x & 63) == 0, "aligned");
    free(images.x);
    images = read_images(path_in_tmp("three.gz"), NULL);
    CHECK(images.n == 3 && images.x[200] == 200.0f / 255.0f, "gzip");
    free(images.x);
    free(bytes);
    bytes = idx_images(0x803, 0, 28, 28, &length);
    write_file(path_in_tmp("empty.idx"), bytes, length);
    images = read_images(path_in_tmp("empty.idx"), NULL);
    CHECK(images.n == 0, "no images");
    free(images.x);
    free(bytes);

    /* two gzip members in one file are one stream */
    bytes = idx_images(0x803, 2, 28, 28, &length);
    write_gz(path_in_tmp("members.gz"), bytes, 100, "wb");
    write_gz(path_in_tmp("members.gz"), bytes + 100, length - 100, "ab");
    pixels = read_idx_images(path_in_tmp("members.gz"), 2, 0, &count);
    CHECK(count == 2 && memcmp(pixels, bytes + 16, length - 16) == 0, "two members");
    free(pixels);

    /* every bad file: exit status 2, the path and what is wrong */
    const char *missing = path_in_tmp("missing.gz");
    EXPECT_FAIL(2, "missing.gz: file not found", read_idx_images(missing, 3, 0, &count));
    EXPECT_FAIL(2, "missing.gz: file not found", read_images(missing, NULL));
    EXPECT_FAIL(2, ": not a regular file", read_idx_images(tmp, 3, 0, &count));
    EXPECT_FAIL(2, "three.idx: not a valid gzip file (no gzip magic bytes)",
                read_idx_images(path_in_tmp("three.idx"), 3, 0, &count));
    uint8_t *gz;
    size_t gz_length;
    gz = read_whole_file(path_in_tmp("members.gz"), &gz_length);
    write_file(path_in_tmp("truncated.gz"), gz, gz_length / 2);
    EXPECT_FAIL(2, "truncated.gz: not a valid gzip file (truncated)",
                read_idx_images(path_in_tmp("truncated.gz"), 2, 0, &count));
    write_file(path_in_tmp("short.gz"), gz, 5);
    EXPECT_FAIL(2, "short.gz: not a valid gzip file", read_idx_images(path_in_tmp("short.gz"), 2, 0, &count));
    gz[12] ^= 0xff, gz[13] ^= 0xff, gz[20] ^= 0x55;
    write_file(path_in_tmp("corrupt.gz"), gz, gz_length);
    EXPECT_FAIL(2, "corrupt.gz: not a valid gzip file (", read_idx_images(path_in_tmp("corrupt.gz"), 2, 0, &count));
    free(gz);
    free(bytes);

    struct {
        const char *name, *message;
        uint32_t magic, count, rows, cols;
        long cut;  /* bytes cut off the end (negative: added) */
    } cases[] = {
        {"magic.gz", "not an IDX image file (magic 0x00000801, expected 0x00000803)", 0x801, 3, 28, 28, 0},
        {"dims.gz", "images are 28x27, expected 28x28", 0x803, 3, 28, 27, 0},
        {"payload.gz", "header says 3 images, but holds 2351 pixel bytes (expected 2352)", 0x803, 3, 28, 28, 1},
        {"long.gz", "header says 3 images, but holds 2353 pixel bytes (expected 2352)", 0x803, 3, 28, 28, -1},
        {"count.gz", "holds 2 images, expected 3", 0x803, 2, 28, 28, 0},
        {"header.gz", "too short for an IDX image header (10 bytes)", 0x803, 0, 28, 28, 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes = idx_images(cases[i].magic, cases[i].count, cases[i].rows, cases[i].cols, &length);
        bytes = realloc(bytes, length + 1);
        bytes[length] = 0;
        write_gz(path_in_tmp(cases[i].name), bytes, (size_t)((long)length - cases[i].cut), "wb");
        EXPECT_FAIL(2, cases[i].message, read_idx_images(path_in_tmp(cases[i].name), 3, 0, &count));
        free(bytes);
    }
    bytes = idx_images(0x803, 3, 28, 28, &length);
    write_file(path_in_tmp("short.idx"), bytes, length - 1);
    EXPECT_FAIL(2, "short.idx: header says 3 images, but holds 2351 pixel bytes", read_images(path_in_tmp("short.idx"), NULL));
    free(bytes);

    /* labels */
    bytes = idx_labels(0x801, 12, &length);
    write_gz(path_in_tmp("labels.gz"), bytes, length, "wb");
    uint8_t *labels = read_idx_labels(path_in_tmp("labels.gz"), 12);
    CHECK(labels[0] == 0 && labels[9] == 9 && labels[11] == 1, "labels");
    free(labels);
    EXPECT_FAIL(2, "labels.gz: holds 12 labels, expected 10", read_idx_labels(path_in_tmp("labels.gz"), 10));
    EXPECT_FAIL(2, "labels.gz: not an IDX image file (magic 0x00000801", read_idx_images(path_in_tmp("labels.gz"), 12, 0, &count));
    write_gz(path_in_tmp("labels-short.gz"), bytes, length - 1, "wb");
    EXPECT_FAIL(2, "header says 12 labels, but holds 11 bytes", read_idx_labels(path_in_tmp("labels-short.gz"), 12));
    write_gz(path_in_tmp("labels-header.gz"), bytes, 7, "wb");
    EXPECT_FAIL(2, "too short for an IDX label header (7 bytes)", read_idx_labels(path_in_tmp("labels-header.gz"), 12));
    bytes[8 + 5] = 10;
    write_gz(path_in_tmp("labels-range.gz"), bytes, length, "wb");
    EXPECT_FAIL(2, "label 10 (example 5) is out of range 0-9", read_idx_labels(path_in_tmp("labels-range.gz"), 12));
    free(bytes);
    bytes = idx_images(0x803, 12, 28, 28, &length);
    write_gz(path_in_tmp("images.gz"), bytes, length, "wb");
    EXPECT_FAIL(2, "not an IDX label file (magic 0x00000803, expected 0x00000801)",
                read_idx_labels(path_in_tmp("images.gz"), 12));
    free(bytes);
}

/* A dataset folder under tmp: 60,000 training and 10,000 test examples, pixel (i % 256) and label (i % 10). */
static void write_dataset(const char *dataset) {
    char directory[512], path[600];
    snprintf(directory, sizeof directory, "%s/%s", tmp, dataset);
    mkdir(directory, 0700);
    const char *files[2][2] = {{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
                               {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}};
    for (int f = 0; f < 2; f++) {
        uint32_t count = f ? 10000 : 60000;
        size_t length;
        uint8_t *bytes = idx_images(0x803, count, 28, 28, &length);
        snprintf(path, sizeof path, "%s/%s", directory, files[f][0]);
        write_gz(path, bytes, length, "wb1");
        free(bytes);
        bytes = idx_labels(0x801, count, &length);
        snprintf(path, sizeof path, "%s/%s", directory, files[f][1]);
        write_gz(path, bytes, length, "wb1");
        free(bytes);
    }
}

static int scaler_calls;
static void half_scaler(float *dst, const uint8_t *src, int64_t n) {
    scaler_calls++;
    for (int64_t i = 0; i < n; i++) dst[i] = src[i] * 0.5f;
}

static void test_load_mnist(void) {
    write_dataset("mnist");
    Args args = {.dataset = "mnist", .data_dir = tmp, .limit_train = 50000};
    Capture c;
    capture_begin(&c, 2);
    Dataset data = load_mnist(&args, NULL);
    CHECK_STR(capture_end(&c), "event=progress stage=data dataset=mnist\n");
    CHECK(data.train.n == 50000 && data.val.n == 10000 && data.test.n == 10000, "split sizes");
    CHECK(data.train.x[1] == 1.0f / 255.0f && data.train.x[255] == 1.0f, "pixels / 255");
    CHECK(data.train.y[0] == 0 && data.train.y[13] == 3 && data.val.y[0] == 0 && data.val.y[7] == 7, "labels");
    CHECK(data.val.x == data.train.x + (size_t)50000 * 784, "val follows train");
    CHECK(data.val.x[0] == (float)((50000 * 784) % 256) / 255.0f, "val's first pixel");
    CHECK(data.test.y[9999] == 9 && data.test.x[784] == (float)(784 % 256) / 255.0f, "test");
    free_dataset(&data);
    CHECK(data.train.x == NULL && data.test.n == 0, "free_dataset clears");

    args.limit_train = 1234;
    scaler_calls = 0;
    capture_begin(&c, 2);
    data = load_mnist(&args, half_scaler);
    capture_end(&c);
    CHECK(data.train.n == 1234 && data.val.n == 10000 && scaler_calls == 2 && data.train.x[3] == 1.5f, "limit, scaler");
    free_dataset(&data);

    args.dataset = "fashion-mnist";
    capture_begin(&c, 2);
    EXPECT_FAIL(2, "/fashion-mnist not found: run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the folder "
                   "that holds fashion-mnist/",
                load_mnist(&args, NULL));
    capture_end(&c);
    /* a bad file in the dataset: the error names it */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/mnist/t10k-labels-idx1-ubyte.gz", tmp);
    size_t length;
    uint8_t *bytes = idx_labels(0x801, 9999, &length);
    write_gz(bad, bytes, length, "wb");
    free(bytes);
    args.dataset = "mnist";
    capture_begin(&c, 2);
    EXPECT_FAIL(2, "mnist/t10k-labels-idx1-ubyte.gz: holds 9999 labels, expected 10000", load_mnist(&args, NULL));
    capture_end(&c);
}

/* ================================================================ safetensors */
static const TensorSpec SMALL[2] = {{"w", 2, 3}, {"b", 2, 0}};

/* A safetensors file from its JSON header and data_length bytes of data. */
static void write_safetensors_raw(const char *path, const char *header, size_t data_length) {
    size_t n = strlen(header);
    uint8_t *bytes = calloc(8 + n + data_length + 1, 1);
    for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(bytes + 8, header, n);
    write_file(path, bytes, 8 + n + data_length);
    free(bytes);
}

static void test_safetensors(void) {
    /* contract round trip, and the exact bytes of the header */
    Tensors saved = alloc_tensors(), loaded = alloc_tensors();
    for (int t = 0; t < N_TENSORS; t++) {
        CHECK(tensor_size(&TENSORS[t]) == TENSORS[t].rows * (TENSORS[t].cols ? TENSORS[t].cols : 1), "size");
        CHECK(loaded.t[t][0] == 0 && ((uintptr_t)loaded.t[t] & 63) == 0, "zeroed, aligned");
        for (int64_t i = 0; i < tensor_size(&TENSORS[t]); i++) saved.t[t][i] = (float)(t + 1) * 0.001f * (float)(i % 977) - 0.3f;
    }
    saved.t[0][5] = -0.0f, saved.t[1][0] = INFINITY, saved.t[5][9] = 1e-40f;
    const char *path = path_in_tmp("w.safetensors");
    save_weights(path, saved.t);
    load_weights(path, loaded.t);
    int same = 1;
    for (int t = 0; t < N_TENSORS; t++)
        same &= memcmp(saved.t[t], loaded.t[t], (size_t)tensor_size(&TENSORS[t]) * sizeof(float)) == 0;
    CHECK(same, "round trip is bit for bit");
    size_t length;
    uint8_t *file = read_whole_file(path, &length);
    const char *want = "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[512,784],\"data_offsets\":[0,1605632]},"
                       "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[512],\"data_offsets\":[1605632,1607680]},";
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--) header_length = header_length << 8 | file[i];
    CHECK(header_length % 8 == 0 && memcmp(file + 8, want, strlen(want)) == 0, "header bytes");
    CHECK(file[8 + header_length - 1] == ' ' || file[8 + header_length - 1] == '}', "padded with spaces");
    CHECK(length == 8 + header_length + 2678824 && memcmp(file + 8 + header_length, saved.t[0], 4) == 0, "layout");
    free(file);
    free_tensors(&saved);

    /* any F32 tensors, metadata, escapes, white space, order of entries */
    float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8}, w2[6], b2[2];
    float *small[2] = {w, b}, *small2[2] = {w2, b2};
    safetensors_write(path_in_tmp("small.st"), SMALL, 2, small);
    safetensors_read(path_in_tmp("small.st"), SMALL, 2, small2);
    CHECK(memcmp(w, w2, sizeof w) == 0 && memcmp(b, b2, sizeof b) == 0, "small round trip");
    write_safetensors_raw(path_in_tmp("meta.st"),
                          " { \"__metadata__\" : {\"format\":\"pt\"}, \"b\":{\"data_offsets\":[0,8],\"dtype\":\"F32\","
                          "\"shape\":[2]},\n\"\\u0077\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}  ",
                          32);
    safetensors_read(path_in_tmp("meta.st"), SMALL, 2, small2);
    CHECK(w2[0] == 0 && b2[1] == 0, "metadata, \\u escape, any order");

    /* every bad file: status 2, the path and what is wrong */
    const char *bad = path_in_tmp("bad.st");
    EXPECT_FAIL(2, "missing.st: weights file not found", load_weights(path_in_tmp("missing.st"), loaded.t));
    EXPECT_FAIL(2, ": weights file not found", load_weights(tmp, loaded.t));
    write_file(bad, "abc", 3);
    EXPECT_FAIL(2, "bad.st: not a safetensors file (3 bytes, too short)", safetensors_read(bad, SMALL, 2, small2));
    write_file(bad, "not a safetensors file", 22);
    EXPECT_FAIL(2, "bad.st: not a safetensors file (header length", safetensors_read(bad, SMALL, 2, small2));
    struct {
        const char *header, *message;
        size_t data;
    } cases[] = {
        {"[1, 2]", "not a safetensors file (the header is not a JSON object)", 0},
        {"{\"w\":", "not a safetensors file (malformed entry for tensor w)", 0},
        {"{\"w\" 1}", "not a safetensors file (malformed JSON header)", 0},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", "(trailing bytes after the JSON header)", 8},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
         "\"data_offsets\":[8,16]}}", "(tensor b appears twice)", 16},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"dtype\":\"F32\"}}", "(malformed entry for tensor b)", 8},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2]}}", "(malformed entry for tensor b)", 8},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", "(malformed entry for tensor b)", 8},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "(malformed entry for tensor b)", 8},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}", "(malformed entry", 8},
        {"{\"__metadata__\":{\"a\":1}}", "(malformed __metadata__)", 0},
        {"{\"b\\x\":{}}", "(malformed JSON header)", 0},
        {"{\"b\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", "(tensor b has unknown dtype F99)", 8},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", "(tensor b: data_offsets [0, 12] do not match", 12},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "(tensor b: data_offsets [0, 8] do not match", 4},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", "(tensor data has gaps or overlaps)", 16},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "(4 bytes after the last tensor)", 12},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "bad.st: weights file lacks tensor w", 8},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],"
         "\"data_offsets\":[8,32]},\"z\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[32,33]},\"y\":{\"dtype\":"
         "\"U8\",\"shape\":[1],\"data_offsets\":[33,34]}}", "bad.st: weights file has unexpected tensor y", 34},
        {"{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],"
         "\"data_offsets\":[4,28]}}", "bad.st: tensor b is F16, expected F32 (float32)", 28},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],"
         "\"data_offsets\":[8,32]}}", "bad.st: tensor w has shape [3, 2], expected [2, 3]", 32},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],"
         "\"data_offsets\":[8,32]}}", "bad.st: tensor b has shape [2, 1], expected [2]", 32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_safetensors_raw(bad, cases[i].header, cases[i].data);
        EXPECT_FAIL(2, cases[i].message, safetensors_read(bad, SMALL, 2, small2));
    }
    /* the contract's own check: a transposed fc1.weight (the sanitizer script's case) */
    write_safetensors_raw(bad, "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[784,512],\"data_offsets\":[0,1605632]}}",
                          1605632);
    EXPECT_FAIL(2, "weights file lacks tensor fc1.bias", load_weights(bad, loaded.t));
    EXPECT_FAIL(2, "cannot write weights", save_weights("/nonexistent/dir/w.st", loaded.t));
    free_tensors(&loaded);
}

/* ================================================================ log and progress lines */
static void test_log_lines(void) {
    CHECK_STR(format_number(0.05), "0.05");
    CHECK_STR(format_number(0.9), "0.9");
    CHECK_STR(format_number(1e6), "1000000.0");
    CHECK_STR(format_number(1.0), "1.0");
    CHECK_STR(format_number(0.0), "0.0");
    CHECK_STR(format_number(1e-5), "1e-05");
    CHECK_STR(format_number(0.0001), "0.0001");
    CHECK_STR(format_number(1.5e-7), "1.5e-07");
    CHECK_STR(format_number(1e16), "1e+16");
    CHECK_STR(format_number(123456789012345.6), "123456789012345.6");
    CHECK_STR(format_number(0.1 + 0.2), "0.30000000000000004");
    CHECK(strncmp(c_language(), "c11/", 4) == 0, "c_language %s", c_language());

    Capture c;
    capture_begin(&c, 1);
    log_start("c", "c11/gcc-12.2.0", "openblas/0.3.21", "cpu");
    Args args = {.dataset = "fashion-mnist", .epochs = 2, .batch_size = 100, .lr = 1e6, .momentum = 0,
                 .seed = 4294967295u, .limit_train = 3000, .shuffle = 0, .init = "w"};
    log_config(&args);
    Dataset data = {.train = {.n = 3000}, .val = {.n = 10000}, .test = {.n = 10000}};
    log_data(&data, 0.41234);
    log_warmup(1.5);
    log_epoch(1, 0.9012344, 0.7315, 0.4123456, 0.8812, 0.1834);
    log_test(0.425678, 0.8791, 0.0614);
    float p[10] = {0.1f, 0.3f, 0.3f, 0.1f, 0, 0, 0, 0, 0.1f, 0.1f};  /* a tie: the lowest class */
    log_predict(7, p);
    CHECK_STR(capture_end(&c),
              "event=start row=c language=c11/gcc-12.2.0 framework=openblas/0.3.21 device=cpu\n"
              "event=config dataset=fashion-mnist epochs=2 batch_size=100 lr=1000000.0 momentum=0.0 seed=4294967295 "
              "limit_train=3000 shuffle=0 init=1\n"
              "event=data train=3000 val=10000 test=10000 seconds=0.412\n"
              "event=warmup seconds=1.500\n"
              "event=epoch epoch=1 train_loss=0.901234 train_acc=0.731500 val_loss=0.412346 val_acc=0.881200 "
              "seconds=0.183\n"
              "event=test test_loss=0.425678 test_acc=0.879100 seconds=0.061\n"
              "event=predict index=7 class=1 p0=0.100000 p1=0.300000 p2=0.300000 p3=0.100000 p4=0.000000 "
              "p5=0.000000 p6=0.000000 p7=0.000000 p8=0.100000 p9=0.100000\n");
    float z[4] = {-1, 5, 5, 2};
    CHECK(argmax(z, 4) == 1 && argmax(z, 1) == 0, "argmax, lowest on a tie");
}

static void test_progress(void) {
    Capture c;
    capture_begin(&c, 2);
    double t = now_seconds();
    progress_start("numpy");           /* at t */
    progress_train_at(t + 0.10, 1, 5, 1, 391, 2.301523 * 128, 128);   /* too soon after start */
    progress_train_at(t + 0.30, 1, 5, 2, 391, 2.0 * 256, 256);        /* printed */
    progress_train_at(t + 0.54, 1, 5, 3, 391, 1.0, 1);                /* 0.24 s later: not printed */
    progress_train_at(t + 0.56, 1, 5, 4, 391, 1.0, 3);                /* 0.26 s: printed */
    progress_data("mnist");
    progress_warmup();
    progress_train_at(now_seconds() + 0.2, 2, 5, 1, 391, 1.0, 1);    /* 0.2 s after warmup: not printed */
    progress_train(2, 5, 2, 391, 1.0, 1);                              /* now: not printed */
    CHECK_STR(capture_end(&c),
              "event=progress stage=start row=numpy\n"
              "event=progress stage=train epoch=1 epochs=5 batch=2 batches=391 loss=2.000000\n"
              "event=progress stage=train epoch=1 epochs=5 batch=4 batches=391 loss=0.333333\n"
              "event=progress stage=data dataset=mnist\n"
              "event=progress stage=warmup\n");
    capture_begin(&c, 2);
    progress_train(2, 5, 3, 391, 1.0, 0);
    usleep(260000);
    progress_train(2, 5, 4, 391, 10.0, 4);  /* 0.26 s on the real clock */
    CHECK_STR(capture_end(&c), "event=progress stage=train epoch=2 epochs=5 batch=4 batches=391 loss=2.500000\n");
}

/* ================================================================ RNG */
static void test_rng(void) {
    Rng r = rng_seed(0);
    CHECK(rng_next(&r) == 0x99ec5f36cb75f2b4ull && rng_next(&r) == 0xbf6e1f784956452aull &&
              rng_next(&r) == 0x1a5f849d4933e6e0ull,
          "xoshiro256** seeded by splitmix64(0)");
    r = rng_seed(7);
    CHECK(rng_next(&r) == 0xb358faf74ef9765aull, "seed 7");
    r = rng_seed(7);
    double u = rng_uniform(&r);
    CHECK(u == (double)(0xb358faf74ef9765aull >> 11) * 0x1.0p-53, "uniform: 53 bits");
    double low = 1, high = 0;
    for (int i = 0; i < 10000; i++) {
        u = rng_uniform(&r);
        low = u < low ? u : low, high = u > high ? u : high;
    }
    CHECK(low >= 0 && low < 0.01 && high < 1 && high > 0.99, "uniform in [0, 1)");
    int seen[7] = {0}, below_ok = 1;
    for (int i = 0; i < 7000; i++) {
        uint64_t k = rng_below(&r, 7);
        below_ok &= k < 7;
        if (k < 7) seen[k]++;
    }
    CHECK(below_ok && seen[0] > 800 && seen[6] > 800, "below(7)");
    CHECK(rng_below(&r, 1) == 0, "below(1)");

    int64_t order[1000], count[1000] = {0};
    Rng a = rng_seed(3), b = rng_seed(3);
    epoch_order(&a, 1, order, 1000);
    int permutation = 1, moved = 0;
    for (int i = 0; i < 1000; i++) count[order[i]]++, moved += order[i] != i;
    for (int i = 0; i < 1000; i++) permutation &= count[i] == 1;
    CHECK(permutation && moved > 900, "a permutation");
    int64_t again[1000];
    for (int i = 0; i < 1000; i++) again[i] = i;
    rng_shuffle(&b, again, 1000);
    CHECK(memcmp(order, again, sizeof order) == 0, "same seed, same order");
    Rng before = a;
    epoch_order(&a, 0, order, 1000);
    int identity = 1;
    for (int i = 0; i < 1000; i++) identity &= order[i] == i;
    CHECK(identity && memcmp(&before, &a, sizeof a) == 0, "--no-shuffle: file order, no draws");
    /* Fisher-Yates from the end: the first swap is of the last item with rng_below(n) */
    int64_t two[2] = {0, 1};
    Rng c = rng_seed(11), d = rng_seed(11);
    rng_shuffle(&c, two, 2);
    CHECK(two[1] == (rng_below(&d, 2) == 0 ? 0 : 1), "first swap");
}

/* ================================================================ platform */
static void fake_fma(int64_t iterations) {
    volatile double x = 0;
    for (int64_t i = 0; i < iterations; i++) x += 1.0;
}
static double fake_flops_total;
static double fake_flops(void) { return fake_flops_total; }

static void test_platform(void) {
    uint8_t *small = alloc_bytes(3);
    float *big = alloc_floats((size_t)1 << 20);
    CHECK(((uintptr_t)small & 63) == 0 && small[0] == 0 && small[2] == 0, "small: 64-byte aligned, zeroed");
    CHECK(((uintptr_t)big & (((uintptr_t)2 << 20) - 1)) == 0 && big[(1 << 20) - 1] == 0, "big: 2 MB aligned, zeroed");
    free(small), free(big);
    free(alloc_floats(0));
    int threads = default_threads();
    CHECK(threads >= 1 && threads <= 8, "default_threads %d", threads);
    CHECK(cpu_nominal_ghz() >= 0, "nominal GHz");
    double ghz = cpu_measured_ghz(fake_fma, 1.0, 1);
    CHECK(ghz > 0 && isfinite(ghz), "measured GHz %f", ghz);
    CHECK(process_cpu_seconds() > 0 && now_seconds() > 0, "clocks");

    Perf perf = perf_begin("fake", 2, 4, fake_fma, 1.0, fake_flops);
    Capture c;
    capture_begin(&c, 2);
    perf_epoch_start(&perf);
    for (int step = 0; step < 100; step++) {
        fake_flops_total += 1e9;
        perf_step(&perf);
    }
    fake_flops_total += 5e9;  /* after the last step (evaluation): not counted */
    perf_epoch_end(&perf, 3, 99, 2.0);
    const char *line = capture_end(&c);
    const char *prefix = "event=perf epoch=3 isa=fake threads=2 gflop=100.00 gflops=50.0 peak_gflops=";
    CHECK(strncmp(line, prefix, strlen(prefix)) == 0 &&
              strstr(line, " flops_per_cycle=4 cpu_seconds=") && strstr(line, " step_median_ms="),
          "perf line: %s", line);
    CHECK(perf.steps == 100, "steps %lld", (long long)perf.steps);
    perf_end(&perf);

    char name[64];
    openblas_version_name("OpenBLAS 0.3.21 NO_AFFINITY SKYLAKEX MAX_THREADS=64", name, sizeof name);
    CHECK_STR(name, "openblas/0.3.21");
    openblas_version_name("something else", name, sizeof name);
    CHECK_STR(name, "openblas/unknown");
    openblas_version_name(NULL, name, sizeof name);
    CHECK_STR(name, "openblas/unknown");
    CHECK_STR(openblas_name(), "openblas/unknown");  /* the tests do not link OpenBLAS */
    CHECK_STR(openblas_better_coretype("Prescott", 1, 1), "SkylakeX");
    CHECK_STR(openblas_better_coretype("prescott", 0, 1), "Haswell");
    CHECK(openblas_better_coretype("Prescott", 0, 0) == NULL, "no better kernels");
    CHECK(openblas_better_coretype("SkylakeX", 1, 1) == NULL, "recognised CPU: nothing to do");
    CHECK(openblas_better_coretype(NULL, 1, 1) == NULL, "no core name");
    char *argv[] = {"test", NULL};
    openblas_use_best_kernels(argv);  /* without OpenBLAS: returns */
}

/* ================================================================ main */
static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw) {
    (void)info, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "%s/contract-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    struct {
        const char *name;
        void (*run)(void);
    } tests[] = {{"errors", test_errors},       {"flags", test_flags},         {"idx", test_idx},
                 {"load_mnist", test_load_mnist}, {"safetensors", test_safetensors}, {"log lines", test_log_lines},
                 {"progress", test_progress},   {"rng", test_rng},             {"platform", test_platform}};
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failures;
        current_test = tests[i].name;
        tests[i].run();
        printf("%-12s %s\n", tests[i].name, failures == before ? "ok" : "FAILED");
    }
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
