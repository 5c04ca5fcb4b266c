/* A psycopg-like extension module: needs libpq.so.5, and libm.so.6 from the
 * C library (cbrt of a volatile, so the compiler cannot fold the call away).
 * psycopg_check() == 150018 + 3 == 150021. */
#include <math.h>
extern int PQlibVersion(void);
int psycopg_check(void) {
    volatile double x = 27.0;
    return PQlibVersion() + (int) (cbrt(x) + 0.5);
}
