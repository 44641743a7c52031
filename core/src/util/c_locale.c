/* One C locale for the process, made under pthread_once: two threads formatting their first
 * doubles at once must not both create it (a data race, and a leaked locale). */
#include "util/c_locale.h"

#include <pthread.h>

static locale_t loc;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void make(void) { loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

locale_t sr_c_locale(void) {
  pthread_once(&once, make);
  return loc;
}
