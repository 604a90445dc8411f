/*
 * webserv --schema [CONFIG] (SPEC §6): the JSON Schema of the configuration,
 * with the keys of every module CONFIG loads (schema.c).
 */
#ifndef WEBSERV_SCHEMA_H
#define WEBSERV_SCHEMA_H

#include <stddef.h>
#include <stdio.h>

struct json_t;

/* The schema as JSON (the caller json_decref()s it), or NULL and err. */
struct json_t *config_schema(const char *config_path, char *err, size_t errlen);
/* Print it, indented; 0, or -1 and err. */
int config_schema_print(FILE *out, const char *config_path, char *err, size_t errlen);

#endif
