/*
 * A descriptor that claims to be only as large as an old minor's (up to
 * `methods`): the core must ignore every field past that size, so the init
 * that would refuse the module is never called.
 */
#include <stddef.h>

#include "webserv/module.h"

static const char *const methods[] = {"GET", NULL};
static int td_init(const ws_host *h) { (void)h; return 1; }

__attribute__((visibility("default"))) const ws_module webserv_module = {
    .abi_major = WS_ABI_MAJOR, .abi_minor = 0,
    .size = offsetof(ws_module, methods) + sizeof(const char *const *),
    .name = "tinydesc", .methods = methods, .init = td_init,
};
