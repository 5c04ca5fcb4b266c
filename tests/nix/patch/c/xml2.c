/* The stand-in for libxml2.so.2 (libxml2-2.13.8); it needs liblzma.so.5 and
 * finds it through its own RUNPATH, as Nix-built libraries do. */
extern int lzma_test_version(void);
int xmlCheckVersionNum(void) { return 21308 + lzma_test_version(); }
