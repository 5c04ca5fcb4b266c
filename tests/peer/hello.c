/* A program needing libpeer.so: prints "peer 42". */
#include <stdio.h>
int peer_value(void);
int main(void) {
  printf("peer %d\n", peer_value() + 1);
  return 0;
}
