/* An lxml-like extension module: needs libxml2.so.2, and liblzma.so.5
 * directly too. After stripping, patch-rpaths is given libxml2's lib dir but
 * not xz's, so it must find liblzma.so.5 through libxml2's RUNPATH.
 * lxml_check() == (21308 + 50064) + 50064 == 121436. */
extern int xmlCheckVersionNum(void);
extern int lzma_test_version(void);
int lxml_check(void) { return xmlCheckVersionNum() + lzma_test_version(); }
