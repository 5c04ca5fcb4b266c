/* dlopen-run LIBRARY SYMBOL: loads LIBRARY with RTLD_NOW, calls SYMBOL as int(void) and
   prints the result. How a library under test is exercised (and a stripped copy of it). */
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: dlopen-run LIBRARY SYMBOL\n");
    return 2;
  }
  void *handle = dlopen(argv[1], RTLD_NOW);
  if (!handle) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  int (*fn)(void) = (int (*)(void))dlsym(handle, argv[2]);
  if (!fn) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    return 1;
  }
  printf("%d\n", fn());
  return 0;
}
