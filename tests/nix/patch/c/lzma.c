/* The stand-in for liblzma.so.5 (xz-5.6.4). The host has a real
 * liblzma.so.5 in /lib, which has no such symbol: a module that loads the
 * host's instead of this one fails at RTLD_NOW, and ldd shows it outside the
 * store. (Not zlib: python3.11 itself loads the host's libz.so.1, and the
 * loader reuses an already loaded soname.) */
int lzma_test_version(void) { return 50064; }
