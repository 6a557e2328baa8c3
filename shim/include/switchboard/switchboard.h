/*
 * Switchboard's public C header.
 *
 * Programs need nothing from it to run over circuits: libswitchboard.so,
 * loaded with LD_PRELOAD, interposes the socket API.  This header will carry
 * the optional zero-copy API; for now it only says which library version it
 * belongs to (kept equal to package.json's "version", checked by
 * codegen/test/libc.test.ts).
 */
#ifndef SWITCHBOARD_SWITCHBOARD_H
#define SWITCHBOARD_SWITCHBOARD_H

#define SWITCHBOARD_VERSION_MAJOR 0
#define SWITCHBOARD_VERSION_MINOR 1
#define SWITCHBOARD_VERSION_PATCH 0
#define SWITCHBOARD_VERSION "0.1.0"

#endif /* SWITCHBOARD_SWITCHBOARD_H */
