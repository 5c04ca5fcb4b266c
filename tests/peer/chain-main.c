/* A program needing libtop.so (which needs libbottom.so): prints "chain 46". */
#include <stdio.h>
int top_value(void);
int main(void) {
  int v = top_value();
  printf("chain %d\n", v);
  return v == 46 ? 0 : 1;
}
