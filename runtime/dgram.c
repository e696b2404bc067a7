/* Datagram endpoints (asyncio's create_datagram_endpoint, as calls a task
 * makes rather than a protocol's callbacks): a UDP socket bound and/or
 * connected, whose receives report truncation (MSG_TRUNC) and the kernel's
 * count of datagrams dropped for want of buffer space (SO_RXQ_OVFL). */
#include "stream.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct cio_dgram {
    int fd;
    int family;
    bool connected;
    uint32_t drops; /* the kernel's counter as last reported */
};

/* One address of host:port (host NULL: the wildcard of family, which is
 * AF_INET unless a remote address chose another). */
static int resolve_one(const char *host, unsigned port, int family, struct sockaddr_storage *ss,
                       socklen_t *len) {
    if (!host) {
        memset(ss, 0, sizeof *ss);
        if (family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
            a->sin6_family = AF_INET6;
            a->sin6_port = htons((uint16_t)port);
            *len = sizeof *a;
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)ss;
            a->sin_family = AF_INET;
            a->sin_port = htons((uint16_t)port);
            *len = sizeof *a;
        }
        return port > 65535 ? -EINVAL : 0;
    }
    struct addrinfo *res = NULL;
    int r = cio__resolve(host, port, false, &res);
    if (r < 0)
        return r;
    struct addrinfo *ai = res;
    while (ai && family && ai->ai_family != family)
        ai = ai->ai_next;
    if (ai && ai->ai_addrlen <= sizeof *ss) {
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        *len = ai->ai_addrlen;
    } else {
        r = -EAFNOSUPPORT;
    }
    freeaddrinfo(res);
    return r;
}

static int setup(cio_dgram *d, const char *lhost, unsigned lport, const char *rhost,
                 unsigned rport) {
    struct sockaddr_storage local, remote;
    socklen_t llen = 0, rlen = 0;
    int family = 0, r;
    if (rhost) {
        if ((r = resolve_one(rhost, rport, 0, &remote, &rlen)) < 0)
            return r;
        family = remote.ss_family;
    }
    bool bind_it = lhost || lport || !rhost;
    if (bind_it) {
        if ((r = resolve_one(lhost, lport, family, &local, &llen)) < 0)
            return r;
        family = local.ss_family;
    }
    d->family = family;
    d->fd = cio_socket(family, SOCK_DGRAM, 0);
    if (d->fd < 0)
        return d->fd;
    int one = 1;
    setsockopt(d->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one); /* best effort */
    if (bind_it && bind(d->fd, (struct sockaddr *)&local, llen) < 0)
        return -errno;
    if (rhost) {
        /* A UDP connect only records the peer: it never waits. */
        if (connect(d->fd, (struct sockaddr *)&remote, rlen) < 0)
            return -errno;
        d->connected = true;
    }
    return 0;
}

cio_dgram *cio_dgram_open(const char *local_host, unsigned local_port, const char *remote_host,
                          unsigned remote_port) {
    cio_dgram *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fd = -1;
    int r = setup(d, local_host, local_port, remote_host, remote_port);
    if (r < 0) {
        if (d->fd >= 0)
            close(d->fd);
        free(d);
        errno = -r;
        return NULL;
    }
    return d;
}

int cio_dgram_fd(const cio_dgram *d) {
    return d ? d->fd : -EINVAL;
}

int cio_dgram_local_port(const cio_dgram *d) {
    if (!d)
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(d->fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

ssize_t cio_dgram_sendto(cio_dgram *d, const void *buf, size_t len, const struct sockaddr *to,
                         socklen_t tolen) {
    if (!d || (!buf && len))
        return -EINVAL;
    if (!to && !d->connected)
        return -EDESTADDRREQ;
    struct iovec iov = {(void *)buf, len};
    struct msghdr msg = {
        .msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &iov, .msg_iovlen = 1};
    return cio_sendmsg(d->fd, &msg, 0);
}

ssize_t cio_dgram_send(cio_dgram *d, const void *buf, size_t len) {
    return cio_dgram_sendto(d, buf, len, NULL, 0);
}

ssize_t cio_dgram_recvfrom(cio_dgram *d, void *buf, size_t cap, struct sockaddr_storage *from,
                           socklen_t *fromlen, int *flags) {
    if (!d || (!buf && cap))
        return -EINVAL;
    struct iovec iov = {buf, cap};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(uint32_t))];
    } ctl;
    struct msghdr msg = {.msg_name = from,
                         .msg_namelen = from ? sizeof *from : 0,
                         .msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = &ctl,
                         .msg_controllen = sizeof ctl};
    ssize_t n = cio_recvmsg(d->fd, &msg, 0);
    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
            memcpy(&d->drops, CMSG_DATA(c), sizeof d->drops);
    if (fromlen)
        *fromlen = from ? msg.msg_namelen : 0;
    if (flags)
        *flags = msg.msg_flags & MSG_TRUNC;
    return n;
}

ssize_t cio_dgram_recv(cio_dgram *d, void *buf, size_t cap, int *flags) {
    return cio_dgram_recvfrom(d, buf, cap, NULL, NULL, flags);
}

uint32_t cio_dgram_drops(const cio_dgram *d) {
    return d ? d->drops : 0;
}

static int membership(cio_dgram *d, const char *group, unsigned ifindex, bool join) {
    if (!d || !group)
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t len;
    int r = resolve_one(group, 0, d->family, &ss, &len);
    if (r < 0)
        return r == -EAFNOSUPPORT ? -EINVAL : r;
    if (d->family == AF_INET6) {
        struct ipv6_mreq m = {.ipv6mr_multiaddr = ((struct sockaddr_in6 *)&ss)->sin6_addr,
                              .ipv6mr_interface = ifindex};
        r = setsockopt(d->fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &m,
                       sizeof m);
    } else {
        struct ip_mreqn m = {.imr_multiaddr = ((struct sockaddr_in *)&ss)->sin_addr,
                             .imr_ifindex = (int)ifindex};
        r = setsockopt(d->fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m,
                       sizeof m);
    }
    return r < 0 ? -errno : 0;
}

int cio_dgram_join(cio_dgram *d, const char *group, unsigned ifindex) {
    return membership(d, group, ifindex, true);
}

int cio_dgram_leave(cio_dgram *d, const char *group, unsigned ifindex) {
    return membership(d, group, ifindex, false);
}

int cio_dgram_close(cio_dgram *d) {
    if (!d)
        return -EINVAL;
    int r = cio_close(d->fd);
    free(d);
    return r;
}
