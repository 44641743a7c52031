/* The "C" numeric locale, for formatting and parsing doubles whatever locale the host
 * application set (a decimal comma would break JSON). Any thread. */
#ifndef SR_UTIL_C_LOCALE_H
#define SR_UTIL_C_LOCALE_H

#include <locale.h>

/* Made once per process (pthread_once); (locale_t)0 when newlocale failed. */
locale_t sr_c_locale(void);

#endif
