/* Which parked tasks give their stack pages back, and when (the mechanism is
 * stack_trim.c's).
 *
 * When: every parked task joins a FIFO of the loop (cio__task_park, cio__io)
 * stamped with the sweep epoch, and leaves it when woken. A sweep runs at most
 * every trim_after seconds (cio_options.stack_trim_after, env
 * CIO_STACK_TRIM_AFTER, default 1 s, negative: never), checked when the loop
 * wakes from the kernel and every 128 busy iterations (one clock read), and
 * trims the tasks parked since before the previous sweep: parked for between
 * one and two trim_after. Parking costs a list append, waking an unlink.
 * A task that parks in a sleep of trim_after or more is known to stay that
 * long: it joins eager_tasks instead and is trimmed once 64 such have
 * gathered (their pages still warm) or at the end of the iteration, so a
 * crowd of sleepers costs its trimmed size from the start, not after a
 * sweep period (the work is one trim per task that parked). Each sweep
 * also has the stack pool give back the pages of free stacks beyond the 64
 * most recently freed that stayed free a whole period (cio__stacks_release).
 *
 * Why this is safe, although memory on a parked stack is not only its task's:
 *  - Other code writing or reading it in user space (a waker filling a waitq
 *    waiter, a timer of a timeout scope or poll deadline, a child task handed
 *    a pointer to its parent's locals, the park's own cancel callback) would
 *    see zeros, or have its write overwritten by the copy-back. It cannot: the
 *    trimmed slot is a guard region, the access faults and the SIGSEGV handler
 *    restores the stack first (cio__stack_fault), on any thread.
 *  - The kernel does not fault, it fails with EFAULT. So no stack holding
 *    memory of an in-flight request is trimmed: each sweep (and eager pass)
 *    first pins every
 *    stack that holds an address of a pending cio__io request of any task of
 *    the loop (its own `char buf[4096]` in cio_recv, or a parent's buffer a
 *    child reads into), and a request submitted later first restores the
 *    stacks that hold its memory (cio__trim_touch_req). The request itself is
 *    copied into the task (io_req_copy), so that a wait on heap buffers (a
 *    stream's) can be trimmed.
 *  - Another thread could write into the slot between the copy and the guard
 *    (the write would be lost). Executor jobs are how tasks hand their stack
 *    to threads (cio_to_thread(fn, &local)): no sweep runs while a job of the
 *    loop is in flight. Plain threads that share a parked task's stack, and
 *    raw system calls on another task's parked stack, are not supported while
 *    trimming is on (they see EFAULT).
 *  - Without page-table guards (Linux < 6.13), or when our SIGSEGV handler is
 *    not the one installed, nothing is trimmed. */
#include "debug.h"
#include "loop.h"
#include "stack.h"
#include "task.h"

#include <sys/socket.h>
#include <sys/uio.h>

enum {
    BUSY_ITERATIONS = 128,   /* between clock reads of a busy loop */
    BATCH = CIO__TRIM_BATCH, /* tasks trimmed per iteration: a sweep never stalls the loop */
    KEEP_STACKS = 64,        /* free stacks that keep their pages, for the next tasks */
};

static cio__list *idle_list(cio_loop *loop, int which) {
    return which == CIO__IDLE_SWEEP   ? &loop->idle_tasks
           : which == CIO__IDLE_EAGER ? &loop->eager_tasks
                                      : &loop->woken_trimmed;
}

static void idle_link(cio__task *t, int which) {
    cio__list_push_back(idle_list(t->fut.loop, which), &t->idle_link);
    t->idle_list = (uint8_t)which;
}

void cio__task_idle_add(cio__task *t) {
    cio_loop *loop = t->fut.loop;
    if (loop->trim_after < 0 || t->idle_list != CIO__IDLE_NONE)
        return;
    t->idle_epoch = loop->trim_epoch;
    idle_link(t, t->trim_eager ? CIO__IDLE_EAGER : CIO__IDLE_SWEEP);
}

