/* A library needing libpeer.so: user_value() is 42. */
int peer_value(void);
int user_value(void) { return peer_value() + 1; }
