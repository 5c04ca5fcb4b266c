/* A program with init/fini array entries of its own, using the init library. */
#include <stdio.h>
int peer_init_value(void);
__attribute__((constructor)) static void main_ctor(void) { puts("main init_array"); }
__attribute__((destructor)) static void main_dtor(void) { puts("main fini_array"); }
int main(void) {
  printf("main %d\n", peer_init_value());
  return 0;
}
