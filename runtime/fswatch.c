/* Directory watching on inotify (libuv's uv_fs_event, as a stream of
 * records a task reads). The inotify descriptor is non-blocking and waited
 * on with cio_poll, so it goes through the loop's readiness path on either
 * backend. A rename within the directory arrives as two kernel events with
 * one cookie; they are merged into one record carrying both names. */
#include "cio.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

enum { BUF = 64 * 1024 };

struct cio_watch {
    int fd;
    int wd;
    size_t pos, end; /* unread events are buf[pos, end) */
    bool gone;       /* the watched path went away: nothing more will come */
    char buf[BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
};

static uint32_t kernel_mask(int kinds) {
    uint32_t m = IN_DELETE_SELF | IN_MOVE_SELF;
    if (kinds & CIO_WATCH_CREATE)
        m |= IN_CREATE;
    if (kinds & CIO_WATCH_MODIFY)
        m |= IN_MODIFY;
    if (kinds & CIO_WATCH_CLOSE_WRITE)
        m |= IN_CLOSE_WRITE;
    if (kinds & CIO_WATCH_DELETE)
        m |= IN_DELETE;
    if (kinds & CIO_WATCH_MOVE)
        m |= IN_MOVED_FROM | IN_MOVED_TO;
    return m;
}

cio_watch *cio_watch_new(const char *path, int kinds) {
    int err = 0;
    if (!path || !kinds || (kinds & ~CIO_WATCH_ALL))
        err = EINVAL;
    cio_watch *w = err ? NULL : malloc(sizeof *w);
    if (!err && !w)
        err = ENOMEM;
    if (!err) {
        w->pos = w->end = 0;
        w->gone = false;
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0)
            err = errno;
    }
    if (!err && (w->wd = inotify_add_watch(w->fd, path, kernel_mask(kinds))) < 0) {
        err = errno;
        close(w->fd);
    }
    if (err) {
        free(w);
        errno = err;
        return NULL;
    }
    return w;
}

int cio_watch_fd(const cio_watch *w) {
    return w ? w->fd : -EINVAL;
}

/* Appends what the kernel has (moving the unread part to the front). 1 if
 * something came, 0 if nothing is there now, or a negative errno. */
static int fill(cio_watch *w) {
    if (w->pos > 0) {
        memmove(w->buf, w->buf + w->pos, w->end - w->pos);
        w->end -= w->pos;
        w->pos = 0;
    }
    ssize_t n = read(w->fd, w->buf + w->end, BUF - w->end);
    if (n < 0)
        return errno == EAGAIN ? 0 : -errno;
    w->end += (size_t)n;
    return n > 0;
}

static struct inotify_event *peek(cio_watch *w, size_t at) {
    if (at + sizeof(struct inotify_event) > w->end)
        return NULL;
    struct inotify_event *e = (struct inotify_event *)(w->buf + at);
    return at + sizeof *e + e->len <= w->end ? e : NULL;
}

static const char *name_of(const struct inotify_event *e) {
    return e->len ? e->name : NULL;
}

/* A MOVED_FROM: the MOVED_TO with its cookie comes right after it when the
 * file stayed in the directory; look one event ahead (reading more if the
 * buffer ends here). */
static void pair_move(cio_watch *w, struct inotify_event *from, cio_watch_event *ev) {
    size_t next = w->pos + sizeof *from + from->len;
    if (next == w->end && (w->end - w->pos) * 2 <= BUF && fill(w) > 0) {
        from = (struct inotify_event *)(w->buf + w->pos); /* fill moved it */
        next = w->pos + sizeof *from + from->len;
    }
    ev->old_name = name_of(from);
    ev->name = NULL;
    struct inotify_event *to = peek(w, next);
    if (to && (to->mask & IN_MOVED_TO) && to->cookie == from->cookie) {
        ev->name = name_of(to);
        next += sizeof *to + to->len;
    }
    w->pos = next;
}

static bool translate(cio_watch *w, struct inotify_event *e, cio_watch_event *ev) {
    *ev = (cio_watch_event){.is_dir = (e->mask & IN_ISDIR) != 0, .name = name_of(e)};
    size_t next = w->pos + sizeof *e + e->len;
    if (e->mask & IN_Q_OVERFLOW) {
        ev->kind = CIO_WATCH_OVERFLOW;
    } else if (e->mask & IN_MOVED_FROM) {
        ev->kind = CIO_WATCH_MOVE;
        pair_move(w, e, ev);
        return true;
    } else if (e->mask & IN_MOVED_TO) {
        ev->kind = CIO_WATCH_MOVE; /* moved in from elsewhere: no old name */
    } else if (e->mask & IN_CREATE) {
        ev->kind = CIO_WATCH_CREATE;
    } else if (e->mask & IN_MODIFY) {
        ev->kind = CIO_WATCH_MODIFY;
    } else if (e->mask & IN_CLOSE_WRITE) {
        ev->kind = CIO_WATCH_CLOSE_WRITE;
    } else if (e->mask & IN_DELETE) {
        ev->kind = CIO_WATCH_DELETE;
    } else if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        ev->kind = CIO_WATCH_GONE;
        ev->name = NULL;
        bool first = !w->gone;
        w->gone = true;
        w->pos = next;
        return first; /* one GONE record, however many kernel events say so */
    } else {
        w->pos = next;
        return false;
    }
    w->pos = next;
    return true;
}

int cio_watch_next(cio_watch *w, cio_watch_event *ev) {
    if (!w || !ev)
        return -EINVAL;
    for (;;) {
        struct inotify_event *e = peek(w, w->pos);
        if (e) {
            if (translate(w, e, ev))
                return 0;
            continue;
        }
        if (w->gone)
            return CIO_ESHUTDOWN;
        int r = fill(w);
        if (r < 0)
            return r;
        if (r == 0 && (r = cio_poll(w->fd, POLLIN, -1)) < 0)
            return r;
    }
}

void cio_watch_free(cio_watch *w) {
    if (!w)
        return;
    close(w->fd);
    free(w);
}
