/* A test module built for a future ABI major: the core must refuse it. */
#include "webserv/module.h"

__attribute__((visibility("default"))) const ws_module webserv_module = {
    .abi_major = 99, .abi_minor = 0, .size = sizeof(ws_module), .name = "badabi",
};
