/* What it costs to hand work to an idle thread and get the answer back, on this machine:
 * the two hops a SQLite change makes at c=1 (an HTTP worker -> the writer thread -> back),
 * with nothing else in between (docs/performance.md, "SQLite: one writer connection, on a thread of its own, with group commit").
 *
 *   gcc -O2 -pthread -o /tmp/wake_latency bench/wake_latency.c && /tmp/wake_latency
 *
 * Two threads, each asleep on a condition variable (as the writer thread waits for work)
 * between hand-offs. Each round: the main thread sleeps IDLE_US (so that both threads are
 * idle, as between removals at c=1), then signals the worker and waits; the worker wakes,
 * notes the time and signals back. It prints, per hand-off, the median and p90 of:
 *   - there: from the signal to the worker running;
 *   - back: from the worker's signal to the main thread running;
 * and the CPU both threads spent per round trip (getrusage), the main thread's sleep and its
 * wake included. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

enum { ROUNDS = 5000 };
static const int IDLE_US[] = {0, 200, 1000};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t to_worker = PTHREAD_COND_INITIALIZER, to_main = PTHREAD_COND_INITIALIZER;
static int turn; /* 1: the worker's, 0: main's, -1: stop */
static double sent_at, woke_at, replied_at;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6;
}

static void *worker(void *unused) {
  (void)unused;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (turn == 0) pthread_cond_wait(&to_worker, &lock);
    if (turn < 0) break;
    woke_at = now();
    turn = 0;
    replied_at = now();
    pthread_cond_signal(&to_main);
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(void) {
  static double there[ROUNDS], back[ROUNDS];
  pthread_t thread;
  pthread_create(&thread, NULL, worker, NULL);
  for (size_t m = 0; m < sizeof IDLE_US / sizeof IDLE_US[0]; m++) {
    int idle = IDLE_US[m];
    struct timespec pause = {0, idle * 1000L};
    double cpu_before = cpu();
    for (int i = 0; i < ROUNDS; i++) {
      if (idle) nanosleep(&pause, NULL);
      pthread_mutex_lock(&lock);
      turn = 1;
      sent_at = now();
      pthread_cond_signal(&to_worker);
      while (turn != 0) pthread_cond_wait(&to_main, &lock);
      back[i] = (now() - replied_at) * 1e6;
      there[i] = (woke_at - sent_at) * 1e6;
      pthread_mutex_unlock(&lock);
    }
    double cpu_per_trip = (cpu() - cpu_before) / ROUNDS * 1e6;
    qsort(there, ROUNDS, sizeof there[0], by_value);
    qsort(back, ROUNDS, sizeof back[0], by_value);
    printf("idle %4d us between rounds: there p50 %5.1f p90 %5.1f us, back p50 %5.1f p90 %5.1f us, "
           "CPU %5.1f us per round trip (the sleep's own wake included)\n",
           idle, there[ROUNDS / 2], there[ROUNDS * 9 / 10], back[ROUNDS / 2], back[ROUNDS * 9 / 10],
           cpu_per_trip);
  }
  pthread_mutex_lock(&lock);
  turn = -1;
  pthread_cond_signal(&to_worker);
  pthread_mutex_unlock(&lock);
  pthread_join(thread, NULL);
  return 0;
}
