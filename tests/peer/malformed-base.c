/* The small library the malformed-ELF cases mutate byte by byte: it needs libpeer.so (so a
   RUNPATH is to be written) and a versioned libc symbol (so it has .gnu.version_r). */
#include <unistd.h>
int peer_value(void);
int mal_value(void) { return peer_value() + (int)(getpid() * 0); }
