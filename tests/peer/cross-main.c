/* Freestanding, for other machines: a program needing the stub library. It cannot run here;
   readelf judges it. */
int stub_value(void);
void _start(void) {
  volatile int v = stub_value();
  (void)v;
  for (;;) {
  }
}
