/* The stand-in for libpq.so.5 (postgresql-15.18-lib). */
int PQlibVersion(void) { return 150018; }
