/* A second file whose module calls itself "cfgcheck": one config cannot load both. */
#include "webserv/module.h"

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER, .name = "cfgcheck",
};
