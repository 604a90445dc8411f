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
#include "transport.h"

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

/* Make t (a plain transport just initialised on an accepted socket) a TLS
 * server transport: the handshake runs through t->ops->handshake. bindp is
 * the listener's bind pointer (it follows reloads; NULL when the address is
 * gone), local the connection's local address, which must outlive the
 * transport (it is read, not copied: the connection holds it). -1 when out
 * of memory. */
int tls_transport_attach(transport *t, const bind_conf **bindp, const struct sockaddr *local);
int tls_transport_is(const transport *t);
int tls_transport_ktls(const transport *t); /* kernel TLS sends (sendfile kept) */
/* The handshake chose "h2" by ALPN (RFC 7301, RFC 9113 §3.2). */
int tls_transport_alpn_h2(const transport *t);
/* The SNI name of the handshake, or NULL (no SNI, or not TLS). */
const char *tls_transport_sni(const transport *t);
/* The facts of a finished handshake; -1 when t is not TLS. The client
 * subject is written into subject (when a verified certificate was sent). */
int tls_transport_facts(const transport *t, tls_facts *f, char *subject, size_t subject_len);

struct arena;
/* The request's ws_tls_info (in pool), or NULL when t is not TLS. */
const ws_tls_info *tls_request_info(const transport *t, struct arena *pool);

#endif
