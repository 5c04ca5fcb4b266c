/* libbottom.so: the end of a chain program -> libtop.so -> libbottom.so. */
int bottom_value(void) { return 45; }
