/* Numeric helpers that need C's `long double` and libc's strtod/strtold.
 *
 * Redis computes INCRBYFLOAT / HINCRBYFLOAT in `long double` (80-bit extended on x86_64) and
 * prints the result with "%.17Lf" minus trailing zeroes; doing the same arithmetic in f64 gives
 * different digits (1.1 + 2.2 is 3.3 there, 3.3000000000000003 in f64). Parsing goes through
 * strtod/strtold so hex floats, "inf" and range errors behave exactly as in Redis. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Redis string2ld(). Returns 1 on success. */
static int string2ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        ((errno == ERANGE) &&
         (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* Redis ld2string(..., LD_STR_HUMAN). Returns the length written, 0 on failure. */
static int ld2string_human(char *buf, size_t len, long double value) {
    size_t l = 0;
    if (isinf(value)) {
        if (len < 5) return 0;
        if (value > 0) { memcpy(buf, "inf", 3); l = 3; }
        else { memcpy(buf, "-inf", 4); l = 4; }
    } else {
        l = snprintf(buf, len, "%.17Lf", value);
        if (l + 1 > len) return 0;
        if (strchr(buf, '.') != NULL) {
            char *p = buf + l - 1;
            while (*p == '0') { p--; l--; }
            if (*p == '.') l--;
        }
        if (l == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; l = 1; }
    }
    buf[l] = '\0';
    return (int)l;
}

/* Adds `incr` to `cur` (both as Redis parses long doubles) and writes the human form to `out`.
 * Returns: >0 length written; -1 `cur` is not a float; -2 `incr` is not a float;
 * -3 result is NaN or infinite; -4 output does not fit. `cur` may be NULL (treated as 0). */
int cinnabar_ld_add(const char *cur, size_t curlen, const char *incr, size_t incrlen,
                    char *out, size_t outlen) {
    long double a = 0, b = 0;
    if (cur != NULL && !string2ld(cur, curlen, &a)) return -1;
    if (!string2ld(incr, incrlen, &b)) return -2;
    a += b;
    if (isnan(a) || isinf(a)) return -3;
    int l = ld2string_human(out, outlen, a);
    return l > 0 ? l : -4;
}

/* Parses a long double as Redis does and writes it back in human form (used when a float
 * value must be normalised, e.g. HINCRBYFLOAT's stored field). Same return codes. */
int cinnabar_ld_normalize(const char *s, size_t slen, char *out, size_t outlen) {
    long double a = 0;
    if (!string2ld(s, slen, &a)) return -1;
    int l = ld2string_human(out, outlen, a);
    return l > 0 ? l : -4;
}

/* A double widened to long double, in human form (Redis's addReplyHumanLongDouble, used for
 * GEOPOS and WITHCOORD). */
int cinnabar_ld_human(double v, char *out, size_t outlen) {
    return ld2string_human(out, outlen, (long double)v);
}

/* strtod over a byte slice, with Redis's getDoubleFromObject checks except NaN (callers differ
 * on NaN). Returns 1 on success. */
int cinnabar_strtod(const char *s, size_t slen, double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *eptr;
    double value;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtod(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || (size_t)(eptr - buf) != slen ||
        (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)))
        return 0;
    *out = value;
    return 1;
}

/* snprintf "%.17g", the reference our Rust formatter is tested against. */
int cinnabar_fmt_g17(double v, char *out, size_t outlen) {
    return snprintf(out, outlen, "%.17g", v);
}

/* snprintf with a caller-chosen precision for "%.*f" (GEO distances use %.4f). */
int cinnabar_fmt_fixed(double v, int prec, char *out, size_t outlen) {
    return snprintf(out, outlen, "%.*f", prec, v);
}

/* Redis's getTimeoutFromObjectOrReply for seconds: parse as long double, multiply by 1000,
 * round up (so 0.0001 is 1 ms, not "forever", and -0.0001 is 0) and convert to long long (an out-of-range conversion yields LLONG_MIN on x86_64, which Redis
 * then reports as "timeout is negative"). Returns 1 on success. */
int cinnabar_timeout_secs_to_ms(const char *s, size_t slen, long long *out) {
    long double v = 0;
    if (!string2ld(s, slen, &v)) return 0;
    *out = (long long)ceill(v * 1000.0);
    return 1;
}
