/* A test module built for a newer minor than the core's: refused. */
#include "webserv/module.h"

__attribute__((visibility("default"))) const ws_module webserv_module = {
    .abi_major = WS_ABI_MAJOR, .abi_minor = WS_ABI_MINOR + 7, .size = sizeof(ws_module), .name = "newminor",
};
