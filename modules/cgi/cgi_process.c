/*
 * Starting and stopping the script. RFC 3875 §7.2 (UNIX): the script runs in
 * its own folder with the meta-variables as its environment; stdin carries
 * the body, stdout the response, stderr goes to the error log.
 *
 * The parent's pipe ends are non-blocking and close-on-exec; the child's ends
 * stay blocking (scripts expect ordinary files) and exist in the parent only
 * until posix_spawn returns. The child gets its own process group, so a
 * timeout or a client that goes away kills everything the script started, an
 * empty signal mask, and default dispositions for every signal: the server
 * ignores SIGPIPE, and an ignored signal would survive exec.
 */
#include "cgi.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

/* Move fd above 0..2 so that dup2 onto the standard fds always makes a copy
 * (dup2(fd, fd) would keep FD_CLOEXEC). */
static int above_stdio(int fd)
{
    if (fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

/* A pipe with both ends close-on-exec and above stdio; the end at index
 * `parent` is made non-blocking. */
static int make_pipe(int fds[2], int parent)
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] < 0 || fds[1] < 0 || fcntl(fds[parent], F_SETFL, O_NONBLOCK) != 0) {
        int saved = errno;
        if (fds[0] >= 0)
            close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        fds[0] = fds[1] = -1;
        errno = saved;
        return -1;
    }
    return 0;
}

void cgi_close_fd(int *fd, ws_watch **w)
{
    if (w && *w) {
        cgi_host->watch_remove(*w);
        *w = NULL;
    }
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int spawn_script(cgi_req *c, int in, int out, int err, char **envp)
{
    const cgi_script *s = &c->script;
    char *argv[3] = { NULL, NULL, NULL };
    const char *prog;
    if (s->interpreter) {
        prog = s->interpreter;
        argv[0] = (char *)s->interpreter;
        argv[1] = (char *)s->filename;
    } else {
        prog = s->filename;
        argv[0] = (char *)s->filename;
    }
    /* No command-line arguments from the query (§4.4 allows, never requires
     * them; they are how php-cgi's CVE-2012-1823 worked). */

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, err, 2);
    if (!rc) rc = posix_spawn_file_actions_addchdir_np(&fa, s->dir);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Whatever fd the server forgot to mark close-on-exec stays out of the script. */
    if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    if (!rc) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!rc) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (!rc) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (!rc) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc) rc = posix_spawn(&c->pid, prog, &fa, &attr, argv, envp);
    if (!rc && cgi_spawns)
        cgi_host->counter_add(cgi_spawns, 1);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc)
        c->pid = 0;
    return rc;
}

int cgi_spawn(cgi_req *c, int stdin_fd, int64_t content_length)
{
    ws_request *r = c->r;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    int rc = 0;
    char **envp = cgi_build_env(r, c->conf, &c->script, content_length);
    if (!envp)
        return ENOMEM;
    if (stdin_fd >= 0) {
        in[0] = fcntl(stdin_fd, F_DUPFD_CLOEXEC, 3); /* closed below like a pipe's child end */
        if (in[0] < 0)
            return errno;
    } else if (make_pipe(in, 1) != 0) {
        return errno;
    }
    if (make_pipe(out, 0) != 0 || make_pipe(err, 0) != 0) {
        rc = errno;
        goto fail;
    }
    rc = spawn_script(c, in[0], out[1], err[1], envp);
    /* The child's ends: gone from the parent right away, so EOF and EPIPE
     * come as soon as the script closes its side. */
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in[0] = out[1] = err[1] = -1;
    if (rc)
        goto fail;

    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    if (cgi_host->watch_child(r, c->pid, cgi_child_exited, c) != WS_OK) {
        cgi_kill(c); /* nobody would hear of its exit; the core still reaps it */
        c->exited = 1;
        return EAGAIN;
    }
    c->out_watch = cgi_host->watch_fd(r, c->out_fd, WS_EV_READ, cgi_stdout_cb, c);
    c->err_watch = cgi_host->watch_fd(r, c->err_fd, WS_EV_READ, cgi_stderr_cb, c);
    if (!c->out_watch || !c->err_watch) {
        cgi_kill(c);
        return EAGAIN;
    }
    cgi_host->log(WS_LOG_DEBUG, r, "cgi: started %s (pid %d)", c->script.filename, (int)c->pid);
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    return rc ? rc : EIO;
}

void cgi_kill(cgi_req *c)
{
    /* Until the exit is reported the pid is not reaped, so the group id
     * cannot have been reused by an unrelated process. */
    if (c->pid > 0 && !c->exited)
        kill(-c->pid, SIGKILL);
}
