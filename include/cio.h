/*
 * cio — asyncio for C.
 *
 * One single-threaded event loop on io_uring runs many stackful tasks that do
 * network and file I/O without blocking each other. Work that would block the
 * loop (a blocking library call, a CPU-heavy computation) goes to a thread pool
 * or a fork-based process pool and comes back as a future.
 *
 * Every declaration follows the rules of the Conventions section below.
 */
#ifndef CIO_H
#define CIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================== */
/* Conventions                                                           */
/* ===================================================================== */

/* Every function below follows these rules unless its comment says otherwise.

   Results
   - Success: 0 or a non-negative value. Failure: a negative errno (-EINVAL,
     -ECANCELED, -ETIMEDOUT, ...) or a CIO_E* code (cio_strerror names each).
     A call that returns a pointer returns NULL and sets errno (positive)
     instead; one that returns a cio_handle returns .p == NULL and sets errno.
   - A yes/no result is bool (true: yes, done, removed), never an int 1/0.
   - A count is size_t (ssize_t when it may also be an error) wherever the
     count it is bounded by is a size_t argument.
   - A returned cio_future * carries one reference for the caller
     (cio_future_unref).

   Threads and tasks
   - Not thread-safe: call it on the thread that runs the loop, unless it
     says "Thread-safe".
   - "In a task": only from a task's body; elsewhere it returns -EPERM (debug
     mode also logs why).

   Names
   - Actions are cio_<object>_<verb>; getters are cio_<object>_<property>
     with no get_ (cio_loop_time, cio_loop_debug, cio_queue_size);
     cio_get_running_loop keeps asyncio's name.
   - The calls that put work on the running loop from outside a task have
     an explicit-loop twin named cio_loop_ + the name without cio_, the
     other arguments in the same order after the loop: call_soon,
     call_later, call_at, create_task(_with), future_new, add_reader,
     add_writer, remove_reader, remove_writer, add_signal_handler,
     remove_signal_handler. A twin also works before the loop runs, on the
     thread that will run it. Calls made in a task use that task's loop,
     and objects bound to a loop (servers, acceptors, intervals, watchers,
     iterators) are made on the running loop, from its tasks or callbacks.
   - X_with(opt, ...) is X with an options struct first (opt NULL: X's
     defaults) and X's other arguments after it, unless opt holds them (a
     pool's max_workers). Every _with has its plain X. In an options
     struct, zero means default.
   - Release: X_free(x) returns void, releases x's memory and first ends
     whatever x still does; NULL is a no-op. X_close(x) ends x's use (stops
     accepting or sending; may flush, and wait when in a task) and returns
     int: 0 or a negative errno (-EINVAL for NULL). A type with both is
     closed with X_close and released with X_free; a type with no X_free
     (cio_loop, cio_stream, cio_dgram) is released by its X_close.
   - A renamed function keeps its old name for one release as a deprecated
     alias (the compiler names the new one).

   Time: seconds, as double
   - NaN is -EINVAL (errno EINVAL) for every argument and options field
     that takes seconds.
   - Absolute times ("when", "deadline") are on the loop's monotonic clock,
     cio_loop_time().
   - A delay (cio_sleep, cio_call_later): <= 0 means as soon as possible:
     cio_sleep yields once, a callback runs after those already scheduled;
     likewise an absolute time already past (cio_call_at). INFINITY: never
     (the sleep lasts until cancelled, the callback until cancelled).
   - A timeout bounds a wait (cio_wait, cio_wait_for, cio_as_completed_new,
     cio_poll, cio_future_wait, cio_timeout_enter and the deadlines of
     cio_timeout_enter_at / cio_timeout_reschedule,
     cio_options.shutdown_timeout): negative or INFINITY means no limit; 0
     means do not wait: what is done now counts and the rest times out at
     once (what each call does on timeout: cio_wait_for cancels f). In an
     options struct 0 keeps meaning "the default".
   - A period (cio_interval_new) is positive and finite, else -EINVAL.
   - A timestamp (cio_utime) is seconds since the epoch; negative means now;
     INFINITY is -EINVAL. */

/* Marks the functions the shared library exports. */
#define CIO_API __attribute__((visibility("default")))
/* Marks a name kept for one release after a rename; the message names the
   new one. */
#define CIO_DEPRECATED(msg) __attribute__((deprecated(msg)))

/* The API version this header declares: major (incompatible changes)... */
#define CIO_VERSION_MAJOR 0
/* ...and minor (additions). */
#define CIO_VERSION_MINOR 1

/* ===================================================================== */
/* Errors                                                                */
/* ===================================================================== */

/* Codes beyond errno's range, returned negated like errno values. */
#define CIO_EBASE 10000
#define CIO_EWORKER (-(CIO_EBASE + 1))     /* process-pool worker died during the job */
#define CIO_EBROKEN (-(CIO_EBASE + 2))     /* barrier broken (aborted or a waiter cancelled) */
#define CIO_EINCOMPLETE (-(CIO_EBASE + 3)) /* EOF before the requested bytes (readexactly) */
#define CIO_ELIMIT (-(CIO_EBASE + 4))      /* stream read limit exceeded (readuntil/readline) */
#define CIO_ESHUTDOWN (-(CIO_EBASE + 5))   /* queue or executor shut down */
#define CIO_EUNAVAIL (-(CIO_EBASE + 6))    /* the asked-for backend cannot start here */
#define CIO_ELOOP (-(CIO_EBASE + 9))       /* the future belongs to another loop */
#define CIO_EGAI (-(CIO_EBASE + 100))      /* getaddrinfo error: CIO_EGAI + EAI_x (EAI_x < 0) */
#define CIO_ETLS (-(CIO_EBASE + 7))        /* TLS handshake or verification failed (cio-tls) */
#define CIO_ECURL (-(CIO_EBASE + 1000))    /* libcurl error: CIO_ECURL - CURLcode (cio-curl) */

/* Name of an error code (negative errno or CIO_E*); -ETIMEDOUT is "timed
   out" (every timeout, not only a connection's). An unknown code gives
   "unknown error N" in a buffer of the calling thread, valid until four more
   unknown codes have been named there. Never NULL. Thread-safe. */
CIO_API const char *cio_strerror(int err);

/* ===================================================================== */
/* Types                                                                 */
/* ===================================================================== */

/* An event loop (opaque): one per thread at most. */
typedef struct cio_loop cio_loop;
typedef struct cio_future cio_future; /* a task is a future */
typedef void *(*cio_fn)(void *arg);   /* task body / job: the shape of a pthread start routine */
typedef void (*cio_cb)(void *arg);    /* loop callback */

/* A scheduled callback. Opaque; passed by value; stays safe to cancel after
   the callback ran (the generation no longer matches). */
typedef struct cio_handle {
    void *p;
    uint64_t gen;
} cio_handle;

/* The loop's kernel interface. AUTO: io_uring when io_uring_setup works and
   the operations cio needs probe fine, else epoll (containers whose seccomp
   profile blocks io_uring, kernel.io_uring_disabled, old kernels). The
   environment variable CIO_BACKEND=io_uring|epoll|auto overrides AUTO.
   Every call behaves the same on both; debug mode logs which one runs and
   why. */
typedef enum { CIO_BACKEND_AUTO = 0, CIO_BACKEND_IO_URING = 1, CIO_BACKEND_EPOLL = 2 } cio_backend;

typedef struct cio_options {           /* zero means default */
    unsigned ring_entries;             /* default 256 */
    size_t stack_size;                 /* default 256 KiB of address space per task;
                                          only touched pages cost memory */
    int debug;                         /* also on when env CIO_DEBUG=1 */
    double slow_callback_duration;     /* default 0.1 s (debug mode); NaN: EINVAL */
    unsigned default_executor_workers; /* default min(32, ncpu + 4) */
    cio_backend backend;               /* default AUTO (see cio_backend) */
    double shutdown_timeout;           /* cio_run: seconds to wait for the default executor's
                                          jobs after main ended (default 300, asyncio's;
                                          negative or INFINITY: no limit); then a warning
                                          names the jobs still running and cio_run
                                          returns */
    double stack_trim_after;           /* a task parked this long (between one and two times
                                          it, in fact; a cio_sleep at least this long: as it
                                          parks) gives its stack pages back, copying the
                                          bytes in use aside until it runs again; free
                                          stacks beyond 64 give theirs back after idling as
                                          long (default 1 s; negative: never; NaN: EINVAL;
                                          env CIO_STACK_TRIM_AFTER overrides). See README */
    bool profile;           /* the profile table at loop close (also env CIO_PROFILE=1) */
    const char *trace_path; /* a Chrome trace written there (also env CIO_TRACE=file) */
} cio_options;

/* ===================================================================== */
/* Running                                                               */
/* ===================================================================== */

/* asyncio.run: creates a loop, runs main(arg) as a task until it ends, then
   cancels the tasks still alive and waits for them, shuts the default executor
   down (if one was created), and closes the loop. *result (may be NULL) gets
   main's return value. The default executor's jobs are waited for up to
   opt->shutdown_timeout (300 s); a job still running then is named in a
   warning and left to its thread. Returns 0, main's error (cio_fail), -ECANCELED,
   -EINTR when SIGINT cancelled main, or the error that kept the loop from
   starting (CIO_EUNAVAIL when the backend asked for cannot start, -EBUSY
   when a loop already runs here). */
CIO_API int cio_run(cio_fn main, void *arg, void **result);
/* cio_run with options (NULL: defaults). -EINVAL for a NaN shutdown_timeout
   or slow_callback_duration. */
CIO_API int cio_run_with(const cio_options *opt, cio_fn main, void *arg, void **result);

/* A new loop (opt may be NULL). NULL with errno set on failure (EINVAL for a
   NaN time in opt); when the
   backend asked for cannot start (io_uring blocked: EPERM, missing: ENOSYS)
   errno is the kernel's and debug mode says why. */
CIO_API cio_loop *cio_loop_new(const cio_options *opt);
/* "io_uring" or "epoll": the backend the loop runs on (NULL for NULL). */
CIO_API const char *cio_loop_backend_name(const cio_loop *loop);
/* Runs the loop until f is done. Returns f's error or 0 (its result stays in f).
   -EBUSY if this thread already runs a loop. */
CIO_API int cio_loop_run_until_complete(cio_loop *loop, cio_future *f);
/* Runs until cio_loop_stop(). */
CIO_API int cio_loop_run_forever(cio_loop *loop);
/* Asks the running loop to stop after the current batch of callbacks. Before
   run_forever it makes the next run do one iteration only. */
CIO_API void cio_loop_stop(cio_loop *loop);
/* Closes a loop that is not running: drops pending callbacks, ends tasks that
   never finished as cancelled (debug: "Task was destroyed but it is
   pending!"), shuts the default executor down without waiting, and releases
   the loop. The loop's memory stays valid while futures of it are referenced
   (closing again is then a no-op, and cio_call_soon_threadsafe returns
   -ESHUTDOWN); otherwise the pointer is invalid afterwards. -EBUSY while
   running. */
CIO_API int cio_loop_close(cio_loop *loop);
/* The loop running on this thread, or NULL. Thread-safe. */
CIO_API cio_loop *cio_get_running_loop(void);
/* Monotonic time of the loop's clock, in seconds. */
CIO_API double cio_loop_time(cio_loop *loop);
/* Whether debug mode is on for this loop (false for NULL). */
CIO_API bool cio_loop_debug(const cio_loop *loop);
/* Deprecated name of cio_loop_debug (getters have no get_). */
CIO_API bool cio_loop_get_debug(const cio_loop *loop) CIO_DEPRECATED("use cio_loop_debug");
/* The loop a future belongs to. */
CIO_API cio_loop *cio_future_loop(const cio_future *f);

/* ===================================================================== */
/* Callbacks                                                             */
/* ===================================================================== */

/* On the running loop. A handle whose p is NULL means failure, errno: EPERM
   (no running loop), EINVAL (cb NULL, a NaN time), ESHUTDOWN (loop
   closed), ENOMEM. Callbacks run in FIFO order, each exactly once. */
CIO_API cio_handle cio_call_soon(cio_cb cb, void *arg);
/* cb runs after delay seconds (<= 0: as soon as possible, after call_soon's;
   INFINITY: never, until cancelled). */
CIO_API cio_handle cio_call_later(double delay, cio_cb cb, void *arg);
/* cb runs at loop time `when` (already past: as soon as possible). */
CIO_API cio_handle cio_call_at(double when, cio_cb cb, void *arg);
/* The same on an explicit loop (its thread). */
CIO_API cio_handle cio_loop_call_soon(cio_loop *loop, cio_cb cb, void *arg);
/* cio_call_later on an explicit loop (its thread). */
CIO_API cio_handle cio_loop_call_later(cio_loop *loop, double delay, cio_cb cb, void *arg);
/* cio_call_at on an explicit loop (its thread). */
CIO_API cio_handle cio_loop_call_at(cio_loop *loop, double when, cio_cb cb, void *arg);
/* True if this cancelled a pending callback; a safe no-op (false) once it ran
   or was cancelled. */