void cio__task_idle_del(cio__task *t) {
    if (t->idle_list == CIO__IDLE_NONE)
        return;
    cio__list_remove(idle_list(t->fut.loop, t->idle_list), &t->idle_link);
    t->idle_list = CIO__IDLE_NONE;
}

void cio__task_woke_trimmed(cio__task *t) {
    cio__task_idle_del(t);
    idle_link(t, CIO__IDLE_WOKEN);
}

void cio__task_io_begin(cio__task *t) {
    if (!t->io_listed) {
        cio__list_push_back(&t->fut.loop->io_tasks, &t->io_link);
        t->io_listed = true;
    }
}

void cio__task_io_end(cio__task *t) {
    if (t->io_listed) {
        cio__list_remove(&t->fut.loop->io_tasks, &t->io_link);
        t->io_listed = false;
    }
}

void cio__task_untrim(cio__task *t) {
    cio__list *woken = &t->fut.loop->woken_trimmed;
    cio__task *ts[BATCH];
    cio__stack *st[BATCH] = {0}; /* gcc -fsanitize cannot see that only st[0..n) is read */
    size_t n = 0;
    for (cio__task *u = t; u;
         u = n < BATCH && woken->head ? cio__list_entry(woken->head, cio__task, idle_link) : NULL) {
        cio__task_idle_del(u);
        if (u->trimmed && u->stack) {
            ts[n] = u;
            st[n++] = u->stack;
        }
    }
    cio__stack_untrim_many(st, n);
    for (size_t i = 0; i < n; i++)
        ts[i]->trimmed = false;
    t->trimmed = false;
}

/* ---- the memory a request names ---- */

typedef void (*mem_fn)(const void *p, void *arg);

static void each_iov(const struct iovec *iov, size_t n, mem_fn fn, void *arg) {
    for (size_t i = 0; iov && i < n; i++)
        fn(iov[i].iov_base, arg);
}

/* Calls fn for every address of r that the kernel reads or writes. The
 * vectors are read here, so their own memory goes first (a restore). */
static void each_mem(const cio__req *r, mem_fn fn, void *arg) {
    fn(r->addr, arg);
    fn(r->addr2, arg);
    if (r->op == CIO__OP_READV || r->op == CIO__OP_WRITEV) {
        each_iov(r->addr, r->len, fn, arg);
    } else if ((r->op == CIO__OP_RECVMSG || r->op == CIO__OP_SENDMSG) && r->addr) {
        const struct msghdr *m = r->addr;
        fn(m->msg_name, arg);
        fn(m->msg_control, arg);
        fn(m->msg_iov, arg);
        each_iov(m->msg_iov, m->msg_iovlen, fn, arg);
    }
}

static void pin(const void *p, void *arg) {
    if (!p)
        return;
    cio__stack *st = cio__stack_holding(p);
    if (st)
        st->pin_epoch = *(uint32_t *)arg;
}

static void touch(const void *p, void *arg) {
    cio__stack_touch(p);
    if (arg) /* a sweep is under way: its later batches must leave this stack */
        pin(p, arg);
}

void cio__trim_touch_req(cio_loop *loop, const cio__req *r) {
    if (cio__stack_any_trimmed() || loop->trim_pending)
        each_mem(r, touch, loop->trim_pending ? &loop->pin_epoch : NULL);
}

/* ---- the sweep ---- */

/* A new pass: the pins of the last one are forgotten, every request in
 * flight now pins again. */
static void pin_inflight(cio_loop *loop) {
    loop->pin_epoch++;
    cio__list_each(&loop->io_tasks, it, next) {
        cio__task *t = cio__list_entry(it, cio__task, io_link);
        if (t->io_pending && t->io_req)
            each_mem(t->io_req, pin, &loop->pin_epoch);
    }
}

/* Tasks gathered for one cio__stack_trim_many. */
typedef struct {
    cio__task *t[BATCH];
    cio__stack *st[BATCH];
    const void *sp[BATCH];
    size_t n;
} batch;

