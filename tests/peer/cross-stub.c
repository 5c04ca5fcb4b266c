/* Freestanding, for other machines: the stub library a cross program needs, and the stand-in
   for that machine's loader (--interpreter must name a file of the target machine). */
int stub_value(void) { return 7; }