CIO_API bool cio_handle_cancel(cio_handle h);
/* Schedules cb on loop from any thread. Neither allocates nor locks while
   fewer than 256 threadsafe calls are pending on the loop (each takes a
   preallocated slot), so a signal handler may call it within that bound;
   beyond it, it allocates. -ESHUTDOWN if the loop is closed, -ENOMEM.
   Thread-safe. */
CIO_API int cio_call_soon_threadsafe(cio_loop *loop, cio_cb cb, void *arg);

/* ===================================================================== */
/* Futures and tasks                                                     */
/* ===================================================================== */

/* Creates a task on the running loop; it starts when the caller next suspends
   (tasks start in creation order). NULL with errno on failure. */
CIO_API cio_future *cio_create_task(cio_fn fn, void *arg);
/* cio_create_task on an explicit loop. NULL with errno (EINVAL, ESHUTDOWN, ENOMEM). */
CIO_API cio_future *cio_loop_create_task(cio_loop *loop, cio_fn fn, void *arg);
/* Task options beyond the defaults. */
typedef struct cio_task_options {
    size_t stack_size; /* 0: the loop's */
    const char *name;  /* copied; NULL: "Task-N (function)" */
} cio_task_options;
/* cio_loop_create_task with options (NULL: defaults). NULL with errno. */
CIO_API cio_future *cio_loop_create_task_with(cio_loop *loop, const cio_task_options *opt,
                                              cio_fn fn, void *arg);
/* cio_loop_create_task_with on the running loop (opt NULL: defaults). NULL
   with errno: EPERM without a running loop, EINVAL, ENOMEM. */
CIO_API cio_future *cio_create_task_with(const cio_task_options *opt, cio_fn fn, void *arg);

/* A pending future on the running loop (NULL without one). */
CIO_API cio_future *cio_future_new(void);
/* cio_future_new on an explicit loop. NULL with errno (EINVAL, ENOMEM). */
CIO_API cio_future *cio_loop_future_new(cio_loop *loop);
/* Takes a reference. Thread-safe. */
CIO_API void cio_future_ref(cio_future *f);
/* Drops a reference. A failed future whose error nobody read is logged when
   its last reference goes ("Task exception was never retrieved"), in every
   mode, as asyncio does. Thread-safe: when another thread drops the last
   one, the future is released on its loop's thread. Debug mode aborts with a
   message on a reference dropped once too often (the future had none left,
   or a task that still runs lost the loop's). */
CIO_API void cio_future_unref(cio_future *f);

/* In a task: waits until f is done. 0 and *result (may be NULL), or f's error,
   or -ECANCELED (the caller was cancelled: f is cancelled too, as asyncio does;
   use cio_shield to protect it). Outside a task: -EPERM. -EDEADLK when f is
   the caller; CIO_ELOOP at once when f belongs to another loop (it could
   never wake this task; debug mode names both loops). */
CIO_API int cio_await(cio_future *f, void **result);
/* In a task: suspends for `seconds` (<= 0: like cio_yield; INFINITY: until
   cancelled). 0, -ECANCELED, or -EINVAL for NaN. */
CIO_API int cio_sleep(double seconds);
/* In a task: lets every other ready callback and task run once. 0 or -ECANCELED. */
CIO_API int cio_yield(void);
/* `return cio_fail(-EIO);` ends the current task with that error
   (cio_fail(-ECANCELED) ends it cancelled). Returns NULL. In an executor's
   job (cio_to_thread, a thread- or process-pool job) it makes the job's
   future fail with err the same way; the error wins over the value the
   job returns. */
CIO_API void *cio_fail(int err);

/* Requests cancellation. False if f is already done. A task gets -ECANCELED
   at its current or next suspension point (and the future it awaits is
   cancelled); it ends cancelled if it returns cio_fail(-ECANCELED), and
   normally if it ignores the request and returns a value. Each request is
   delivered once: after that -ECANCELED the task's calls work normally
   again, so its cleanup may await, sleep and do I/O. */
CIO_API bool cio_cancel(cio_future *f);
/* Completes a pending future. -EINVAL if f is done already (InvalidStateError). */
CIO_API int cio_future_set_result(cio_future *f, void *result);
/* Completes a pending future with an error. -EINVAL if f is done already. */
CIO_API int cio_future_set_error(cio_future *f, int err);
/* Called with the result when the future's last reference goes (owned results). */
CIO_API void cio_future_set_result_dtor(cio_future *f, void (*dtor)(void *result));
/* Whether f has a result, an error or was cancelled. */
CIO_API bool cio_future_done(const cio_future *f);
/* Whether f ended cancelled. */
CIO_API bool cio_future_cancelled(const cio_future *f);
/* 0 and *result, f's error, or -EAGAIN while pending. Marks the error retrieved. */
CIO_API int cio_future_result(cio_future *f, void **result);
/* The error without the result (0 while pending or on success). */
CIO_API int cio_future_error(cio_future *f);
/* cb(f, arg) runs from the loop (never inline) after f is done, in
   registration order; at once-scheduled if f is done already. */
CIO_API int cio_future_add_done_callback(cio_future *f, void (*cb)(cio_future *, void *),
                                         void *arg);
/* Removes every registration of (cb, arg); returns how many. */
CIO_API int cio_future_remove_done_callback(cio_future *f, void (*cb)(cio_future *, void *),
                                            void *arg);

/* The task running now, or NULL outside a task. No reference is added. */
CIO_API cio_future *cio_current_task(void);
/* Whether f is a task (rather than a plain future). */
CIO_API bool cio_future_is_task(const cio_future *f);
/* Copies name; NULL brings the default name back. */
CIO_API void cio_task_set_name(cio_future *task, const char *name);
/* The name set (valid until the next cio_task_set_name on the task or its
   release), or the default "Task-N (function)", as asyncio names a task and
   shows its coroutine: N counts the loop's tasks from 1, and the function's
   symbol is looked up when the name is asked for (left out when the binary
   is stripped). A default name is formatted into a buffer of the calling
   thread that stays valid until four more default names have been asked for
   there. The task is never modified. NULL for NULL or a plain future. */
CIO_API const char *cio_task_name(const cio_future *task);
/* Number of pending cancellation requests (asyncio Task.cancelling()). */
CIO_API int cio_task_cancelling(const cio_future *task);
/* Takes one request back (asyncio Task.uncancel()); returns the remaining count. */
CIO_API int cio_task_uncancel(cio_future *task);
/* Unfinished tasks of the loop: up to cap pointers into out (no references
   added); returns the total count. */
CIO_API size_t cio_all_tasks(cio_loop *loop, cio_future **out, size_t cap);

/* ===================================================================== */
/* Debug and logging                                                     */
/* ===================================================================== */

/* Log levels of cio_log and the log handler. */
enum { CIO_LOG_DEBUG, CIO_LOG_INFO, CIO_LOG_WARNING, CIO_LOG_ERROR };
/* Receives every message cio logs; the default writes
   "<time> cio <level>: <message>\n" to stderr. NULL restores the default.
   Process-wide. */
typedef void (*cio_log_fn)(int level, const char *msg, void *user);
/* Installs fn as the log handler (NULL: the default). */
CIO_API void cio_set_log_handler(cio_log_fn fn, void *user);
/* Logs through the handler (printf-style). Thread-safe. */
CIO_API void cio_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The seeds' async_timed decorator: runs fn(arg) in the current context
   (a task, an executor job, plain code) and logs "<name> started", "<name>
   finished in N.NNN s" at INFO. Returns fn's result. */
CIO_API void *cio_timed(const char *name, cio_fn fn, void *arg);

/* ===================================================================== */
/* Composition                                                           */
/* ===================================================================== */

/* cio_gather flag: wait for all and keep errors in the futures. */
#define CIO_RETURN_EXCEPTIONS 1
/* cio_wait's return_when (asyncio.FIRST_COMPLETED, ...). */
enum { CIO_FIRST_COMPLETED = 1, CIO_FIRST_EXCEPTION = 2, CIO_ALL_COMPLETED = 3 };

/* In a task: waits for all of fs. Without CIO_RETURN_EXCEPTIONS returns the
   first error as soon as it happens (the others keep running); with it, waits
   for all and returns 0. Results stay in each future. Cancelling the caller
   cancels every child; it then returns -ECANCELED once they have ended.
   -EINVAL (fs NULL with n > 0, a NULL entry), CIO_ELOOP (a future of another
   loop), -EPERM outside a task. */
CIO_API int cio_gather(cio_future **fs, size_t n, int flags);
/* A future that completes like cio_gather would return (its result is NULL);
   cancelling it cancels every child, and it then ends cancelled even with
   CIO_RETURN_EXCEPTIONS. Errors of the children are marked retrieved.
   NULL with errno (EINVAL, -CIO_ELOOP for a future of another loop, ENOMEM,
   EPERM without a running loop). */
CIO_API cio_future *cio_gather_future(cio_future **fs, size_t n, int flags);
/* In a task: waits until return_when is met or timeout passes (negative or
   INFINITY: none; 0: counts what is done now, without suspending).
   Never cancels anything. Returns how many of fs are done, -ECANCELED,
   -EINVAL (n == 0, bad return_when, a NULL entry, NaN), CIO_ELOOP (a future
   of another loop), -EPERM, -ENOMEM.
   CIO_FIRST_EXCEPTION counts errors, not cancellations (asyncio). */
CIO_API ssize_t cio_wait(cio_future **fs, size_t n, double timeout, int return_when);
/* In a task: awaits f for at most timeout seconds (negative or INFINITY: no
   limit; 0: f times out at once unless it is done); on timeout
   cancels f, waits until it has finished, and returns -ETIMEDOUT. If f still
   ends with a result (it completed in the same iteration, or ignored the
   cancellation) that result is returned with 0. Cancelling the caller cancels
   f, waits for it, and returns -ECANCELED. -EDEADLK if f is the caller;
   CIO_ELOOP if f belongs to another loop; -EINVAL for NaN. */
CIO_API int cio_wait_for(cio_future *f, double timeout, void **result);
/* A future that mirrors f but whose cancellation does not cancel f, so the
   outer await may be cancelled or time out while f runs on (await f later).
   A done f is returned itself (with a new reference). NULL with errno. */
CIO_API cio_future *cio_shield(cio_future *f);

/* asyncio.as_completed: an iterator over fs in completion order. The
   iterator holds a reference to each future until it is freed. */
typedef struct cio_as_completed cio_as_completed;
/* timeout (negative or INFINITY: none; 0: only what is done already) bounds
   the whole iteration. NULL with errno (EINVAL: NaN, fs NULL,
   -CIO_ELOOP for a future of another loop, ENOMEM, EPERM without a running
   loop). */
CIO_API cio_as_completed *cio_as_completed_new(cio_future **fs, size_t n, double timeout);
/* In a task: 1 and *f (no reference added; valid until the iterator is
   freed) = the next future to finish; 0 once every future was returned;
   -ETIMEDOUT at the deadline (nothing is cancelled; later calls may still
   return futures done by then); -ECANCELED; -EPERM. */
CIO_API int cio_as_completed_next(cio_as_completed *it, cio_future **f);
/* Releases the iterator; the futures are not cancelled. NULL is a no-op. */
CIO_API void cio_as_completed_free(cio_as_completed *it);

/* Timeout scopes (asyncio.timeout / timeout_at): a deadline over a block of
   code in the current task. At the deadline the task is cancelled; exiting
   the scope turns that cancellation into -ETIMEDOUT, and only in the scope
   whose deadline fired. Scopes nest. The struct lives on the caller's stack
   and every enter must be paired with an exit in the same task:

       cio_timeout to;
       int r = cio_timeout_enter(&to, 2.0);
       if (r == 0)
           r = cio_timeout_exit(&to, do_work());   // -ETIMEDOUT after 2 s

   Fields are private. */
typedef struct cio_timeout {
    cio_future *task;
    cio_handle timer;
    double when;
    int cancelling;
    int state;
} cio_timeout;
/* In a task: enters a scope that expires after delay seconds (negative or
   INFINITY: never, until rescheduled; 0: at the first suspension). 0, -EPERM
   outside a task, -EINVAL (scope NULL, NaN), -ENOMEM. */
CIO_API int cio_timeout_enter(cio_timeout *scope, double delay);
/* The same with an absolute deadline in cio_loop_time() seconds (negative or
   INFINITY: never). */
CIO_API int cio_timeout_enter_at(cio_timeout *scope, double when);
/* Moves the deadline (absolute loop time; negative or INFINITY: never; in the
   past: expires at once). -EINVAL once the scope expired or was exited, or
   for NaN. */
CIO_API int cio_timeout_reschedule(cio_timeout *scope, double when);
/* The deadline (absolute), or -1 for none. */
CIO_API double cio_timeout_when(const cio_timeout *scope);
/* Whether the deadline fired. */
CIO_API bool cio_timeout_expired(const cio_timeout *scope);
/* Leaves the scope; err is the block's outcome (0 or a negative error).
   Returns -ETIMEDOUT when this scope's deadline fired and err is -ECANCELED
   with no other cancellation pending on the task; otherwise err. -EINVAL if
   the scope is not entered or this is not its task. */
CIO_API int cio_timeout_exit(cio_timeout *scope, int err);