static void flush(batch *b) {
    int res[BATCH];
    cio__stack_trim_many(b->st, b->sp, b->n, res);
    for (size_t i = 0; i < b->n; i++)
        if (res[i] == 0) {
            b->t[i]->trimmed = true;
            b->t[i]->trims++;
        }
    b->n = 0;
}

static void trim_task(cio_loop *loop, batch *b, cio__task *t) {
    cio__stack *st = t->stack;
    if (!st || t->tstate != CIO__T_PARKED || st->pin_epoch == loop->pin_epoch)
        return;
    b->t[b->n] = t;
    b->st[b->n] = st;
    b->sp[b->n] = t->sp;
    if (++b->n == BATCH)
        flush(b);
}

/* Up to BATCH tasks of the sweep under way; it ends when none is due. A
 * thread may write into a parked stack while an executor job runs: no
 * trimming then (the next sweep tries again). */
static void trim_batch(cio_loop *loop) {
    batch b = {.n = 0};
    for (int n = 0; n < BATCH; n++) {
        cio__task *t = loop->idle_tasks.head
                           ? cio__list_entry(loop->idle_tasks.head, cio__task, idle_link)
                           : NULL;
        if (!t || (uint32_t)(loop->trim_epoch - t->idle_epoch) < 2 || loop->jobs_inflight) {
            loop->trim_pending = false;
            break;
        }
        cio__task_idle_del(t);
        trim_task(loop, &b, t);
    }
    flush(&b);
}

/* Our handler must be the one a fault reaches, else no trimming at all. */
static bool can_trim(cio_loop *loop) {
    return !loop->jobs_inflight && cio__stack_pte_guards() && cio__debug_segv_hooked();
}

static void sweep(cio_loop *loop) {
    if (!can_trim(loop))
        return;
    loop->trim_epoch++;
    loop->trim_pending = true;
    pin_inflight(loop);
    trim_batch(loop);
}

/* Every task that parked for trim_after or more in this iteration. When it
 * cannot be done now (a job in flight), they wait for the sweeps instead. */
void cio__trim_eager(cio_loop *loop) {
    bool now = can_trim(loop);
    batch b = {.n = 0};
    if (now)
        pin_inflight(loop);
    while (!cio__list_empty(&loop->eager_tasks)) {
        cio__task *t = cio__list_entry(loop->eager_tasks.head, cio__task, idle_link);
        cio__task_idle_del(t);
        if (now) {
            trim_task(loop, &b, t);
        } else {
            t->trim_eager = false;
            cio__task_idle_add(t);
        }
    }
    flush(&b);
}

/* Tasks that a sweep may trim, or free stacks it may release. */
static bool periodic_work(cio_loop *loop) {
    return !cio__list_empty(&loop->idle_tasks) ||
           (loop->trim_after >= 0 && cio__stacks_excess(&loop->stacks, KEEP_STACKS));
}

void cio__trim_check(cio_loop *loop, bool blocked) {
    if (!cio__list_empty(&loop->eager_tasks))
        cio__trim_eager(loop);
    if (loop->trim_pending) {
        trim_batch(loop);
        return;
    }
    if (!periodic_work(loop))
        return;
    if (!blocked && ++loop->trim_ticks < BUSY_ITERATIONS)
        return;
    loop->trim_ticks = 0;
    double now = cio__now();
    if (now < loop->trim_next)
        return;
    loop->trim_next = now + loop->trim_after;
    cio__stacks_release(&loop->stacks, KEEP_STACKS);
    if (!cio__list_empty(&loop->idle_tasks))
        sweep(loop);
}

double cio__trim_timeout(cio_loop *loop, double timeout) {
    if (loop->trim_pending)
        return 0;
    if (!periodic_work(loop))
        return timeout;
    double d = loop->trim_next - cio__now();
    if (d < 0)
        d = 0;
    return timeout < 0 || d < timeout ? d : timeout;
}
