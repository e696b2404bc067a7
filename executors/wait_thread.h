/* A blocking wait done for a task: both pools' shutdown(wait=true) in a
 * task must keep the loop running (completions arrive through it), so a
 * throwaway thread blocks instead and posts back. */
#ifndef CIO_WAIT_THREAD_H
#define CIO_WAIT_THREAD_H

/* In a task: runs block(arg) on a thread of its own, then done(arg) there
 * (e.g. drops the reference the caller took for it), and parks the task
 * until block has returned. Returns 0, or -ECANCELED at once when the task
 * is cancelled (the thread still runs block and done). When no thread can
 * be had, block and done run right here (the loop then waits too: better
 * than not waiting). */
int cio__wait_in_thread(void (*block)(void *), void (*done)(void *), void *arg);

#endif