/* TaskGroup (asyncio.TaskGroup): tasks spawned into a group are waited for
   together; the first failure cancels the others (and interrupts the body
   by cancelling the parent task), and every failure is kept. */
typedef struct cio_task_group cio_task_group;
/* In a task, which becomes the group's parent. NULL with errno (EPERM
   outside a task, ENOMEM). */
CIO_API cio_task_group *cio_task_group_new(void);
/* Starts fn(arg) as a member task. *task (may be NULL) gets a reference to
   it. CIO_ESHUTDOWN once the group is aborting or has finished, -EINVAL,
   -ENOMEM. */
CIO_API int cio_task_group_spawn(cio_task_group *g, cio_fn fn, void *arg, cio_future **task);
/* In the parent task: waits until every member has ended. body_err is the
   outcome of the code between new and wait (0, or an error that aborts the
   group; -ECANCELED means the body was cancelled). Returns 0, the group's
   first error, or -ECANCELED when the parent was cancelled from outside (the
   members are cancelled and waited for). A cancellation the group itself
   requested on the parent is taken back. -EINVAL if not the parent or
   already waited. */
CIO_API int cio_task_group_wait(cio_task_group *g, int body_err);
/* Cancels every member without an error (what gh-108951 asks of asyncio): wait then returns
   0 unless a member failed. */
CIO_API void cio_task_group_cancel(cio_task_group *g);
/* Every failure (members in the order they failed, then the body's error),
   up to cap into errs; returns the total. The ExceptionGroup analogue. */
CIO_API size_t cio_task_group_errors(const cio_task_group *g, int *errs, size_t cap);
/* Releases the group; members still running are cancelled first. */
CIO_API void cio_task_group_free(cio_task_group *g);

/* ===================================================================== */
/* Synchronisation (not thread-safe; waits are in a task, return 0 or -ECANCELED) */
/* ===================================================================== */

/* Common to every primitive below: waiters wake in FIFO order and what a
   wake-up hands over (a lock, a permit, an item) is handed to that waiter
   directly, so nobody can barge in; a waiter cancelled after its wake-up
   keeps what it was given and sees the cancellation at its next suspension
   point. A call that has to wait needs a task (-EPERM otherwise). Freeing a
   primitive wakes its waiters with CIO_ESHUTDOWN. NULL objects give -EINVAL. */

/* Semaphore (asyncio.Semaphore): may be released above its initial value. */
typedef struct cio_semaphore cio_semaphore;
/* A semaphore with value permits. NULL with errno ENOMEM. */
CIO_API cio_semaphore *cio_semaphore_new(unsigned value);
/* Takes a permit, waiting while there is none. 0, -ECANCELED, CIO_ESHUTDOWN. */
CIO_API int cio_semaphore_acquire(cio_semaphore *s);
/* Gives a permit back; the oldest waiter gets it first. */
CIO_API void cio_semaphore_release(cio_semaphore *s);
/* Releases it; waiters get CIO_ESHUTDOWN. NULL is a no-op. */
CIO_API void cio_semaphore_free(cio_semaphore *s);
/* Whether acquire would wait. */
CIO_API bool cio_semaphore_locked(const cio_semaphore *s);
/* Permits available now. */
CIO_API size_t cio_semaphore_value(const cio_semaphore *s);

/* BoundedSemaphore: releasing above the initial value is an error. */
typedef struct cio_bounded_semaphore cio_bounded_semaphore;
/* A bounded semaphore with value permits. NULL with errno ENOMEM. */
CIO_API cio_bounded_semaphore *cio_bounded_semaphore_new(unsigned value);
/* Takes a permit, waiting while there is none. 0, -ECANCELED, CIO_ESHUTDOWN. */
CIO_API int cio_bounded_semaphore_acquire(cio_bounded_semaphore *s);
/* 0, or -EOVERFLOW (ValueError) when it would exceed the initial value. */
CIO_API int cio_bounded_semaphore_release(cio_bounded_semaphore *s);
/* Whether acquire would wait. */
CIO_API bool cio_bounded_semaphore_locked(const cio_bounded_semaphore *s);
/* Permits available now. */
CIO_API size_t cio_bounded_semaphore_value(const cio_bounded_semaphore *s);
/* Releases it; waiters get CIO_ESHUTDOWN. NULL is a no-op. */
CIO_API void cio_bounded_semaphore_free(cio_bounded_semaphore *s);

/* Lock (asyncio.Lock), FIFO-fair. */
typedef struct cio_lock cio_lock;
/* An unlocked lock. NULL with errno ENOMEM. */
CIO_API cio_lock *cio_lock_new(void);
/* Takes the lock, waiting (FIFO) while it is held. 0, -ECANCELED, CIO_ESHUTDOWN. */
CIO_API int cio_lock_acquire(cio_lock *l);
/* 0, or -EPERM when the lock is not held (RuntimeError). */
CIO_API int cio_lock_release(cio_lock *l);
/* Whether the lock is held. */
CIO_API bool cio_lock_locked(const cio_lock *l);
/* Releases it; waiters get CIO_ESHUTDOWN. NULL is a no-op. */
CIO_API void cio_lock_free(cio_lock *l);

/* Event (asyncio.Event). set wakes every waiter. */
typedef struct cio_event cio_event;
/* An event, not set. NULL with errno ENOMEM. */
CIO_API cio_event *cio_event_new(void);
/* Sets the event and wakes every waiter. */
CIO_API void cio_event_set(cio_event *e);
/* Clears it: later waits wait again. */
CIO_API void cio_event_clear(cio_event *e);
/* Whether the event is set. */
CIO_API bool cio_event_is_set(const cio_event *e);
/* Waits until the event is set (at once if it is). 0, -ECANCELED, CIO_ESHUTDOWN. */
CIO_API int cio_event_wait(cio_event *e);
/* Releases it; waiters get CIO_ESHUTDOWN. NULL is a no-op. */
CIO_API void cio_event_free(cio_event *e);

/* Condition (asyncio.Condition) over a lock: lock NULL makes one of its own
   (freed with the condition); a given lock must outlive it. */
typedef struct cio_condition cio_condition;
/* A condition. NULL with errno ENOMEM. */
CIO_API cio_condition *cio_condition_new(cio_lock *lock);
/* Takes the condition's lock (cio_lock_acquire). */
CIO_API int cio_condition_acquire(cio_condition *c);
/* Releases the condition's lock; -EPERM when it is not held. */
CIO_API int cio_condition_release(cio_condition *c);
/* Whether the condition's lock is held. */
CIO_API bool cio_condition_locked(const cio_condition *c);
/* With the lock held: releases it, waits for a notify, re-acquires it. The
   lock is held again on return, also on -ECANCELED (a notification that a
   cancelled waiter had received is passed on to the next one). -EPERM
   without the lock. */
CIO_API int cio_condition_wait(cio_condition *c);
/* Waits until pred(arg) is true (checked first, and after each wake-up). */
CIO_API int cio_condition_wait_for(cio_condition *c, bool (*pred)(void *arg), void *arg);
/* With the lock held: wakes up to n waiters; returns how many. -EPERM. */
CIO_API ssize_t cio_condition_notify(cio_condition *c, size_t n);
/* With the lock held: wakes every waiter; returns how many. -EPERM. */
CIO_API ssize_t cio_condition_notify_all(cio_condition *c);
/* Releases it (and its own lock); waiters get CIO_ESHUTDOWN. NULL is a no-op. */
CIO_API void cio_condition_free(cio_condition *c);

/* Barrier (asyncio.Barrier): reusable; a waiter cancelled while waiting, an
   abort, or a reset breaks the current round for everybody in it. */
typedef struct cio_barrier cio_barrier;
/* NULL with errno EINVAL when parties is 0. */
CIO_API cio_barrier *cio_barrier_new(unsigned parties);
/* The arrival index (0 .. parties-1) once parties tasks have arrived;
   CIO_EBROKEN when the barrier is or gets broken; -ECANCELED. */
CIO_API int cio_barrier_wait(cio_barrier *b);
/* Breaks the barrier until reset: current and future waiters get CIO_EBROKEN. */
CIO_API void cio_barrier_abort(cio_barrier *b);
/* Back to empty and unbroken; tasks waiting now get CIO_EBROKEN. */
CIO_API void cio_barrier_reset(cio_barrier *b);
/* The number of parties. */
CIO_API unsigned cio_barrier_parties(const cio_barrier *b);
/* Tasks waiting in the current round. */
CIO_API unsigned cio_barrier_n_waiting(const cio_barrier *b);
/* Whether the barrier is broken. */
CIO_API bool cio_barrier_broken(const cio_barrier *b);
/* Releases it; waiters get CIO_ESHUTDOWN. NULL is a no-op. */
CIO_API void cio_barrier_free(cio_barrier *b);

/* Queue (asyncio.Queue / LifoQueue / PriorityQueue) of void * items. */
typedef struct cio_queue cio_queue;
/* maxsize 0: unbounded. NULL with errno ENOMEM. */
CIO_API cio_queue *cio_queue_new(size_t maxsize);
/* Last in, first out. NULL with errno ENOMEM. */
CIO_API cio_queue *cio_queue_new_lifo(size_t maxsize);
/* Smallest first by cmp (< 0: a comes out before b). EINVAL without cmp. */
CIO_API cio_queue *cio_queue_new_priority(size_t maxsize, int (*cmp)(const void *a, const void *b));
/* Called on items the queue discards (shutdown immediate, free). */
CIO_API void cio_queue_set_drop(cio_queue *q, void (*drop)(void *item));
/* Waits while full. 0, CIO_ESHUTDOWN (also when shut down while waiting:
   the item was not queued), -ECANCELED. */
CIO_API int cio_queue_put(cio_queue *q, void *item);
/* Waits while empty. 0 and *item, CIO_ESHUTDOWN once shut down and empty,
   -ECANCELED. */
CIO_API int cio_queue_get(cio_queue *q, void **item);
/* Without waiting: -EAGAIN when full (QueueFull), CIO_ESHUTDOWN. */
CIO_API int cio_queue_put_nowait(cio_queue *q, void *item);
/* Without waiting: -EAGAIN when empty (QueueEmpty), CIO_ESHUTDOWN. */
CIO_API int cio_queue_get_nowait(cio_queue *q, void **item);
/* One item taken by get is processed. -EINVAL if called more times than
   items were put. */
CIO_API int cio_queue_task_done(cio_queue *q);
/* Waits until every item put has been marked done. */
CIO_API int cio_queue_join(cio_queue *q);
/* Python 3.13 shutdown: put fails from now on, blocked putters and getters
   get CIO_ESHUTDOWN, get drains what is left. immediate: the items are
   discarded as well (drop is called, join is released). */
CIO_API void cio_queue_shutdown(cio_queue *q, bool immediate);
/* Items in the queue. */
CIO_API size_t cio_queue_size(const cio_queue *q);
/* The bound given to new (0: unbounded). */
CIO_API size_t cio_queue_maxsize(const cio_queue *q);
/* Whether the queue holds no item. */
CIO_API bool cio_queue_empty(const cio_queue *q);
/* Whether put would wait (never for an unbounded queue). */
CIO_API bool cio_queue_full(const cio_queue *q);
/* Discards the items (drop) and wakes waiters with CIO_ESHUTDOWN. */
CIO_API void cio_queue_free(cio_queue *q);

/* ===================================================================== */
/* I/O in a task (suspends only the caller; cancellable)                 */
/* ===================================================================== */

/* Each call below is made in a task, suspends only that task, and returns
   >= 0 or a negative errno (-EPERM outside a task). Cancelling the task
   makes the call return -ECANCELED once the kernel has let go of the
   caller's buffers; a call that completed anyway returns its real result
   (bytes read are never lost) and the cancellation arrives at the next
   suspension point. File descriptors are opened close-on-exec. */
struct statx;
struct iovec;
struct addrinfo;

/* openat(AT_FDCWD, ...). */
CIO_API int cio_open(const char *path, int flags, mode_t mode);
/* offset -1: the file position (and for pipes and sockets). May be short. */
CIO_API ssize_t cio_read(int fd, void *buf, size_t len, off_t offset);
/* pwrite(2) (offset -1: the file position). May be short. */
CIO_API ssize_t cio_write(int fd, const void *buf, size_t len, off_t offset);
/* preadv(2) (offset -1: the file position). May be short. */
CIO_API ssize_t cio_readv(int fd, const struct iovec *iov, int iovcnt, off_t offset);
/* pwritev(2) (offset -1: the file position). May be short. */
CIO_API ssize_t cio_writev(int fd, const struct iovec *iov, int iovcnt, off_t offset);
/* Writes everything (short writes continue); on error returns what was
   written if anything was, else the error. */
CIO_API ssize_t cio_write_all(int fd, const void *buf, size_t len, off_t offset);
/* Outside a task: a plain close(2). The fd is closed on every path: a task
   being cancelled still closes it (the cancellation is seen at its next
   suspension point). Tasks of this loop waiting on fd (a read, recv, accept,
   poll...) wake up with -EBADF instead of waiting forever; requests on other
   fds lose nothing. -EBADF for a negative fd. */
