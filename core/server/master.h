/* The master process that runs "workers" > 1 (see master.c). */
#ifndef WEBSERV_MASTER_H
#define WEBSERV_MASTER_H

#include "config.h"

/* Bind cfg's addresses, fork cfg->workers workers and supervise them until
 * SIGINT/SIGTERM. Takes cfg. Returns the exit status. */
int master_run(const char *config_path, ws_config *cfg);

#endif
