/* What mod_cfgcheck's configure() builds; test_config.c reads it back. */
#ifndef CFGCHECK_H
#define CFGCHECK_H
#include <stddef.h>
#include <stdint.h>
typedef struct cfgcheck_conf {
    int enabled;
    long long count;
    int64_t limit;
    double timeout;
    const char *name;
    const char *dir;
    const char *const *list;
    size_t n_list;
    const char *const *map;
    size_t n_map;
    const char *loc_path; /* ws_location_info.path */
    const char *loc_root;
    int64_t loc_max_body;
} cfgcheck_conf;
#endif