CIO_API int cio_close(int fd);
/* fsync(2). */
CIO_API int cio_fsync(int fd);
/* fdatasync(2). */
CIO_API int cio_fdatasync(int fd);
/* statx of a path / of an open fd (STATX_BASIC_STATS). */
CIO_API int cio_stat(const char *path, struct statx *st);
/* statx of an open fd (STATX_BASIC_STATS). */
CIO_API int cio_fstat(int fd, struct statx *st);
/* unlink(2). */
CIO_API int cio_unlink(const char *path);
/* rmdir(2). */
CIO_API int cio_rmdir(const char *path);
/* rename(2). */
CIO_API int cio_rename(const char *from, const char *to);
/* mkdir(2). */
CIO_API int cio_mkdir(const char *path, mode_t mode);
/* The whole file into *data (malloc'd, NUL-terminated beyond the count; free
   it), read until EOF, so files whose size stat does not know (/proc, FIFOs)
   work too. Big files are read in parts, several in flight. Returns the
   size; on error *data is NULL. */
CIO_API ssize_t cio_read_file(const char *path, void **data);
/* Atomic replace: a temporary file beside path (a unique name, so that
   concurrent writers do not share one), written, fsync'ed, renamed over
   path, then the directory fsync'ed. Readers see the old or the new
   content, never a mix. On error the temporary file is removed. */
CIO_API int cio_write_file(const char *path, const void *data, size_t len);

/* socket(2) with SOCK_CLOEXEC; works outside a task too. */
CIO_API int cio_socket(int domain, int type, int protocol);
/* connect(2). -EINVAL when addr is NULL. */
CIO_API int cio_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* accept(2) (close-on-exec); -EINVAL when addr is given without len. */
CIO_API int cio_accept(int fd, struct sockaddr *addr, socklen_t *len);
/* Accept loops without one request per connection: an acceptor keeps one
   multishot accept armed on the listening socket fd and queues what it
   accepts until a task takes it. NULL with errno EPERM without a running
   loop, EINVAL, ENOMEM. The caller keeps fd (close it after the acceptor). */
typedef struct cio_acceptor cio_acceptor;
/* An acceptor on the listening socket fd (see above). */
CIO_API cio_acceptor *cio_acceptor_new(int fd);
/* In a task: the next accepted fd (close-on-exec), or an error once
   (-EMFILE, -ENFILE, -ENOBUFS: free some fds or wait a little, then call
   again and it re-arms), -ECANCELED, -EBUSY if another task is waiting in
   it already, -EINVAL for NULL. */
CIO_API int cio_acceptor_accept(cio_acceptor *a);
/* Stops accepting; fds accepted but not taken are closed. A task waiting in
   cio_acceptor_accept gets CIO_ESHUTDOWN. */
CIO_API void cio_acceptor_free(cio_acceptor *a);
/* May return fewer bytes than asked; 0 at EOF. An fd made non-blocking
   elsewhere still waits (unless flags has MSG_DONTWAIT). */
CIO_API ssize_t cio_recv(int fd, void *buf, size_t len, int flags);
/* May send fewer bytes than asked. Never raises SIGPIPE (-EPIPE instead). */
CIO_API ssize_t cio_send(int fd, const void *buf, size_t len, int flags);
/* Sends everything; on error returns what went out if anything did. */
CIO_API ssize_t cio_send_all(int fd, const void *buf, size_t len, int flags);
/* recvmsg(2); may return fewer bytes than asked, 0 at EOF. */
CIO_API ssize_t cio_recvmsg(int fd, struct msghdr *msg, int flags);
/* sendmsg(2); may send fewer bytes than asked, never raises SIGPIPE. */
CIO_API ssize_t cio_sendmsg(int fd, const struct msghdr *msg, int flags);
/* shutdown(2). */
CIO_API int cio_shutdown(int fd, int how);
/* Waits until fd is ready for events (POLLIN, POLLOUT...) so that other
   libraries' sockets can be driven from a task. Returns the ready events
   (POLLHUP/POLLERR included), or 0 when timeout seconds (negative or
   INFINITY: none) passed first; timeout 0 checks without suspending.
   -EINVAL for fd < 0, no events or NaN, -EBADF, -ECANCELED. */
CIO_API int cio_poll(int fd, int events, double timeout);
/* asyncio's add_reader / add_writer: cb(arg) runs from the loop once per
   iteration while fd is readable / writable (level-triggered, like an
   epoll-based loop), until removed. Adding again replaces the callback.
   -EPERM without a running loop, -EINVAL (fd < 0, cb NULL). Remove before
   closing fd. */
CIO_API int cio_add_reader(int fd, cio_cb cb, void *arg);
/* cio_add_reader on an explicit loop (-EPERM for NULL). */
CIO_API int cio_loop_add_reader(cio_loop *loop, int fd, cio_cb cb, void *arg);
/* Like cio_add_reader, while fd is writable. */
CIO_API int cio_add_writer(int fd, cio_cb cb, void *arg);
/* cio_add_writer on an explicit loop (-EPERM for NULL). */
CIO_API int cio_loop_add_writer(cio_loop *loop, int fd, cio_cb cb, void *arg);
/* True if a reader callback was removed, false if there was none (or no
   running loop). */
CIO_API bool cio_remove_reader(int fd);
/* cio_remove_reader on an explicit loop (false for NULL). */
CIO_API bool cio_loop_remove_reader(cio_loop *loop, int fd);
/* True if a writer callback was removed, false if there was none. */
CIO_API bool cio_remove_writer(int fd);
/* cio_remove_writer on an explicit loop (false for NULL). */
CIO_API bool cio_loop_remove_writer(cio_loop *loop, int fd);
/* asyncio's add_signal_handler: cb(arg) runs as a loop callback each time
   sig arrives (the signal is blocked in the loop's thread and read from a
   signalfd). Replaces an earlier handler. -EINVAL for signals that cannot
   be handled this way (SIGKILL, SIGSTOP, SIGSEGV...), -EPERM without a
   running loop. A signal the kernel hands to another thread (one the
   program started) is passed on to the loop's thread, so it never takes its
   default action there; the signal's previous action comes back when the
   handler is removed. While a handler for SIGINT is set, cio_run does not
   cancel its main task on Ctrl-C: the handler decides. One loop per signal:
   the last loop to add a handler for it gets the forwarded ones. */
CIO_API int cio_add_signal_handler(int sig, cio_cb cb, void *arg);
/* cio_add_signal_handler on an explicit loop, called on its thread (the
   signal is blocked in the calling thread). -EPERM for NULL. */
CIO_API int cio_loop_add_signal_handler(cio_loop *loop, int sig, cio_cb cb, void *arg);
/* True if a handler was removed; false if there was none (also for a
   signal number out of range, or without a running loop). */
CIO_API bool cio_remove_signal_handler(int sig);
/* cio_remove_signal_handler on an explicit loop (false for NULL). */
CIO_API bool cio_loop_remove_signal_handler(cio_loop *loop, int sig);
/* getaddrinfo in the loop's default executor (as asyncio does). 0 and *res
   (freeaddrinfo it), CIO_EGAI + EAI_x (e.g. CIO_EGAI + EAI_NONAME), or a
   negative errno (EAI_SYSTEM's errno, -ENOMEM, -ECANCELED: a cancelled call
   returns at once and the lookup's result is freed when it ends). *res is
   NULL on error. */
CIO_API int cio_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res);

/* ===================================================================== */
/* Streams, servers, name resolution, signals                            */
/* ===================================================================== */

/* asyncio's StreamReader and StreamWriter in one object over a connected
   socket. Reads are buffered (the buffer is allocated when data first
   arrives and shrinks again when a connection goes quiet, so an idle
   connection costs no buffer); writes are copied into a send buffer that
   the loop flushes in the background. One task may read at a time; any task
   may write. */
typedef struct cio_stream cio_stream;

#define CIO_STREAM_LIMIT (64 * 1024)      /* default readline/readuntil limit */
#define CIO_STREAM_HIGH_WATER (64 * 1024) /* default: drain waits above this... */
#define CIO_STREAM_LOW_WATER (16 * 1024)  /* ...until the send buffer is below this */

/* In a task: resolves host (a literal address resolves without a thread;
   a name goes to the default executor), connects to the first address that
   accepts, and returns a stream (TCP_NODELAY set). NULL with errno: the
   positive form of a cio code, so cio_strerror(-errno) names it (e.g.
   ECONNREFUSED, ECANCELED, EPERM outside a task, -(CIO_EGAI + EAI_x) for a
   resolver error). */
CIO_API cio_stream *cio_open_connection(const char *host, unsigned port);
/* Wraps a connected socket (blocking or not); the stream owns fd from now
   on (also on failure: NULL with errno ENOMEM closes it; EBADF for fd < 0).
   Made outside a loop, it joins the loop it is first used on. */
CIO_API cio_stream *cio_stream_new(int fd);
/* The socket. */
CIO_API int cio_stream_fd(const cio_stream *s);
/* readline/readuntil limit (0: CIO_STREAM_LIMIT). */
CIO_API void cio_stream_set_limit(cio_stream *s, size_t limit);
/* Send-buffer water marks for drain (high 0: the defaults; low > high: -EINVAL). */
CIO_API int cio_stream_set_write_limits(cio_stream *s, size_t high, size_t low);

/* In a task: up to n bytes into buf; waits only when nothing is buffered.
   Returns the count, 0 at EOF (or n == 0), or a negative errno
   (-ECONNRESET, -ECANCELED: no data is lost by a cancellation, -EBUSY
   while another task reads this stream, -EBADF once closed, -EINVAL for
   NULL arguments; the same for every read below). */
CIO_API ssize_t cio_stream_read(cio_stream *s, void *buf, size_t n);
/* In a task: exactly n bytes. Returns n, CIO_EINCOMPLETE when EOF came
   first, or another negative errno; *got (may be NULL) always gets the
   number of bytes stored in buf, also on error. */
CIO_API ssize_t cio_stream_readexactly(cio_stream *s, void *buf, size_t n, size_t *got);
/* In a task: bytes up to and including the first delim (dlen >= 1), copied
   into buf and NUL-terminated; returns their count (without the NUL).
   CIO_ELIMIT when no delimiter comes within the limit (the stream's, or
   cap - 1 when smaller): nothing is consumed, so cio_stream_read still
   gets the data. CIO_EINCOMPLETE at EOF before a delimiter (the partial
   data stays readable; 0 when the stream was at EOF with nothing left).
   -EINVAL for an empty delim or cap < 2. */
CIO_API ssize_t cio_stream_readuntil(cio_stream *s, const void *delim, size_t dlen, char *buf,
                                     size_t cap);
/* readuntil with "\n", except that at EOF the last unterminated line is
   returned as it is (0 once nothing is left), as asyncio's readline does. */
CIO_API ssize_t cio_stream_readline(cio_stream *s, char *buf, size_t cap);
/* In a task, zero copy: waits until some data is buffered and points *data
   at it; returns its length (0 at EOF). The bytes stay buffered until
   cio_stream_consume; the pointer is valid until the next call on s. */
CIO_API ssize_t cio_stream_peek(cio_stream *s, const void **data);
/* Drops n (clamped to what is buffered) bytes from the read buffer. */
CIO_API void cio_stream_consume(cio_stream *s, size_t n);
/* Whether EOF was received and nothing is left buffered. */
CIO_API bool cio_stream_at_eof(const cio_stream *s);

/* Copies n bytes into the send buffer and starts sending; never suspends.
   Returns 0, -ENOMEM, -EPIPE after write_eof/close, or the error that broke
   the connection earlier (-ECONNRESET, -EPIPE). Memory is bounded by
   calling cio_stream_drain. SIGPIPE is never raised. */
CIO_API int cio_stream_write(cio_stream *s, const void *data, size_t n);
/* In a task: flow control. Returns at once while the send buffer is at or
   below the high water mark; above it, waits until it is at or below the
   low one. 0, the connection's error, or -ECANCELED. */
CIO_API int cio_stream_drain(cio_stream *s);
/* Shuts the sending side down once the buffer has been sent (the peer
   reads EOF). Never suspends. 0 or the connection's error. */
CIO_API int cio_stream_write_eof(cio_stream *s);
/* Bytes written but not yet taken by the kernel. */
CIO_API size_t cio_stream_write_buffer_size(const cio_stream *s);
/* Closes the stream and releases it. In a task it first sends what is
   buffered (asyncio's close + wait_closed); if the task is cancelled while
   waiting, or outside a task, unsent data is dropped. Returns 0, the error
   that lost buffered data, or -ECANCELED. A reader parked in another task
   is woken with EOF; s is invalid once it has returned. On a server's
   stream it only closes the connection: the server releases s when the
   handler returns. */
CIO_API int cio_stream_close(cio_stream *s);

/* asyncio.start_server. */
typedef struct cio_server cio_server;
/* Runs in its own task per connection. The server closes the stream (after
   sending what is buffered) when the handler returns. */
typedef void (*cio_stream_handler)(cio_stream *s, void *arg);

/* Binds host:port (host NULL: every IPv4 interface; port 0: a free port,
   see cio_server_port), listens, and accepts in a task of the running
   loop until closed. Accept faults do not stop it: when out of file
   descriptors or memory it backs off (up to 1 s) and keeps serving. A name
   needs a task (the resolver runs in the default executor); a literal
   address or NULL does not. NULL with errno as for cio_open_connection
   (EADDRINUSE, ...). */
