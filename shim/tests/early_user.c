/*
 * A library whose constructor uses the socket API from several threads at
 * once.  The test program links it, so with LD_PRELOAD=libswitchboard.so the
 * loader runs this constructor BEFORE the shim's (libraries later in the
 * load order are initialised first): the shim's wrappers must resolve the
 * real-symbol table lazily, once, under a race, and keep errno intact.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#define EARLY_THREADS 8

atomic_int early_ok;
atomic_int early_errno_kept;

static atomic_bool go;

static void *early_thread(void *unused)
{
    (void)unused;
    while (!atomic_load(&go))
        ; /* start together, to race on the first resolution */
    int sv[2];
    char c = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && write(sv[0], "e", 1) == 1 && read(sv[1], &c, 1) == 1 &&
        c == 'e' && close(sv[0]) == 0 && close(sv[1]) == 0)
        atomic_fetch_add(&early_ok, 1);
    errno = 0;
    if (close(-1) == -1 && errno == EBADF)
        atomic_fetch_add(&early_errno_kept, 1);
    return NULL;
}

__attribute__((constructor)) static void early_constructor(void)
{
    pthread_t threads[EARLY_THREADS];
    for (int i = 0; i < EARLY_THREADS; i++)
        pthread_create(&threads[i], NULL, early_thread, NULL);
    atomic_store(&go, true);
    for (int i = 0; i < EARLY_THREADS; i++)
        pthread_join(threads[i], NULL);
}
