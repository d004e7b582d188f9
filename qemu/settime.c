/*
 * Set the system clock of the QEMU test guest from a UTC date.
 *
 * Usage: settime YYYY-MM-DDTHH:MM:SS[Z]
 *
 * qemu/mkinitramfs.sh builds this as a static ARM binary with a 64-bit
 * time_t (-D_TIME_BITS=64). busybox "date -s" cannot be used for this on
 * armhf: Debian's armhf busybox has a 32-bit time_t and rejects dates after
 * 2038-01-19, and the kernel does not set the clock from the RTC past
 * that date on 32-bit ARM either.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct tm requested = {0};
    int parsed_length = -1;

    /* The date must end after the seconds or with a single "Z". */
    if (argc != 2 ||
        sscanf(argv[1], "%d-%d-%dT%d:%d:%d%n", &requested.tm_year, &requested.tm_mon,
               &requested.tm_mday, &requested.tm_hour, &requested.tm_min,
               &requested.tm_sec, &parsed_length) != 6 ||
        parsed_length < 0 ||
        (strcmp(argv[1] + parsed_length, "") != 0 && strcmp(argv[1] + parsed_length, "Z") != 0)) {
        fprintf(stderr, "usage: settime YYYY-MM-DDTHH:MM:SS[Z] (UTC)\n");
        return 2;
    }

    struct tm normalized = requested;
    normalized.tm_year -= 1900;
    normalized.tm_mon -= 1;
    time_t seconds = timegm(&normalized);
    /* timegm normalizes out-of-range fields (month 13 becomes January of the
     * next year), so a date that changes on the way is invalid. */
    if (seconds == (time_t)-1 || normalized.tm_year + 1900 != requested.tm_year ||
        normalized.tm_mon + 1 != requested.tm_mon || normalized.tm_mday != requested.tm_mday ||
        normalized.tm_hour != requested.tm_hour || normalized.tm_min != requested.tm_min ||
        normalized.tm_sec != requested.tm_sec) {
        fprintf(stderr, "settime: invalid date: %s\n", argv[1]);
        return 2;
    }

    /* Only the guest's /init may call this. The ARM binary also runs on a
     * build host with qemu-user (binfmt_misc), where, as root, it would set
     * the host's clock. */
    if (getppid() != 1) {
        fprintf(stderr, "settime: rejected: the parent process is not PID 1 (the guest's /init); this program sets the system clock and runs only in the QEMU test guest\n");
        return 1;
    }

    struct timespec now = {.tv_sec = seconds, .tv_nsec = 0};
    if (clock_settime(CLOCK_REALTIME, &now) != 0) {
        perror("settime: clock_settime");
        return 1;
    }

    /* Read the clock back, because busybox date cannot show it on armhf. */
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        perror("settime: clock_gettime");
        return 1;
    }
    struct tm current;
    char text[32];
    gmtime_r(&now.tv_sec, &current);
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &current);
    printf("settime: clock set to %s (%lld s since the epoch)\n", text, (long long)now.tv_sec);
    return 0;
}