CIO_API cio_server *cio_start_server(const char *host, unsigned port, cio_stream_handler handler,
                                     void *arg);
/* Server options beyond the defaults (zero means default). */
typedef struct cio_server_options {
    int reuse_port; /* SO_REUSEPORT: several loops (cio_run_threads) each start a
                       server on the same port and the kernel spreads the
                       connections across them; every server of the port must
                       set it */
    int backlog;    /* listen backlog (0: 4096; < 0: -EINVAL) */
} cio_server_options;
/* cio_start_server with options (NULL: defaults). */
CIO_API cio_server *cio_start_server_with(const cio_server_options *opt, const char *host,
                                          unsigned port, cio_stream_handler handler, void *arg);
/* The bound port. */
CIO_API unsigned cio_server_port(const cio_server *srv);
/* Connections whose handler is still running. */
CIO_API size_t cio_server_connections(const cio_server *srv);
/* Stops accepting and closes the listening socket; running connections go
   on. Idempotent. 0, or -EINVAL for NULL. */
CIO_API int cio_server_close(cio_server *srv);
/* Cancels the handler task of every running connection (asyncio's
   close_clients); they end at their next suspension point. */
CIO_API void cio_server_close_clients(cio_server *srv);
/* In a task: waits until the server is closed and every connection has
   ended. 0 or -ECANCELED. */
CIO_API int cio_server_wait_closed(cio_server *srv);
/* In a task: serves until the server is closed. A cancellation closes the
   server and returns -ECANCELED. */
CIO_API int cio_server_serve_forever(cio_server *srv);
/* Closes the server, cancels its connections and releases it (its memory
   goes when the last connection has ended). */
CIO_API void cio_server_free(cio_server *srv);

/* ===================================================================== */
/* Channels between threads and tasks; RwLock, once-cell, interval       */
/* ===================================================================== */

/* Lagging broadcast receiver (see cio_bcast_recv). */
#define CIO_ELAGGED (-(CIO_EBASE + 12))

/* MPSC channel (Tokio's mpsc) of void * items from any number of senders on
   any threads (tasks of any loop, or plain threads) to one receiver (a task,
   or a plain thread). Sending and receiving take no lock while the channel
   neither is full nor is empty; a receiver that waits suspends only its task
   (a thread blocks), and is woken through its loop's inbox. Items of one
   sender arrive in the order it sent them. Thread-safe, except that only one
   party may be receiving at a time (-EBUSY otherwise). */
typedef struct cio_chan cio_chan;
/* capacity 0: unbounded (each item costs a small allocation); else sends
   wait while capacity items are queued. NULL with errno ENOMEM. */
CIO_API cio_chan *cio_chan_new(size_t capacity);
/* Called by cio_chan_free on the items still queued. */
CIO_API void cio_chan_set_drop(cio_chan *ch, void (*drop)(void *item));
/* Queues item; while the channel is full a task suspends (only itself) and
   a thread blocks until there is room (backpressure). 0, CIO_ESHUTDOWN once
   closed (also when closed while waiting: the item was not queued),
   -ECANCELED (a task, item not queued), -ENOMEM, -EINVAL. */
CIO_API int cio_chan_send(cio_chan *ch, void *item);
/* Without waiting: -EAGAIN when full, else as cio_chan_send. */
CIO_API int cio_chan_try_send(cio_chan *ch, void *item);
/* The next item, waiting while empty (a task suspends, a thread blocks).
   0 and *item; CIO_ESHUTDOWN once closed and drained; -ECANCELED (nothing
   is lost: an item not returned stays queued); -EBUSY, -EINVAL. */
CIO_API int cio_chan_recv(cio_chan *ch, void **item);
/* Without waiting: -EAGAIN when empty, else as cio_chan_recv. */
CIO_API int cio_chan_try_recv(cio_chan *ch, void **item);
/* Later sends fail with CIO_ESHUTDOWN, waiting senders are woken with it;
   the receiver drains what is queued, then gets CIO_ESHUTDOWN. Idempotent.
   0, or -EINVAL for NULL. */
CIO_API int cio_chan_close(cio_chan *ch);
/* Whether cio_chan_close was called (thread-safe). */
CIO_API bool cio_chan_closed(const cio_chan *ch);
/* Items queued (a snapshot while senders run). */
CIO_API size_t cio_chan_len(const cio_chan *ch);
/* 0 for an unbounded channel. */
CIO_API size_t cio_chan_capacity(const cio_chan *ch);
/* Closes ch, drops the queued items and releases it. Call it once no
   sender or receiver is inside a call on ch any more. */
CIO_API void cio_chan_free(cio_chan *ch);

/* Broadcast channel (Tokio's broadcast): every receiver gets every item sent
   after it subscribed. Senders never wait: the channel keeps the last
   capacity items, and a receiver that falls further behind is told how many
   it missed (CIO_ELAGGED) and goes on from the oldest item kept. Items are
   not copied: they are scalars or pointers that stay valid as long as
   receivers may read them. Thread-safe; receivers may be tasks of any loop
   or plain threads. */
typedef struct cio_bcast cio_bcast;
/* A receiver of a broadcast channel (cio_bcast_subscribe). */
typedef struct cio_bcast_rx cio_bcast_rx;
/* NULL with errno EINVAL (capacity 0), ENOMEM. */
CIO_API cio_bcast *cio_bcast_new(size_t capacity);
/* Returns the number of receivers it was sent to (>= 0), CIO_ESHUTDOWN
   once closed, -EINVAL. */
CIO_API int cio_bcast_send(cio_bcast *b, void *item);
/* A new receiver; it sees the items sent from now on. NULL with errno. */
CIO_API cio_bcast_rx *cio_bcast_subscribe(cio_bcast *b);
/* The receiver's next item, waiting while there is none. 0 and *item;
   CIO_ELAGGED with *lagged (may be NULL) = the number of items it missed
   (the next call returns the oldest item kept); CIO_ESHUTDOWN once closed
   and every item was read; -ECANCELED; -EINVAL. */
CIO_API int cio_bcast_recv(cio_bcast_rx *rx, void **item, uint64_t *lagged);
/* Without waiting: -EAGAIN when there is nothing new. */
CIO_API int cio_bcast_try_recv(cio_bcast_rx *rx, void **item, uint64_t *lagged);
/* Sends fail from now on; receivers drain, then get CIO_ESHUTDOWN. 0, or
   -EINVAL for NULL. */
CIO_API int cio_bcast_close(cio_bcast *b);
/* Releases a receiver (the items it has not read are no longer held for it). */
CIO_API void cio_bcast_rx_free(cio_bcast_rx *rx);
/* Closes b; its memory goes with the last receiver (receivers may be freed
   before or after). */
CIO_API void cio_bcast_free(cio_bcast *b);

/* Latest-value channel (Tokio's watch): a slot any thread may overwrite,
   and waiters that want the newest value, never a backlog. Each set bumps
   a version, so a waiter that passes the version it has seen misses no
   change and sees none twice. Values are scalars or pointers kept valid by
   the caller. Thread-safe; waiters are tasks of any loop or threads. */
typedef struct cio_latest cio_latest;
/* NULL with errno ENOMEM. */
CIO_API cio_latest *cio_latest_new(void *initial);
/* Stores value and wakes every waiter. 0, CIO_ESHUTDOWN once closed, -EINVAL. */
CIO_API int cio_latest_set(cio_latest *w, void *value);
/* The current value; *version (may be NULL) gets its version (0 for the
   initial value). NULL for a NULL w. */
CIO_API void *cio_latest_get(cio_latest *w, uint64_t *version);
/* Waits until the version differs from *seen, then stores the new version
   in *seen and the value in *value (may be NULL). 0, CIO_ESHUTDOWN when
   closed with nothing newer, -ECANCELED, -EINVAL. */
CIO_API int cio_latest_changed(cio_latest *w, uint64_t *seen, void **value);
/* Sets fail from now on; waiters get CIO_ESHUTDOWN once they have seen the
   last value. 0, or -EINVAL for NULL. */
CIO_API int cio_latest_close(cio_latest *w);
/* Call once nobody is inside a call on w. */
CIO_API void cio_latest_free(cio_latest *w);

/* Reader-writer lock for the tasks of one loop (not thread-safe, like the
   other primitives above), phase-fair: a reader arriving while a writer
   holds or waits queues behind it (no writer starvation), and a writer's
   release admits all the readers queued meanwhile before the next writer
   (no reader starvation). Waits return 0, -ECANCELED, CIO_ESHUTDOWN (freed),
   -EPERM outside a task (only when it has to wait). */
typedef struct cio_rwlock cio_rwlock;
/* A reader-writer lock, unlocked. NULL with errno ENOMEM. */
CIO_API cio_rwlock *cio_rwlock_new(void);
/* In a task: shared access, waiting behind a waiting writer. 0 or an error above. */
CIO_API int cio_rwlock_read_acquire(cio_rwlock *l);
/* -EPERM when no reader holds it. */
CIO_API int cio_rwlock_read_release(cio_rwlock *l);
/* In a task: exclusive access, waiting for the readers inside to leave. 0 or an error above. */
CIO_API int cio_rwlock_write_acquire(cio_rwlock *l);
/* -EPERM when no writer holds it. */
CIO_API int cio_rwlock_write_release(cio_rwlock *l);
/* Readers holding it now. */
CIO_API size_t cio_rwlock_readers(const cio_rwlock *l);
/* Whether a writer holds the lock. */
CIO_API bool cio_rwlock_write_locked(const cio_rwlock *l);
/* Releases the lock; tasks still waiting get CIO_ESHUTDOWN. */
CIO_API void cio_rwlock_free(cio_rwlock *l);

/* Once-cell for the tasks of one loop (Tokio's OnceCell). */
typedef struct cio_once cio_once;
/* An empty once-cell. NULL with errno ENOMEM. */
CIO_API cio_once *cio_once_new(void);
/* Whether the value is set; *value (may be NULL) gets it. */
CIO_API bool cio_once_get(const cio_once *o, void **value);
/* Sets the value without an initializer. -EEXIST when set or being
   initialized. */
CIO_API int cio_once_set(cio_once *o, void *value);
/* The value; if unset, the first caller runs init(arg, &value) in its own
   task (it may suspend) while later callers wait for it. init returns 0 or
   a negative errno: on failure (or when its task is cancelled) the cell
   stays empty, that caller gets the error and the next waiter runs its own
   init. 0 and *value (may be NULL), init's error, -ECANCELED, CIO_ESHUTDOWN
   (freed), -EPERM (has to wait outside a task), -EINVAL. */
CIO_API int cio_once_get_or_init(cio_once *o, int (*init)(void *arg, void **value), void *arg,
                                 void **value);
/* Releases the cell; tasks waiting in cio_once_get_or_init get CIO_ESHUTDOWN. */
CIO_API void cio_once_free(cio_once *o);

/* Interval (Tokio's interval): ticks at start + k * period, k = 0, 1, ...
   (the first tick is at once), on the loop's clock; the schedule is
   computed, not accumulated, so it never drifts. When the task comes back
   after a tick was missed: */
enum {
    CIO_TICK_BURST = 0, /* the missed ticks fire at once, then the schedule goes on */
    CIO_TICK_DELAY = 1, /* the next tick is a full period after now; the schedule shifts */
    CIO_TICK_SKIP = 2,  /* the missed ticks are dropped; the next is the next one due */
};
/* A fixed-rate ticker (Tokio's interval) on one loop. */
typedef struct cio_interval cio_interval;
/* On the loop's thread; starts now. NULL with errno EINVAL (period <= 0,
   NaN, infinite; unknown policy), EPERM without a running loop, ENOMEM. */
CIO_API cio_interval *cio_interval_new(double period, int policy);
/* In a task: waits for the next tick. 0 and *scheduled (may be NULL) = the
   tick's scheduled time (it never returns before it); -ECANCELED (the tick
   stays due), -EPERM, -EINVAL. */
CIO_API int cio_interval_tick(cio_interval *iv, double *scheduled);
/* The schedule restarts: the next tick is one period from now. */
CIO_API void cio_interval_reset(cio_interval *iv);
/* The interval's period in seconds. */
CIO_API double cio_interval_period(const cio_interval *iv);
/* Releases the interval; no task may be waiting in cio_interval_tick. */
CIO_API void cio_interval_free(cio_interval *iv);

/* ===================================================================== */
/* Datagram endpoints and Unix-socket streams                            */
/* ===================================================================== */

/* A UDP endpoint (asyncio's create_datagram_endpoint, used from tasks).
   Receives report truncation and the kernel's count of datagrams dropped
   for want of buffer space, so loss is visible instead of silent. */
typedef struct cio_dgram cio_dgram;
struct sockaddr_storage;
/* Binds to local_host:local_port (host NULL: the wildcard address; "::"
   for IPv6) and/or connects to remote_host:remote_port (NULL: unconnected).
   With a remote and no local address the kernel picks the local one; with
   neither, it binds the IPv4 wildcard on a free port. A host name needs a
   task (the resolver runs in the default executor). NULL with errno as for
   cio_open_connection (EADDRINUSE, EAFNOSUPPORT when local and remote
   families differ, ...). */
