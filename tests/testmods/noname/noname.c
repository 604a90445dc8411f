/* A module without a name: it could never be enabled, so it is refused. */
#include "webserv/module.h"

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER, .name = NULL,
};
