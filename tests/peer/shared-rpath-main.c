/* Binds a_symbol_name from the shared-rpath library: prints "shared 42". */
#include <stdio.h>
int a_symbol_name(void);
int main(void) {
  printf("shared %d\n", a_symbol_name());
  return 0;
}
