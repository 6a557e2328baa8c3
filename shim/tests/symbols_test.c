/*
 * Run with LD_PRELOAD=libswitchboard.so.  For every symbol in the generated
 * X-macro list (build/gen/c/sb_libc_list.h):
 *  - glibc exports it under the version specs/libc.ts names (dlvsym), so the
 *    spec's versions are facts about this glibc, not guesses;
 *  - the program's lookup of the name lands in libswitchboard.so, not in libc.
 * For every function of the shim's own API (SB_API_EXPORT rows): the lookup
 * lands in libswitchboard.so, and glibc has no symbol of that name.
 * Reaching main at all shows the shim's constructor resolved every required
 * real symbol (it aborts with a message otherwise).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void check_export(const char *name, const char *base, const char *version, void *libc)
{
    void *in_libc = dlvsym(libc, name, version);
    if (in_libc == NULL) {
        printf("FAIL %s (for %s): glibc has no %s@%s\n", name, base, name, version);
        failures++;
    }
    Dl_info info;
    void *seen = dlsym(RTLD_DEFAULT, name);
    if (seen == NULL || dladdr(seen, &info) == 0 || info.dli_fname == NULL ||
        strstr(info.dli_fname, "libswitchboard") == NULL) {
        printf("FAIL %s: the program's lookup does not land in libswitchboard.so (got %s)\n", name,
               seen != NULL && dladdr(seen, &info) && info.dli_fname ? info.dli_fname : "nothing");
        failures++;
    }
}

static void check_api(const char *name, const char *header, void *libc)
{
    Dl_info info;
    void *seen = dlsym(RTLD_DEFAULT, name);
    if (seen == NULL || dladdr(seen, &info) == 0 || info.dli_fname == NULL ||
        strstr(info.dli_fname, "libswitchboard") == NULL) {
        printf("FAIL %s (%s): not exported by libswitchboard.so\n", name, header);
        failures++;
    }
    if (dlsym(libc, name) != NULL) {
        printf("FAIL %s: glibc has a symbol of that name too\n", name);
        failures++;
    }
}

int main(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (libc == NULL) {
        printf("FAIL: libc.so.6 is not loaded?\n");
        return 1;
    }
    int count = 0;
#define SB_LIBC_EXPORT(name, base, version) (check_export(#name, #base, version, libc), count++);
#define SB_API_EXPORT(name, header) (check_api(#name, header, libc), count++);
#include "sb_libc_list.h"
    printf("%d exported symbols checked, %d failure(s)\n", count, failures);
    return failures == 0 && count > 0 ? 0 : 1;
}