CIO_API cio_dgram *cio_dgram_open(const char *local_host, unsigned local_port,
                                  const char *remote_host, unsigned remote_port);
/* The socket (owned by d). */
CIO_API int cio_dgram_fd(const cio_dgram *d);
/* The bound port, or a negative errno. */
CIO_API int cio_dgram_local_port(const cio_dgram *d);
/* In a task: sends one datagram to the connected peer. Returns the bytes
   sent; -EDESTADDRREQ when not connected; -EMSGSIZE; -ECONNREFUSED when an
   earlier datagram was refused (ICMP), ... */
CIO_API ssize_t cio_dgram_send(cio_dgram *d, const void *buf, size_t len);
/* In a task: sends one datagram to `to` (NULL: the connected peer). */
CIO_API ssize_t cio_dgram_sendto(cio_dgram *d, const void *buf, size_t len,
                                 const struct sockaddr *to, socklen_t tolen);
/* In a task: receives one datagram into buf (at most cap bytes). Returns
   the bytes stored; *flags (may be NULL) gets MSG_TRUNC when the datagram
   was longer (the rest is lost); *from / *fromlen (may be NULL) the sender.
   -ECANCELED, -EINVAL. */
CIO_API ssize_t cio_dgram_recvfrom(cio_dgram *d, void *buf, size_t cap,
                                   struct sockaddr_storage *from, socklen_t *fromlen, int *flags);
/* cio_dgram_recvfrom without the sender's address (a connected endpoint). */
CIO_API ssize_t cio_dgram_recv(cio_dgram *d, void *buf, size_t cap, int *flags);
/* Datagrams the kernel dropped on this socket because its receive buffer
   was full, as of the last receive (SO_RXQ_OVFL; a wrapping counter). */
CIO_API uint32_t cio_dgram_drops(const cio_dgram *d);
/* Joins / leaves a multicast group (an address of the endpoint's family) on
   the interface ifindex (0: the kernel's choice). 0 or a negative errno
   (-EINVAL for a group that is not an address of that family). */
CIO_API int cio_dgram_join(cio_dgram *d, const char *group, unsigned ifindex);
/* Leaves a multicast group joined with cio_dgram_join. 0 or a negative errno. */
CIO_API int cio_dgram_leave(cio_dgram *d, const char *group, unsigned ifindex);
/* Closes the socket and releases d. */
CIO_API int cio_dgram_close(cio_dgram *d);

/* Unix-domain streams: the same cio_stream and cio_server as TCP. A path
   starting with '@' names a socket in the abstract namespace (no file;
   "@cio" is "\0cio"). */
/* In a task: connects to path. NULL with errno (ENOENT, ECONNREFUSED,
   ENAMETOOLONG, EINVAL for an empty path, EPERM outside a task). */
CIO_API cio_stream *cio_open_unix_connection(const char *path);
/* asyncio.start_unix_server: listens on path and serves each connection in
   its own task, as cio_start_server. A socket file left by a server that
   died (nobody accepts on it) is replaced; a live socket or any other file
   gives EADDRINUSE. The file is not removed when the server closes (unlink
   it then, or use an abstract name). cio_server_port returns 0. NULL with
   errno (EPERM without a running loop, EINVAL, ENAMETOOLONG, EADDRINUSE). */
CIO_API cio_server *cio_start_unix_server(const char *path, cio_stream_handler handler, void *arg);
/* In a task: sends len (>= 1) bytes with nfds (<= 253) descriptors attached
   (SCM_RIGHTS) on a Unix socket; use it on a raw socket, or on a stream's
   fd while the stream buffers nothing. Returns the bytes sent (the
   descriptors go with the first byte). -EINVAL, -ENOMEM, or the send's
   error. */
CIO_API ssize_t cio_unix_send_fds(int sock, const void *buf, size_t len, const int *fds,
                                  size_t nfds);
/* In a task: receives up to len bytes and the descriptors sent with them:
   *nfds is the room in fds on entry, the count stored on return (close-on-
   exec; those that did not fit are closed, never leaked). Returns the bytes
   received (0 at EOF), -EINVAL, -ENOMEM, or the receive's error. */
CIO_API ssize_t cio_unix_recv_fds(int sock, void *buf, size_t len, int *fds, size_t *nfds);

/* ===================================================================== */
/* Watching a directory (inotify)                                        */
/* ===================================================================== */

/* Record kinds (and, or-ed, the kinds cio_watch_new asks for). */
enum {
    CIO_WATCH_CREATE = 1 << 0,      /* a name appeared (file, directory, link) */
    CIO_WATCH_MODIFY = 1 << 1,      /* a file's content was written */
    CIO_WATCH_CLOSE_WRITE = 1 << 2, /* a file open for writing was closed: it is complete */
    CIO_WATCH_DELETE = 1 << 3,      /* a name was removed */
    CIO_WATCH_MOVE = 1 << 4,        /* renamed: old_name -> name (either NULL when moved out
                                       of / into the directory) */
    CIO_WATCH_ALL = (1 << 5) - 1,
    CIO_WATCH_OVERFLOW = 1 << 5, /* the kernel's queue overflowed: records were lost;
                                    rescan the directory (always reported) */
    CIO_WATCH_GONE = 1 << 6,     /* the watched path was deleted or moved away; next
                                    returns CIO_ESHUTDOWN from then on (always reported) */
};
/* One record. The names are relative to the watched directory and stay
   valid until the next cio_watch_next on the same watcher. */
typedef struct cio_watch_event {
    int kind;             /* one CIO_WATCH_* */
    bool is_dir;          /* the entry is a directory */
    const char *name;     /* NULL for OVERFLOW and GONE */
    const char *old_name; /* MOVE only */
} cio_watch_event;
/* A watcher of path (a directory: its entries, not recursively; or a
   file) for the kinds asked. Records queue in the kernel from now on. NULL
   with errno (EINVAL: NULL path, no kind or an unknown one; ENOENT,
   EACCES, ENOTDIR..., EMFILE / ENOSPC when inotify's limits are hit). */
typedef struct cio_watch cio_watch;
/* Watches path (a directory or a file) for the kinds of change asked (CIO_WATCH_*). */
CIO_API cio_watch *cio_watch_new(const char *path, int kinds);
/* In a task: the next record, waiting (only this task) until there is one.
   0 and *ev; CIO_ESHUTDOWN after GONE; -ECANCELED (nothing is lost); -EINVAL. */
CIO_API int cio_watch_next(cio_watch *w, cio_watch_event *ev);
/* The inotify descriptor (readable when records are waiting). */
CIO_API int cio_watch_fd(const cio_watch *w);
/* Stops watching and releases w; no task may be waiting in cio_watch_next. */
CIO_API void cio_watch_free(cio_watch *w);

/* ===================================================================== */
/* More file-system calls (in a task, on the default executor)           */
/* ===================================================================== */

/* Each call below is made in a task and runs its blocking syscall on the
   loop's default thread pool, suspending only the caller; it returns >= 0
   or a negative errno (-EPERM outside a task, -EINVAL for NULL arguments).
   Cancellation: a call whose job has not started returns -ECANCELED at
   once and the job never runs; a started one is waited for (so it never
   writes into a buffer that has gone) and long ones (scandir, copy_file)
   stop at their next chunk and return -ECANCELED; a job that completed
   anyway returns its real result and the cancellation comes at the next
   suspension point. */
struct statvfs;

/* statx without following a final symbolic link (STATX_BASIC_STATS). */
CIO_API int cio_lstat(const char *path, struct statx *st);
/* -EBADF for fd < 0; -EINVAL for a negative length. */
CIO_API int cio_ftruncate(int fd, off_t length);
/* fallocate(2) (mode 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | ...).
   -EINVAL for offset < 0 or len <= 0; -EOPNOTSUPP where the file system
   cannot. */
CIO_API int cio_fallocate(int fd, int mode, off_t offset, off_t len);
/* chmod(2) on the default executor: 0 or a negative errno. */
CIO_API int cio_chmod(const char *path, mode_t mode);
/* fchmod(2) on the default executor: 0 or a negative errno. */
CIO_API int cio_fchmod(int fd, mode_t mode);
/* (uid_t)-1 / (gid_t)-1 leave that id as it is. lchown does not follow a
   final symbolic link. */
CIO_API int cio_chown(const char *path, uid_t uid, gid_t gid);
/* cio_chown that does not follow a final symbolic link. */
CIO_API int cio_lchown(const char *path, uid_t uid, gid_t gid);
/* fchown(2) on the default executor: 0 or a negative errno. */
CIO_API int cio_fchown(int fd, uid_t uid, gid_t gid);
/* Access and modification times in seconds since the epoch (nanosecond
   resolution; negative: now). -EINVAL for NaN or INFINITY. */
CIO_API int cio_utime(const char *path, double atime, double mtime);
/* link(2) on the default executor: 0 or a negative errno (-EEXIST, -EXDEV...). */
CIO_API int cio_link(const char *oldpath, const char *newpath);
/* symlink(2) on the default executor: 0 or a negative errno. */
CIO_API int cio_symlink(const char *target, const char *linkpath);
/* The link's target, NUL-terminated in buf; returns its length.
   -ENAMETOOLONG when it does not fit in cap - 1 bytes; -EINVAL (not a link,
   cap 0). */
CIO_API ssize_t cio_readlink(const char *path, char *buf, size_t cap);
/* The canonical absolute path in *resolved (malloc'd; free it; NULL on
   error). */
CIO_API int cio_realpath(const char *path, char **resolved);
/* access(2): F_OK or R_OK | W_OK | X_OK; -EACCES / -ENOENT when not. */
CIO_API int cio_access(const char *path, int mode);
/* statvfs(3) of the file system holding path: 0 or a negative errno. */
CIO_API int cio_statfs(const char *path, struct statvfs *st);
/* The template ends in "XXXXXX" (else -EINVAL); it is rewritten in place
   with the name made. mkdtemp makes a directory (0700); mkstemp makes and
   opens a file (0600, O_RDWR | O_CLOEXEC) and returns its fd. */
CIO_API int cio_mkdtemp(char *tmpl);
/* See cio_mkdtemp: makes and opens a file; its fd, or a negative errno. */
CIO_API int cio_mkstemp(char *tmpl);

/* A directory entry: its name and type (DT_REG, DT_DIR, DT_LNK, ... from
   <dirent.h>; taken from the directory when the file system records it,
   else from statx without following links; DT_UNKNOWN only if that failed,
   e.g. the entry was removed meanwhile). */
typedef struct cio_dirent {
    const char *name;   /* the entry's name (inside the cio_scandir allocation) */
    unsigned char type; /* DT_* */
} cio_dirent;
/* The entries of path except "." and "..", in directory order, in one
   allocation: *entries (release with cio_scandir_free) and *n. Returns the
   count. -ENOTDIR, -ENOENT, -EACCES, -ECANCELED, -ENOMEM. */
CIO_API ssize_t cio_scandir(const char *path, cio_dirent **entries, size_t *n);
/* Releases what cio_scandir returned (n entries). */
CIO_API void cio_scandir_free(cio_dirent *entries, size_t n);

#define CIO_COPY_EXCL 1 /* cio_copy_file: fail with -EEXIST if dst exists */
/* Copies the regular file src to dst (created, or truncated unless
   CIO_COPY_EXCL) with src's permission bits. Only the data extents are
   copied, so holes stay holes (a sparse file stays sparse); copy_file_range
   lets the file system share or copy blocks itself, and plain reads and
   writes take over where it cannot (another file system, ...). On failure
   and on cancellation dst is removed. -EISDIR, -EINVAL (src not a regular
   file, unknown flags), -EEXIST, -ENOSPC, ... */
CIO_API int cio_copy_file(const char *src, const char *dst, int flags);

/* In a task: sends count bytes of in_fd (a file) from offset to out_fd (a
   socket or pipe) with sendfile(2), waiting through the loop whenever
   out_fd is full. out_fd is switched to non-blocking mode (as the loop's own
   sockets are). Returns the bytes sent (fewer at the end of the file); on an
   error or a cancellation after some bytes went out, their count, else
   the error (-ECANCELED, -EPIPE, -EBADF, -EINVAL for offset < 0). */
CIO_API ssize_t cio_sendfile(int out_fd, int in_fd, off_t offset, size_t count);
/* Other threads talking to a loop; one loop per core                    */
/* ===================================================================== */

/* What may cross loops (and threads): a cio_loop pointer (for the
   threadsafe calls below and cio_call_soon_threadsafe), futures for
   cio_future_ref / unref / wait and cio_cancel_threadsafe, executors used
   from one loop at a time, and plain data. What may not: a loop's tasks and
   futures for anything else (await, cancel, callbacks), its streams,
   servers, processes, sync primitives and queues. Debug mode aborts with a
   message naming the call when a future or task function is called from
   another thread while the loop runs, and when a task of another loop
   reads or writes a loop's stream. Send work to the owning loop instead
   (cio_run_coroutine_threadsafe, cio_call_soon_threadsafe). */

