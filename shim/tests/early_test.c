/* Reports what early_user.c's constructor saw (see there). */
#include <stdatomic.h>
#include <stdio.h>

#define EARLY_THREADS 8

extern atomic_int early_ok;
extern atomic_int early_errno_kept;

int main(void)
{
    int ok = atomic_load(&early_ok);
    int kept = atomic_load(&early_errno_kept);
    printf("constructor threads: %d/%d worked, %d/%d saw EBADF from close(-1)\n", ok, EARLY_THREADS, kept,
           EARLY_THREADS);
    return ok == EARLY_THREADS && kept == EARLY_THREADS ? 0 : 1;
}
