/*
 * TLS with OpenSSL 3 (issue 15, SPEC §6): one SSL_CTX per server that has a
 * "tls" key, built when the config loads, so a bad certificate fails the load
 * (startup or reload) naming the file; SNI picks the server by the router's
 * rules; session tickets with keys shared by every worker and rotated.
 */
#ifndef WEBSERV_TLS_H
#define WEBSERV_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

/* Build server->tls_ctx for every server with a "tls" key. On error returns
 * -1 with "<file>: servers[N].tls.<key>: <cert or key file>: <why>" in err.
 * Certificates expiring within 14 days are logged as warnings. */
int tls_config_build(ws_config *c, const char *file, char *err, size_t errlen);
/* Free the contexts (each connection holds its own reference). */
void tls_config_free(ws_config *c);

/* Ticket keys rotate every `seconds` (default 12 h; WEBSERV_TLS_TICKET_SECONDS
 * overrides, for tests). The secret they are derived from is made once per
 * process tree, before the master forks, and kept across reloads. */
void tls_tickets_init(void);
uint64_t tls_ticket_period_seconds(void);

/* What a connection's handshake chose, for the request (421 check) and the
 * facts handed to modules and the access log. */
typedef struct tls_facts {
    const char *protocol;   /* "TLSv1.3" */
    const char *cipher;     /* "TLS_AES_128_GCM_SHA256" */
    const char *sni;        /* the server name the client sent, or NULL */
    const char *client_subject; /* the verified client certificate's subject (RFC 2253), or NULL */
    int resumed;            /* session resumed (ticket or cache) */
} tls_facts;

#endif