/* Any thread (also another loop's): runs fn(arg) as a task of loop. The
   caller owns one reference to a future (not the task itself) that ends as
   the task does; cio_future_wait it from a plain thread, or
   cio_cancel_threadsafe it (which cancels the task). If the loop closes
   before the task could end, the future ends with -ESHUTDOWN or cancelled.
   NULL and errno: ESHUTDOWN once the loop is closed, EINVAL, ENOMEM.
   Thread-safe. */
CIO_API cio_future *cio_run_coroutine_threadsafe(cio_loop *loop, cio_fn fn, void *arg);
/* From a thread that runs no loop: blocks until f is done (timeout negative
   or INFINITY: no limit; 0: a check). 0 and *result (may be NULL), f's error (-ECANCELED
   included; marked retrieved), -ETIMEDOUT (f goes on), -EINVAL (NULL,
   NaN), -EDEADLK on a thread that runs a loop (it would stall that loop).
   The loop pays one atomic exchange per completed future and a futex wake
   only when a thread sleeps on it. Thread-safe. */
CIO_API int cio_future_wait(cio_future *f, double timeout, void **result);
/* Any thread: asks f's loop to cancel f (cio_cancel there). True if the
   request was made (f was not done and its loop is open); it takes effect
   when the loop runs it. Thread-safe. */
CIO_API bool cio_cancel_threadsafe(cio_future *f);

/* One loop per core: runs main(arg) under cio_run on n loops, each on its
   own thread (n 0: one per online CPU), and returns when all have ended.
   Loops talk through cio_call_soon_threadsafe and
   cio_run_coroutine_threadsafe (lock-free, batched: a busy loop drains
   them without a syscall); servers may share a port with
   cio_server_options.reuse_port. opt as cio_run_with (NULL: defaults).
   Returns 0, or the error of the lowest-numbered loop that failed;
   results (may be NULL, n entries) get each main's result. -EINVAL for
   more than 1024 loops or no main, -EAGAIN/-ENOMEM when a thread cannot
   start (the loops already started are still waited for). */
CIO_API int cio_run_threads(unsigned n, const cio_options *opt, cio_fn main, void *arg,
                            void **results);
/* Inside cio_run_threads: the index (0 .. n-1) of the calling loop's
   thread; -1 on any other thread. */
CIO_API int cio_thread_index(void);

/* ===================================================================== */
/* Subprocesses (asyncio.create_subprocess_exec / _shell)                */
/* ===================================================================== */

/* A child process. The child is started with posix_spawn (vfork-like, safe
   in a program with threads), gets an empty signal mask and SIGPIPE/SIGXFSZ
   at their defaults, and inherits only fds 0-2 (every fd cio opens is
   close-on-exec). Its exit is observed through a pidfd on the loop: no
   SIGCHLD handler is installed, and other libraries' children are never
   reaped. PIPE ends are AF_UNIX stream sockets wrapped as cio_streams (they
   behave like pipes for the child; the parent gets the full stream API).

   Cancellation follows asyncio: cancelling a task in cio_process_wait or
   cio_process_communicate leaves the process running and waitable. To kill
   it on cancel, check for -ECANCELED, call cio_process_kill and wait again
   (a cancellation is delivered once, so that wait waits); see
   examples/tutorial/subprocess.c. */
typedef struct cio_process cio_process;
/* What a child's stdin, stdout and stderr are (cio_process_options). */
enum {
    CIO_STDIO_INHERIT = 0,
    CIO_STDIO_PIPE = 1,
    CIO_STDIO_DEVNULL = 2,
    CIO_STDIO_STDOUT = 3 /* stderr only */
};
typedef struct cio_process_options { /* zero means default (inherit everything) */
    int stdin_mode;                  /* CIO_STDIO_*: the child's stdin */
    int stdout_mode;                 /* its stdout */
    int stderr_mode;                 /* its stderr (CIO_STDIO_STDOUT: into stdout) */
    const char *cwd;                 /* NULL: the caller's */
    char *const *envp;               /* NULL: the caller's environment */
} cio_process_options;
/* Starts argv[0] (searched in PATH when it has no '/') with argv; opt may be
   NULL. PIPE streams join the loop they are first used on. Returns the
   process, or NULL and errno: ENOENT/EACCES/ENOEXEC... when the program (or
   cwd) cannot be used, reported by this call itself, never as a
   child exiting 127; EINVAL (argv NULL or empty, a bad mode); EMFILE, ENOMEM,
   EAGAIN. Never suspends. */
CIO_API cio_process *cio_subprocess_exec(const char *const *argv, const cio_process_options *opt);
/* /bin/sh -c cmd. */
CIO_API cio_process *cio_subprocess_shell(const char *cmd, const cio_process_options *opt);
/* The child's process id. */
CIO_API pid_t cio_process_pid(const cio_process *p);
/* The parent's end of a CIO_STDIO_PIPE, owned by p (NULL otherwise, or once
   communicate has closed stdin). cio_stream_write_eof / cio_stream_close on
   stdin give the child EOF. */
CIO_API cio_stream *cio_process_stdin(cio_process *p);
/* The parent's end of the child's stdout (CIO_STDIO_PIPE), owned by p, else NULL. */
CIO_API cio_stream *cio_process_stdout(cio_process *p);
/* The parent's end of the child's stderr (CIO_STDIO_PIPE), owned by p, else NULL. */
CIO_API cio_stream *cio_process_stderr(cio_process *p);
/* In a task: waits until the process has exited. 0 and *returncode (may be
   NULL): its exit status, or -signal when a signal ended it (asyncio's
   returncode; 255 if something else reaped it). Several tasks may wait at
   once. -ECANCELED (the process goes on and can be waited again), -EPERM
   outside a task, -EINVAL for NULL. */
CIO_API int cio_process_wait(cio_process *p, int *returncode);
/* The return code once cio_process_wait has seen the exit, else -EAGAIN
   (asyncio's returncode attribute being None). Never suspends. */
CIO_API int cio_process_returncode(const cio_process *p, int *returncode);
/* In a task: writes input (input_len bytes; only with a stdin PIPE, else
   -EINVAL unless input_len is 0) and closes stdin, reads stdout and stderr
   (when PIPEs) to EOF, all at once in tasks of their own so that megabytes
   both ways never deadlock, then waits for the exit. *out / *err (when
   those pointers are not NULL) get malloc'd, NUL-terminated copies of what
   was read (NULL for a stream that is not a PIPE) and *out_len / *err_len
   their sizes; free them. A child that stops reading its stdin is not an
   error (EPIPE is ignored, as asyncio does). Returns 0 once the process
   has exited (its returncode: cio_process_returncode, or a wait that then
   returns at once), a read error, -ENOMEM, -EINVAL, -EPERM outside a task,
   or -ECANCELED (the helpers are cancelled and have ended; the process goes
   on; the output read so far is dropped). */
CIO_API int cio_process_communicate(cio_process *p, const void *input, size_t input_len, char **out,
                                    size_t *out_len, char **err, size_t *err_len);
/* Sends sig through the pidfd (never to a recycled pid). -ESRCH once the
   process has been reaped, -EINVAL for a bad signal or NULL. */
CIO_API int cio_process_send_signal(cio_process *p, int sig);
/* SIGTERM. */
CIO_API int cio_process_terminate(cio_process *p);
/* SIGKILL. */
CIO_API int cio_process_kill(cio_process *p);
/* Closes the pipes (unsent stdin data is dropped; never suspends) and
   releases p. A process still running is not killed: a background reaper
   thread collects it when it exits, so it never stays a zombie. NULL is a
   no-op. */
CIO_API void cio_process_free(cio_process *p);

/* ===================================================================== */
/* Executors                                                             */
/* ===================================================================== */

/* An executor (thread pool, process pool, or your own; see cio_executor_ops). */
typedef struct cio_executor cio_executor;

/* A job that takes bytes and returns bytes (the only kind that crosses
   process and machine boundaries): runs in the worker, reads in_len bytes at
   in, writes at most out_cap bytes at out, and returns how many it wrote, or
   a negative errno (its future then fails with it). */
typedef ssize_t (*cio_bytes_fn)(const void *in, size_t in_len, void *out, size_t out_cap);
#define CIO_EOUTCAP (-(CIO_EBASE + 10)) /* a bytes job returned more than out_cap */

/* The executor interface: embed `cio_executor` as the first member of your
   own executor and point ops at a static table. cio_run_in_executor,
   cio_executor_shutdown and cio_executor_free dispatch through it, so user
   executors work everywhere a built-in pool does. */
typedef struct cio_executor_ops {
    /* The executor's kind ("thread_pool", ...), for people reading it. */
    const char *name;
    /* On the loop thread: start fn(arg), return a pending future of the
       running loop that is completed later on the loop thread (workers use
       cio_call_soon_threadsafe). NULL and errno (ESHUTDOWN after shutdown). */
    cio_future *(*submit)(cio_executor *ex, cio_fn fn, void *arg);
    /* concurrent.futures' shutdown(wait, cancel_futures). */
    int (*shutdown)(cio_executor *ex, bool wait, bool cancel_futures);
    /* Releases everything (after an implicit shutdown without waiting). */
    void (*destroy)(cio_executor *ex);
    /* Optional (NULL: cio_run_in_executor_bytes goes through submit, with
       the input and the result in one heap buffer, so that path is for
       executors whose workers share the caller's memory). On the loop
       thread: start the bytes job fn(in, in_len, out, out_cap) on a copy of
       in made before returning, and return a pending future of the running
       loop completed with cio_future_set_bytes (or an error). fn, in_len and
       out_cap have been checked. NULL and errno. */
    cio_future *(*submit_bytes)(cio_executor *ex, cio_bytes_fn fn, const void *in, size_t in_len,
                                size_t out_cap);
} cio_executor_ops;

/* The base of every executor; ops is its table. */
struct cio_executor {
    /* The executor's operations. */
    const cio_executor_ops *ops;
};

/* cio_run_in_executor(ex, fn, arg): ex NULL means the loop's default thread
   pool (created on first use). The future is completed on the loop thread. */
CIO_API cio_future *cio_run_in_executor(cio_executor *ex, cio_fn fn, void *arg);
/* Runs the bytes job fn on ex (NULL: the default thread pool). in (may be
   NULL when in_len is 0) is copied before the call returns; the result
   buffer has room for out_cap bytes. The thread pool copies in once into a
   buffer that also holds the result; the process pool puts both in cio_shm
   (the workers read and write it in place: no pipe carries the payload).
   The future ends with the result bytes (read them with cio_future_bytes),
   with the job's negative return value, with CIO_EOUTCAP when the job
   claims more than out_cap bytes (out_cap 0 means "no result bytes"), or
   as any job does (-ECANCELED, CIO_EWORKER). NULL and errno: EINVAL (fn
   NULL, in NULL with in_len > 0), EPERM without a running loop, ENOMEM,
   ESHUTDOWN. */
CIO_API cio_future *cio_run_in_executor_bytes(cio_executor *ex, cio_bytes_fn fn, const void *in,
                                              size_t in_len, size_t out_cap);
/* The result bytes of a done bytes job: 0, *data and *len (valid while f is
   referenced; *data is also f's result pointer). f's error if it failed,
   -EAGAIN while pending, -EINVAL when f is NULL or not completed with bytes. */
CIO_API int cio_future_bytes(cio_future *f, const void **data, size_t *len);
/* For executors that implement submit_bytes: a result buffer with room for
   cap bytes (16-aligned; NULL and errno ENOMEM), released with
   cio_bytes_free unless handed to cio_future_set_bytes. */
CIO_API void *cio_bytes_alloc(size_t cap);
/* Releases a buffer from cio_bytes_alloc that was not handed to a future. */
CIO_API void cio_bytes_free(void *buf);
/* Completes f with the first len bytes of buf (from cio_bytes_alloc, or
   another executor's result buffer); f owns buf from now on, also when this
   fails. -EINVAL (not such a buffer, len beyond its capacity, f done). */
CIO_API int cio_future_set_bytes(cio_future *f, void *buf, size_t len);
/* In a task: asyncio.to_thread. 0 and *result, or the job's error. Cancelling
   the caller does not stop the thread. */
CIO_API int cio_to_thread(cio_fn fn, void *arg, void **result);
/* A pool of up to max_workers threads (0: min(32, ncpu + 4), as
   concurrent.futures). Threads start on demand (an idle one is reused
   first) and exit after 60 s without work. Cancelling a queued job removes
   it (it never runs); a running job cannot be stopped: its future ends
   cancelled at once and the result is dropped. NULL and errno (ENOMEM). */
CIO_API cio_executor *cio_thread_pool_new(unsigned max_workers);
/* Zero means default. */
typedef struct cio_thread_pool_options {
    unsigned max_workers; /* 0: min(32, ncpu + 4) */
    /* Threads are named <prefix>_<n>, cut to 15 bytes (NULL: "cio-thread"). */
    const char *thread_name_prefix;
    void (*initializer)(void *); /* runs once in each thread before its first job */
    /* The initializer's argument. */
    void *initarg;
    double idle_timeout; /* seconds a thread waits for work before it exits (0: 60;
                            negative or INFINITY: no limit) */
} cio_thread_pool_options;
/* cio_thread_pool_new with options (NULL: all defaults). NULL and errno
   (EINVAL: a NaN idle_timeout; ENOMEM). */
