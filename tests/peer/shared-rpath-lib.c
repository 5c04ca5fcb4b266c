/* A library exporting a_symbol_name, linked with an RPATH whose string the linker may merge
   with this symbol's name in .dynstr (the same string, a tail of it, or the name as a tail of
   the RPATH). Rewriting the RPATH must not touch the symbol's bytes. */
int a_symbol_name(void) { return 42; }
