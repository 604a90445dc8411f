/*
 * The one vocabulary of return codes for the core's internal steps (reading
 * a head, a body piece, flushing, draining, a state of the connection's
 * machine). Module-facing calls keep the public WS_* codes of module.h.
 */
#ifndef WEBSERV_STEP_H
#define WEBSERV_STEP_H

typedef enum step {
    STEP_OK = 0,     /* done: go on to what follows */
    STEP_AGAIN,      /* nothing more now: wait for an event (bytes in, room out, a module) */
    STEP_ERROR,      /* refused and answered (an error response is under way): go on to its end */
    STEP_CLOSE,      /* the connection ends now */
} step;

#endif