CIO_API cio_executor *cio_thread_pool_new_with(const cio_thread_pool_options *opt);
/* concurrent.futures' shutdown: later submissions fail (cio_run_in_executor
   returns NULL, errno ESHUTDOWN); cancel_futures cancels the jobs that have
   not started; wait waits until every thread has finished its jobs and
   exited. Waiting in a task suspends only that task; outside a loop it
   blocks. May be called again. 0; -EINVAL when ex is NULL; -ECANCELED when
   the waiting task was cancelled (the shutdown itself stands). */
CIO_API int cio_executor_shutdown(cio_executor *ex, bool wait, bool cancel_futures);
/* Shuts ex down without waiting (if not done yet) and releases it. Jobs
   still running finish on their threads; their futures are still completed
   while their loop is open. NULL is a no-op. */
CIO_API void cio_executor_free(cio_executor *ex);

/* ===================================================================== */
/* Process pool and shared memory                                        */
/* ===================================================================== */

/* A fork-based pool of max_workers processes (0: the number of CPUs; at
   most 256, else EINVAL). The workers are forked by a fork server made with
   the pool (before the pool starts any thread), so they inherit no lock held
   by another thread and never touch the loop's ring. A job is (fn, arg): fn
   is a function of the program (the workers are forks of it), arg and the
   result are scalars (intptr_t) or pointers into cio_shm memory, valid in
   every process. Jobs go through cio_run_in_executor, from the thread of one
   loop at a time (the same pool may serve loops one after another). A
   worker ends with _exit: a job that prints through stdio should fflush.
   A worker starts with no running loop and no current task, also when the
   pool was made inside a task, so a job may run a loop of its own
   (cio_run) and return its result; jobs run on a stack as big as the main
   thread's (RLIMIT_STACK, 8 MiB when unlimited).

   Beyond asyncio:
   - CIO_EWORKER: a worker that dies during a job (a crash, a signal, exit)
     fails that job only; the worker is replaced, queued jobs go on, the pool
     never turns "broken". Debug mode logs the signal or exit status.
   - Cancelling a running job kills its worker (replaced too) and the future
     ends cancelled at once; a queued job never runs.
   - Short jobs are pipelined to the workers in batches (no pickling, no
     round trip per job); a job held behind a long-running one moves to a
     worker that falls idle, so it never waits for it.
   - Workers that cannot be had (fork fails, or each new worker dies before
     running anything, e.g. its initializer crashes) are asked for again
     with a growing pause (up to 1 s), never in a tight loop; while no worker
     is alive after three such failures in a row, queued jobs fail (the fork
     error, or CIO_EWORKER) instead of waiting forever.
   - cio_executor_shutdown(pool, wait, cancel_futures) is
     concurrent.futures' shutdown: later submissions fail with ESHUTDOWN;
     cancel_futures cancels the jobs not started; wait (in a task the loop
     keeps running meanwhile) returns when every job has ended and every
     worker and the fork server have been reaped (-ECANCELED if that waiting
     task is cancelled; the pool still winds down). cio_executor_free without
     waiting lets the jobs in flight end, then the processes are reaped in
     the background. No zombie remains either way.
   NULL and errno (EINVAL, ENOMEM, EAGAIN or another fork/socket error). */
CIO_API cio_executor *cio_process_pool_new(unsigned max_workers);
/* Options of cio_process_pool_new_with (zero means default). */
typedef struct cio_process_pool_options {
    unsigned max_workers;         /* 0: ncpu */
    void (*initializer)(void *);  /* runs once in each worker before its first job */
    void *initarg;                /* (a scalar or a pointer the workers inherit) */
    unsigned max_tasks_per_child; /* a worker is replaced after this many jobs handed to it,
                                     cancelled ones included (0: never) */
    size_t shm_size;              /* address space of the shared region, if this call is
                                     the one that creates it (0: 4 GiB, 256 MiB under
                                     Valgrind; at least 1 MiB); pages cost only once touched */
} cio_process_pool_options;
/* cio_process_pool_new with options (NULL: defaults). */
CIO_API cio_executor *cio_process_pool_new_with(const cio_process_pool_options *opt);

/* Memory visible at the same address in the parent and every process-pool
   worker: one shared region, reserved at the first cio_shm_alloc or with the
   first pool (whichever comes first, and before that pool forks), and
   released when the process exits (never earlier: pointers into it may be
   anywhere). Any process may allocate and free, also a worker (e.g. its
   result); a worker killed inside cio_shm_alloc/free does not block the
   others (a robust process-shared lock), at worst that block is lost.
   Blocks are 16-byte aligned. Freed blocks merge with free neighbours, so
   freed space serves a later request of any size; a block costs its size
   plus at most 78 bytes (a 16-byte header, rounding to 16, a leftover too
   small to split off). NULL and errno: EINVAL for size 0, ENOMEM when the
   region has no free run that big. Thread- and process-safe. */
CIO_API void *cio_shm_alloc(size_t size);
/* NULL, a pointer not from cio_shm_alloc and a second free are ignored.
   Big blocks give their pages back to the system. */
CIO_API void cio_shm_free(void *p);

/* ===================================================================== */
/* Profiling and tracing                                                 */
/* ===================================================================== */

/* Where the time goes. With env CIO_PROFILE=1 (or cio_options.profile) a
   loop counts, per task name (unnamed tasks: their function's symbol; tasks
   of one name summed), the steps its tasks ran on the loop and what their
   parked time waited for, and per executor its jobs' queue and run times;
   when the loop closes (the end of cio_run) it prints that table to stderr,
   with its utilisation and a line of advice per heavy row (CPU-bound on the
   loop: use a process pool; waiting on I/O: tasks are right). Steps are
   timed with rdtsc on x86-64 (clock_gettime(CLOCK_MONOTONIC) elsewhere); a
   step's time includes the loop's dispatch just before it. With env
   CIO_TRACE=file.json (or cio_options.trace_path) the loop writes a Chrome
   trace (Perfetto, chrome://tracing): steps on the loop's track, waits on a
   track per task, executor jobs on a track per worker. Off, each costs one
   branch per task switch. The calls below are for the loop's thread. */
typedef struct cio_profile_stats {
    unsigned long tasks; /* tasks counted under the name */
    unsigned long steps; /* their steps (runs between two suspensions) */
    double cpu;          /* seconds on the loop in all (wall time of the steps) */
    double longest;      /* the longest step, seconds */
    double blocked;      /* of cpu, seconds in blocking calls (off the CPU) */
    double io;           /* seconds parked on kernel I/O requests */
    double sleeping;     /* ... in cio_sleep */
    double sync;         /* ... on locks, queues, events, conditions, ... */
    double executor;     /* ... awaiting executor jobs (to_thread, pools) */
    double awaiting;     /* ... awaiting other tasks and futures */
} cio_profile_stats;

/* One executor's jobs, as its pool reported them (cio_profile_executor_stats). */
typedef struct cio_profile_exec_stats {
    unsigned long jobs; /* jobs completed */
    double queued;      /* seconds its jobs waited in its queue, in all */
    double running;     /* seconds they ran, in all */
    double longest;     /* the longest run, seconds */
} cio_profile_exec_stats;

/* Whether the loop profiles (or traces). */
CIO_API bool cio_profile_enabled(const cio_loop *loop);
/* Writes the profile table so far to fd. 0, -EINVAL (NULL loop, bad fd),
   -ENODATA (profiling off on this loop), -ENOMEM, or write's error. */
CIO_API int cio_profile_print(cio_loop *loop, int fd);
/* The counts of the tasks shown under name (a running task's current step
   is not counted yet). 0, -EINVAL, -ENODATA (off), -ENOENT (no such row). */
CIO_API int cio_profile_task_stats(cio_loop *loop, const char *name, cio_profile_stats *out);
/* An executor's jobs by its name ("thread pool", "process pool", ...); its
   pool must report job times. 0, -EINVAL, -ENODATA (off), -ENOENT (none yet). */
CIO_API int cio_profile_executor_stats(cio_loop *loop, const char *executor,
                                       cio_profile_exec_stats *out);

/* ===================================================================== */
/* Task-local context (asyncio's contextvars)                            */
/* ===================================================================== */

/* A context variable: define one per kind of value, usually as a global
       static cio_context_key request_id = CIO_CONTEXT_KEY("request_id");
   Its address is its identity; name is for people reading it. Values are
   void * and not owned: keep what they point to alive while any task or
   job may read it.
   Every task has a context: a new task starts with a copy of its
   creator's (the running task's, or outside a task the creating thread's,
   so cio_run's main task copies the caller's, as asyncio.run does). Setting
   a value in a task changes only that task's context: its parent, siblings
   and the tasks it already created keep theirs. Copying is lazy (copy on
   write): creating a task costs no more with a context than without.
   Jobs of a thread pool (cio_to_thread, cio_run_in_executor on the default
   or a cio_thread_pool_new pool) run in a copy of their submitter's context
   on the worker thread; the worker's own context is back to what it was
   after the job. Process-pool, bytes and user-executor jobs carry none (as
   asyncio's process pools). Outside a task (a loop callback, a plain
   thread, main before cio_run) get and set act on the calling thread's own
   context, which the tasks and jobs that thread creates copy. */
typedef struct cio_context_key {
    const char *name; /* for debugging */
} cio_context_key;
/* Initialiser of a cio_context_key. */
#define CIO_CONTEXT_KEY(name_)                                                                     \
    { .name = (name_) }
/* The current context's value for key, or NULL when unset (or key NULL). */
CIO_API void *cio_context_get(const cio_context_key *key);
/* Sets key to value in the current context (NULL removes it: an unset key
   reads NULL). *old (may be NULL) gets the previous value, which a caller
   restores with cio_context_set(key, old, NULL), as ContextVar.reset does.
   0, -EINVAL for a NULL key, -ENOMEM (the context is then unchanged). */
CIO_API int cio_context_set(const cio_context_key *key, void *value, void **old);

/* ===================================================================== */
/* Exception handler (asyncio's loop.set_exception_handler)              */
/* ===================================================================== */

/* What the loop reports to its exception handler. */
typedef enum cio_exception_kind {
    CIO_EXC_NEVER_RETRIEVED = 1, /* a failed future or task was released and nobody read its
                                    error ("Task exception was never retrieved") */
    CIO_EXC_CALLBACK = 2,        /* a callback reported an error it could not return
                                    (cio_loop_call_exception_handler) */
    CIO_EXC_PENDING_TASK = 3,    /* a task was still pending when its loop closed ("Task was
                                    destroyed but it is pending!") */
    CIO_EXC_SHUTDOWN = 4,        /* a task cio_run cancelled at its end failed otherwise */
} cio_exception_kind;

/* The handler's argument: asyncio's context dict as a struct. Pointers are
   valid during the call only. */
typedef struct cio_exception_context {
    cio_exception_kind kind; /* what happened */
    const char *message;     /* e.g. "Task exception was never retrieved" */
    int error;               /* the error (negative errno or CIO_E*), 0 when none */
    cio_future *future;      /* the task or future concerned, or NULL; being released for
                                CIO_EXC_NEVER_RETRIEVED: read it, do not reference it */
    const char *task_name;   /* cio_task_name(future) when it is a task, else NULL */
    cio_cb callback;         /* the callback that reported it (CIO_EXC_CALLBACK), or NULL */
    void *callback_arg;      /* its argument */
} cio_exception_context;

/* An exception handler: arg is the one given to cio_loop_set_exception_handler. */
typedef void (*cio_exception_handler)(cio_loop *loop, const cio_exception_context *ctx, void *arg);
/* Installs fn as loop's exception handler (NULL: the default again). It runs
   on the loop's thread (also while cio_loop_close ends pending tasks), except
   for a never-retrieved future whose last reference another thread dropped
   after its loop closed. */
CIO_API void cio_loop_set_exception_handler(cio_loop *loop, cio_exception_handler fn, void *arg);
/* The handler set (NULL: the default) and, when arg is not NULL, its arg. */
CIO_API cio_exception_handler cio_loop_exception_handler(const cio_loop *loop, void **arg);
/* The default handler (a custom one may call it): logs through cio_log the
   lines cio logs without a handler: at ERROR "Task exception was never
   retrieved: task '<name>' failed: <error>" (a future: "Future exception was
   never retrieved: future <ptr> failed: <error>"), "unhandled error in task
   '<name>' during shutdown: <error>"; in debug mode only, at WARNING, "Task
   was destroyed but it is pending! task '<name>'"; any other context as
   "<message>[: task '<name>' | : future <ptr>][, callback <fn>(<arg>)][: <error>]". */
CIO_API void cio_loop_default_exception_handler(cio_loop *loop, const cio_exception_context *ctx);
/* Hands ctx to loop's handler (loop NULL: the running loop's; no loop: the
   default handler), as asyncio's call_exception_handler: how a callback, which
   cannot return an error, reports one (kind CIO_EXC_CALLBACK). */
CIO_API void cio_loop_call_exception_handler(cio_loop *loop, const cio_exception_context *ctx);

#ifdef __cplusplus
}
#endif
#endif /* CIO_H */
