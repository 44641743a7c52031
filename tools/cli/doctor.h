/* `signalr doctor URL`: probes a hub the way the troubleshooting guide does (doctor.c). */
#ifndef SIGNALR_CLI_DOCTOR_H
#define SIGNALR_CLI_DOCTOR_H

/* argv[1] is "doctor". Returns the exit status: 0 usable, 1 something is wrong, 2 bad usage,
 * 130 interrupted. */
int signalr_doctor_main(int argc, char **argv);

#endif
