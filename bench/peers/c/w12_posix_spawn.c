/* W12 in plain C: posix_spawn `true` and waitpid, 32 at once (whichever
 * child exits is replaced), 2,000 in all. The floor for cio's W12. */
#include "../../bench.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { AT_ONCE = 32 };

static void start(void) {
    char *argv[] = {"/bin/true", NULL};
    pid_t pid;
    BENCH_CHECK(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) == 0);
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 2000), started = 0, done = 0;
    double t0 = bench_now();
    for (; started < AT_ONCE && started < n; started++)
        start();
    while (done < n) {
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        BENCH_CHECK(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        done++;
        if (started < n) {
            start();
            started++;
        }
    }
    BENCH_RESULT("W12", "posix_spawn", (double)n / (bench_now() - t0), "processes/s");
    return 0;
}
