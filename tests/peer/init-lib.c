/* A library with DT_INIT and DT_FINI pointing at functions of its own (-Wl,-init,peer_init
   -Wl,-fini,peer_fini, not at .init/.fini) and with init/fini array entries; each says when it
   runs. It needs libpeer.so, so it gets a RUNPATH. */
#include <stdio.h>
int peer_value(void);
void peer_init(void) { puts("lib DT_INIT"); }
void peer_fini(void) { puts("lib DT_FINI"); }
__attribute__((constructor)) static void lib_ctor(void) { puts("lib init_array"); }
__attribute__((destructor)) static void lib_dtor(void) { puts("lib fini_array"); }
int peer_init_value(void) { return peer_value() - 40; }
