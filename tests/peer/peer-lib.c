/* libpeer.so: the library most scenario programs need (found through --libs). */
int peer_value(void) { return 41; }
