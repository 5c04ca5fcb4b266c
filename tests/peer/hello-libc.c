/* A program needing nothing but libc: prints "hello". */
#include <stdio.h>
int main(void) {
  puts("hello");
  return 0;
}
