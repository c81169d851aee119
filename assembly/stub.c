/* Built instead of the real program on machines that are not x86-64: the kernels are
 * x86-64 assembly, so the row can only say so (SPEC.md §7: exit 2, one error line). */
#include <stdio.h>
#include <string.h>

#ifndef MACHINE
#define MACHINE "this machine"
#endif

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            puts("usage: mnist [--help] ... (this row needs an x86-64 CPU with AVX2 and FMA)");
            return 0;
        }
    fprintf(stderr, "error: this row needs an x86-64 CPU with AVX2 and FMA; %s is %s\n", "this machine", MACHINE);
    return 2;
}
