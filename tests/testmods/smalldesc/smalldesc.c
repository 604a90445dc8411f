/* A descriptor whose size cannot even hold name and methods: refused. */
#include "webserv/module.h"

__attribute__((visibility("default"))) const ws_module webserv_module = {
    .abi_major = WS_ABI_MAJOR, .abi_minor = 0, .size = 8, .name = "smalldesc",
};
