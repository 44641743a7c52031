/* The User-Agent in the official clients' format (the TypeScript client's constructUserAgent,
 * the .NET client's Constants.UserAgentHeader):
 *   <product>/<major.minor> (<version>; <operating system>; <runtime>; <runtime version>)
 * e.g. "libsignalr/0.2 (0.2.0; Linux 6.1.0-18-amd64; Python; 3.11.2)". The product is ours,
 * not "Microsoft SignalR": the server logs which client it was. Non-browser official clients
 * send it as User-Agent only (X-SignalR-User-Agent is for browsers, which cannot set it). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

#include "api/internal.h"
#include "signalr/signalr.h"

static pthread_once_t os_once = PTHREAD_ONCE_INIT;
static char os_name[96] = "Unknown OS";
static char c_runtime[48] = "Unknown Runtime Version";

static void find_os(void) {
  struct utsname u;
  if (uname(&u) == 0) snprintf(os_name, sizeof os_name, "%.40s %.50s", u.sysname, u.release);
#if defined(__GLIBC__)
  snprintf(c_runtime, sizeof c_runtime, "glibc %.30s", gnu_get_libc_version());
#endif
}

/* binding: "Python 3.11.2", "Go go1.19", "Rust 0.2.0", or NULL/"" for the C library itself.
 * The first word is the runtime, the rest its version. ';' '(' ')' are replaced: they would
 * break the fields apart. */
void sr_format_user_agent(char *buf, size_t len, const char *binding) {
  pthread_once(&os_once, find_os);
  char runtime[64] = "C", version[96];
  snprintf(version, sizeof version, "%s", c_runtime);
  if (binding && *binding) {
    size_t word = strcspn(binding, " ");
    snprintf(runtime, sizeof runtime, "%.*s", (int)(word < 63 ? word : 63), binding);
    const char *rest = binding + word;
    while (*rest == ' ') rest++;
    snprintf(version, sizeof version, "%s", *rest ? rest : "Unknown Runtime Version");
  }
  for (char *p = runtime; *p; p++)
    if (*p == ';' || *p == '(' || *p == ')') *p = ' ';
  for (char *p = version; *p; p++)
    if (*p == ';' || *p == '(' || *p == ')') *p = ' ';
  snprintf(buf, len, "libsignalr/%d.%d (%s; %s; %s; %s)", SIGNALR_VERSION_MAJOR, SIGNALR_VERSION_MINOR,
           signalr_version(), os_name, runtime, version);
}
